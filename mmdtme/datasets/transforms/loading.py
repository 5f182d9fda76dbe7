import io
from typing import Callable, Dict, Optional

import numpy as np
from mmcv.transforms import BaseTransform, LoadImageFromFile
from mmengine import fileio
from PIL import Image

from mmdtme.registry import TRANSFORMS
from mmdtme.structures import TASK_SPECS


def _read_png(path: str, mode: str) -> np.ndarray:
    with Image.open(io.BytesIO(fileio.get(path))) as image:
        if mode == 'label':
            # Palette PNGs hold class indices; convert('L') would map them through the palette.
            return np.asarray(image if image.mode in ('L', 'P', 'I', 'I;16') else image.convert('L'))
        return np.asarray(image.convert(mode))


def load_semseg(path: str, reduce_zero_label: bool = True) -> np.ndarray:
    """Class map as ``uint8`` H×W; with ``reduce_zero_label`` (NYUD-MT), label − 1 and 0 → 255 (ignore)."""
    label = _read_png(path, 'label').astype(np.int64)
    if reduce_zero_label:
        label = np.where(label == 0, 256, label) - 1
    return label.astype(np.uint8)


def load_depth(path: str) -> np.ndarray:
    """Depth in metres as ``float32`` H×W (0 where invalid)."""
    depth = np.load(io.BytesIO(fileio.get(path)), allow_pickle=False)
    return np.ascontiguousarray(np.squeeze(depth).astype(np.float32))


def load_normals(path: str) -> np.ndarray:
    """Unit surface normals ``float32`` H×W×3 decoded from an RGB PNG as ``2 * v / 255 - 1``."""
    return _read_png(path, 'RGB').astype(np.float32) * (2.0 / 255.0) - 1.0


def load_edge(path: str) -> np.ndarray:
    """Binary edge map ``uint8`` H×W in {0, 1}."""
    return (_read_png(path, 'label') >= 128).astype(np.uint8)


# Readers of one ground-truth file, by format name. A dataset whose files differ from the NYUD-MT formats
# registers its readers here and names them per task in each sample's ``ann_formats`` (default: the task).
ANNOTATION_LOADERS: Dict[str, Callable[[str], np.ndarray]] = dict(
    semseg=load_semseg, depth=load_depth, normals=load_normals, edge=load_edge)


def register_annotation_loader(name: str) -> Callable:
    """Decorator registering ``fn(path) -> array`` as the reader of annotation format ``name``."""

    def register(fn: Callable[[str], np.ndarray]) -> Callable[[str], np.ndarray]:
        if name in ANNOTATION_LOADERS and ANNOTATION_LOADERS[name] is not fn:
            raise KeyError(f'annotation format {name!r} is already registered')
        ANNOTATION_LOADERS[name] = fn
        return fn

    return register


def check_annotation(array: np.ndarray, task: str, path: str, num_classes: Optional[int] = None) -> None:
    """Stop on a map that cannot be the task's ground truth: wrong shape or channel count, labels out of range.

    Cheap (a shape and a bounds check per map), so it runs on every sample as it is read. A label task's values
    must lie in ``[0, num_classes)`` or be its ignore value; the class count comes from the dataset (``num_classes``
    of the sample), else the task table; binary maps (edges, saliency) hold 0 and 1.
    """
    spec = TASK_SPECS[task]
    channels = 1 if array.ndim == 2 else array.shape[2] if array.ndim == 3 else None
    if channels != spec.channels:
        expected = 'H×W' if spec.channels == 1 else f'H×W×{spec.channels}'
        raise ValueError(f'{task} ground truth {path!r} has shape {tuple(array.shape)}; expected {expected} '
                         f'({spec.channels} channel{"s" if spec.channels > 1 else ""}). Re-export the file in the '
                         'layout of docs/dataset_prepare.md')
    if not spec.is_label:
        return
    if num_classes is None:
        num_classes = spec.num_classes or (2 if spec.metric in ('edge', 'saliency') else None)
    if num_classes is None:
        return
    bad = (array < 0) | ((array >= num_classes) & (array != spec.pad_value))
    if bad.any():
        values = np.unique(array[bad])
        shown = ', '.join(str(int(value)) for value in values[:5]) + (' ...' if len(values) > 5 else '')
        raise ValueError(f'{task} ground truth {path!r} holds labels {shown} (range {int(array.min())}..'
                         f'{int(array.max())}); expected class indices 0..{num_classes - 1} of the {num_classes} '
                         f'classes or {int(spec.pad_value)} (ignore). Check the file, its label encoding, or the '
                         "dataset's classes")


