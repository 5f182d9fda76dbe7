"""Convert the raw NYU Depth v2 labelled set to the NYUD-MT layout that ``NYUDMultiTaskDataset`` reads.

    python tools/dataset_converters/nyud.py nyu_depth_v2_labeled.mat classMapping40.mat splits.mat \\
        --out data/NYUDv2 [--normals DIR] [--raw-depth] [--full-frame] [--name-format img_{:04d}]

Inputs:
- ``nyu_depth_v2_labeled.mat`` (Silberman et al., MATLAB v7.3 = HDF5, read with h5py; ``pip install h5py``). MATLAB
  writes column-major, so h5py sees ``images`` as uint8 [N, 3, W, H], ``depths`` / ``rawDepths`` as float32
  [N, W, H] (metres) and ``labels`` as uint16 [N, W, H] (894 classes, 0 unlabelled); each is transposed back to H×W.
- ``classMapping40.mat`` (Gupta et al.; MATLAB v5, read with scipy): ``mapClass`` maps the 894 classes to 1..40.
- ``splits.mat`` (MATLAB v5): ``trainNdxs`` (795) and ``testNdxs`` (654), 1-based; the test split is NYUD-MT's val.

Output, in the NYUD-MT frame (rows 45:470, columns 40:600 of the 480x640 frame, see
``mmdtme.datasets.transforms.nyud_loading.NYUD_MT_CROP``; ``--full-frame`` keeps 480x640):
- ``images/NAME.png`` RGB; ``segmentation/NAME.png`` uint8 40-class label + 1 (0 unlabelled);
- ``depth/NAME.npy`` float32 metres (the in-painted ``depths``; ``--raw-depth``: ``rawDepths``, 0 = invalid);
- ``edge/NAME.png`` 0 / 255: semantic boundaries, i.e. pixels whose 40-class label differs from their right or
  lower neighbour (one pixel wide, unlabelled counts as a label);
- ``normals/NAME.png``: only with ``--normals DIR`` holding ``NAME.png`` RGB normals (``n = 2 v / 255 - 1``,
  425x560 or 480x640); the .mat has no normals, so without it the tool says so and writes none;
- ``gt_sets/{train,val}.txt``.

It needs numpy, Pillow, scipy, h5py and tqdm only (no torch), so it runs wherever the raw file is.

NAME is ``--name-format`` applied to the 1-based index + ``--name-offset`` (default ``img_5001`` ... ``img_6449``,
Gupta et al.'s naming).
"""
import argparse
import os
import os.path as osp
from typing import Dict, Optional, Sequence

import numpy as np
from PIL import Image

# The same frame as mmdtme.datasets.transforms.nyud_loading (a test checks they agree); repeated so that the
# converter needs only numpy, Pillow, scipy and h5py, not torch.
KINECT_FRAME = (480, 640)
NYUD_MT_FRAME = (425, 560)
NYUD_MT_CROP = (slice(45, 470), slice(40, 600))
FOLDERS = ('images', 'segmentation', 'depth', 'edge', 'gt_sets')


def crop_to_nyud_mt(array: np.ndarray) -> np.ndarray:
    """The NYUD-MT region (425x560) of a 480x640 Kinect-frame map."""
    return np.ascontiguousarray(array[NYUD_MT_CROP])


def label_boundaries(label: np.ndarray) -> np.ndarray:
    """``uint8`` H×W map, 255 where a pixel's label differs from its right or lower neighbour, else 0."""
    edge = np.zeros(label.shape, dtype=bool)
    edge[:, :-1] |= label[:, :-1] != label[:, 1:]
    edge[:-1, :] |= label[:-1, :] != label[1:, :]
    return edge.astype(np.uint8) * 255


def map_to_40(labels: np.ndarray, mapping: np.ndarray) -> np.ndarray:
    """894-class labels (0 unlabelled) -> 40-class labels 1..40 (0 unlabelled), ``uint8``."""
    if labels.size and int(labels.max()) > len(mapping):
        raise ValueError(f'label {int(labels.max())} is outside the class mapping of {len(mapping)} classes')
    table = np.concatenate([[0], mapping]).astype(np.uint8)
    return table[labels.astype(np.int64)]


def read_class_mapping(path: str) -> np.ndarray:
    from scipy.io import loadmat
    data = loadmat(path)
    if 'mapClass' not in data:
        raise KeyError(f'{path!r} has no mapClass (keys: {sorted(k for k in data if not k.startswith("__"))}); '
                       'give classMapping40.mat of Gupta et al.')
    mapping = np.asarray(data['mapClass']).ravel().astype(np.int64)
    if mapping.min() < 0 or mapping.max() > 40:
        raise ValueError(f'mapClass of {path!r} maps to {mapping.min()}..{mapping.max()}, not 0..40')
    return mapping


def read_splits(path: str, num_images: int) -> Dict[str, np.ndarray]:
    """``{'train': 0-based indices, 'val': 0-based indices}`` from splits.mat (``trainNdxs`` / ``testNdxs``)."""
    from scipy.io import loadmat
    data = loadmat(path)
    splits = {}
    for split, key in (('train', 'trainNdxs'), ('val', 'testNdxs')):
        if key not in data:
            raise KeyError(f'{path!r} has no {key}; give splits.mat of the NYU Depth v2 labelled set')
        indices = np.asarray(data[key]).ravel().astype(np.int64) - 1
        if indices.min() < 0 or indices.max() >= num_images:
            raise ValueError(f'{key} of {path!r} holds indices outside 1..{num_images}')
        splits[split] = indices
    return splits


def frame(array: np.ndarray, full_frame: bool) -> np.ndarray:
    return np.ascontiguousarray(array) if full_frame else crop_to_nyud_mt(array)