@TRANSFORMS.register_module()
class LoadMultiTaskAnnotations(BaseTransform):
    """Load the ground truth of every task of a sample, in the NYUD-MT file formats.

    Reads ``results[f'{task}_path']`` for each task in ``results['tasks']`` into the task's pipeline key
    (``gt_seg_map``, ``gt_depth_map``, ``gt_normal_map``, ``gt_edge_map``...) and lists that key in
    ``seg_fields`` so mmseg's resize/crop/flip move it with the image, with nearest interpolation. The
    reader is ``ANNOTATION_LOADERS[results['ann_formats'][task]]`` when the dataset names a format for the
    task, else the NYUD-MT reader of the task.

    Args:
        reduce_zero_label: Semantic labels are stored as class + 1 with 0 unlabelled (NYUD-MT).
    """

    def __init__(self, reduce_zero_label: bool = True) -> None:
        self.reduce_zero_label = reduce_zero_label

    def transform(self, results: dict) -> dict:
        results.setdefault('seg_fields', [])
        self.fit_image(results)
        for task in results['tasks']:
            spec, path = TASK_SPECS[task], results[f'{task}_path']
            array = self.fit_annotation(self.read_annotation(task, path, results), task, path, results)
            check_annotation(array, task, path, results.get('num_classes', {}).get(task))
            results[spec.map_key] = array
            if spec.map_key not in results['seg_fields']:
                results['seg_fields'].append(spec.map_key)
        results['reduce_zero_label'] = self.reduce_zero_label
        return results

    def read_annotation(self, task: str, path: str, results: dict) -> np.ndarray:
        """The task's ground truth read with the sample's format for it; an unreadable file is named."""
        file_format = results.get('ann_formats', {}).get(task, task)
        if file_format not in ANNOTATION_LOADERS:
            raise KeyError(f'no reader for annotation format {file_format!r} of task {task!r}; '
                           f'registered formats: {sorted(ANNOTATION_LOADERS)}')
        try:
            if file_format == 'semseg':
                return load_semseg(path, self.reduce_zero_label)
            return ANNOTATION_LOADERS[file_format](path)
        except Exception as error:
            raise OSError(f'cannot read the {task} ground truth {path!r} ({error}); '
                          'the file is corrupt or not in the expected format') from error

    def fit_image(self, results: dict) -> None:
        """Bring the loaded image to the dataset's frame before the maps are read (nothing to do here)."""

    def fit_annotation(self, array: np.ndarray, task: str, path: str, results: dict) -> np.ndarray:
        """The map, which must cover the image pixel for pixel (a size mismatch would misalign the tasks)."""
        if array.shape[:2] != results['img'].shape[:2]:
            raise ValueError(f'{task} ground truth {path!r} is {array.shape[:2]} but its image is '
                             f'{results["img"].shape[:2]}; crop or resize the dataset consistently '
                             '(see tools/dataset_converters/)')
        return array

    def __repr__(self) -> str:
        return f'{type(self).__name__}(reduce_zero_label={self.reduce_zero_label})'


@TRANSFORMS.register_module()
class LoadImageWithCheck(LoadImageFromFile):
    """mmcv's ``LoadImageFromFile`` (same arguments, BGR ``uint8``) whose error names an unreadable file."""

    def transform(self, results: dict) -> dict:
        try:
            return super().transform(results)
        except Exception as error:
            raise OSError(f'cannot read image {results["img_path"]!r} ({error}); the file is corrupt or not '
                          'an image') from error