def read_normals(folder: str, name: str, full_frame: bool) -> np.ndarray:
    path = osp.join(folder, f'{name}.png')
    if not osp.isfile(path):
        raise FileNotFoundError(f'normals {path!r} is missing (--normals needs NAME.png for every sample)')
    normals = np.asarray(Image.open(path).convert('RGB'))
    shape = tuple(normals.shape[:2])
    if shape == KINECT_FRAME:
        return frame(normals, full_frame)
    if shape == NYUD_MT_FRAME and not full_frame:
        return normals
    raise ValueError(f'normals {path!r} are {shape[0]}x{shape[1]}; expected 480x640 or (without --full-frame) '
                     '425x560')


def convert(mat_path: str,
            mapping_path: str,
            splits_path: str,
            out: str,
            normals: Optional[str] = None,
            raw_depth: bool = False,
            full_frame: bool = False,
            name_format: str = 'img_{:04d}',
            name_offset: int = 5000,
            indices: Optional[Sequence[int]] = None,
            progress: bool = True) -> Dict[str, list]:
    """Write the NYUD-MT layout to ``out``; returns ``{'train': names, 'val': names}``.

    Args:
        indices: Convert only these 0-based images (a quick look); the split files list only them.
    """
    import h5py
    mapping = read_class_mapping(mapping_path)
    for folder in FOLDERS + (('normals', ) if normals else ()):
        os.makedirs(osp.join(out, folder), exist_ok=True)
    with h5py.File(mat_path, 'r') as mat:
        for key in ('images', 'labels', 'rawDepths' if raw_depth else 'depths'):
            if key not in mat:
                raise KeyError(f'{mat_path!r} has no {key!r}; give nyu_depth_v2_labeled.mat')
        images, labels = mat['images'], mat['labels']
        depths = mat['rawDepths' if raw_depth else 'depths']
        num_images = images.shape[0]
        if images.shape[1:] != (3, KINECT_FRAME[1], KINECT_FRAME[0]):
            raise ValueError(f'images of {mat_path!r} are {images.shape}; expected [N, 3, 640, 480]')
        splits = read_splits(splits_path, num_images)
        chosen = range(num_images) if indices is None else sorted(set(indices))
        names = {index: name_format.format(index + 1 + name_offset) for index in chosen}
        iterator = chosen
        if progress:
            from tqdm import tqdm
            iterator = tqdm(chosen, desc='NYUD-v2 -> NYUD-MT', unit='img')
        for index in iterator:
            name = names[index]
            image = frame(images[index].transpose(2, 1, 0), full_frame)
            label = frame(map_to_40(labels[index].T, mapping), full_frame)
            depth = frame(depths[index].T.astype(np.float32), full_frame)
            Image.fromarray(image).save(osp.join(out, 'images', f'{name}.png'))
            Image.fromarray(label).save(osp.join(out, 'segmentation', f'{name}.png'))
            np.save(osp.join(out, 'depth', f'{name}.npy'), depth)
            Image.fromarray(label_boundaries(label)).save(osp.join(out, 'edge', f'{name}.png'))
            if normals:
                Image.fromarray(read_normals(normals, name, full_frame)).save(osp.join(out, 'normals', f'{name}.png'))
    written = {split: [names[i] for i in split_indices if i in names] for split, split_indices in splits.items()}
    for split, split_names in written.items():
        with open(osp.join(out, 'gt_sets', f'{split}.txt'), 'w') as f:
            f.write(''.join(f'{name}\n' for name in split_names))
    return written


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Convert nyu_depth_v2_labeled.mat to the NYUD-MT layout')
    parser.add_argument('mat', help='nyu_depth_v2_labeled.mat (MATLAB v7.3)')
    parser.add_argument('class_mapping', help='classMapping40.mat (mapClass: 894 -> 40 classes)')
    parser.add_argument('splits', help='splits.mat (trainNdxs / testNdxs)')
    parser.add_argument('--out', default='data/NYUDv2', help='output root (default: %(default)s)')
    parser.add_argument('--normals', help='folder of NAME.png surface normals (the .mat has none)')
    parser.add_argument('--raw-depth', action='store_true', help='write rawDepths (holes = 0) instead of depths')
    parser.add_argument('--full-frame', action='store_true', help='keep 480x640 instead of the NYUD-MT crop')
    parser.add_argument('--name-format', default='img_{:04d}', help='sample name of index + offset')
    parser.add_argument('--name-offset', type=int, default=5000, help='added to the 1-based index')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    for path in (args.mat, args.class_mapping, args.splits):
        if not osp.isfile(path):
            raise SystemExit(f'{path!r} does not exist')
    try:
        import h5py  # noqa: F401
    except ImportError:
        raise SystemExit('reading nyu_depth_v2_labeled.mat (MATLAB v7.3) needs h5py: pip install h5py '
                         '(listed in requirements/optional.txt)')
    try:
        written = convert(args.mat, args.class_mapping, args.splits, args.out, args.normals, args.raw_depth,
                          args.full_frame, args.name_format, args.name_offset)
    except (KeyError, ValueError, FileNotFoundError) as error:
        raise SystemExit(str(error))
    print(f'wrote {len(written["train"])} train / {len(written["val"])} val samples to {args.out}')
    if not args.normals:
        print('no normals written: nyu_depth_v2_labeled.mat has no surface normals. Give --normals DIR with '
              'NAME.png normals (e.g. those of the NYUD-MT release) to add normals/, or train without the '
              "normals task (model.tasks and the dataset's tasks without 'normals').")


if __name__ == '__main__':
    main()
