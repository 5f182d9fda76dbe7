"""Taskonomy (Zamir et al., CVPR 2018) for multi-task dense prediction, in the 11-task setting of DTME-MTL.

DTME-MTL (Jeong & Yoon, ICCV 2025) evaluates on Taskonomy with 11 tasks. Its code is not public yet
(wooseong97/DTME-MTL holds a README only); the setting is read from the authors' previous, public MTL code, which
uses the same 11 tasks (sources below): the ``tiny``
partition (train + val buildings for training, test buildings for evaluation), images resized to 256×256, every
target rescaled as below and learned with an L1 loss, and L1 as the metric.

What each task's file holds (``v``: a stored value) and the ``float32`` target decoded from it; ``IGNORE`` (255.0,
the task table's pad value) replaces the target where the file marks a pixel invalid, if ``mask_invalid``:

- ``depth_euclidean``, ``depth_zbuffer``: 16-bit grey in 1/512 m (≤ 128 m) -> log(1 + v) / log(2^16); v = 65535
  is invalid.
- ``edge_occlusion``: 16-bit grey -> 2 v / 409.6 − 1 (not clipped), blurred with a Gaussian of σ = 4 px at
  256×256 (σ = 8 on the 512×512 files).
- ``edge_texture``, ``keypoints2d``, ``keypoints3d``: 16-bit grey -> 2 min(v, m) / m − 1 with m = 5242.88
  (0.08 · 2^16), 327.68 (0.005 · 2^16), 65536.
- ``normal``: 8-bit RGB, 127/128-centred -> 2 v / 255 − 1 (3 channels); grey (length < 0.5) is invalid and becomes
  the zero vector, the ignore value of this task (it survives the sign flip of a mirrored normal).
- ``principal_curvature``: 8-bit RGB with the two curvatures in R, G (127 = 0) -> ((R, G) − (123.572, 120.1)) /
  (31.922, 21.658); R = G = 0 is invalid.
- ``reshading``: 8-bit grey or RGB (equal channels) -> 2 mean_c(v) / 255 − 1, one channel.
- ``segment_unsup2d``, ``segment_unsup25d``: 8-bit grey superpixel ids -> 2 v / 255 − 1, regressed as in the source.

Departures from the source protocol: invalid pixels are ignored (the source regresses them; ``mask_invalid=False``
keeps their decoded values), ground truth is resized to 256×256 with nearest interpolation (the source resizes
bilinearly; nearest keeps the invalid markers exact) and the occlusion-edge blur is applied at the stored
resolution, reshading is one channel (the source regresses the file's 3 channels, which give the same L1 when
equal), and no flip is applied while ``normal`` is loaded (see ``TaskonomyMultiTaskDataset``; the source flips
normal maps without negating their x component).

Sources:

- Formats: ``data/README.md`` of StanfordVL/taskonomy (units, centring, curvature channels, split partitions),
  the omnidata README (bit depth per task), and omnidata's ``omnidata_tools/torch/dataloader/task_configs.py`` /
  ``masks.py`` / ``transforms.py`` (invalid markers: depth 1.0 · 65535, normals 0.502 · 255, curvature 0).
- Tasks, split, size and target scaling: wooseong97/sel-update-mtl (Jeong & Yoon, ICLR 2025)
  ``configs/baseline/taskonomy.yml``, ``util_taskonomy/dataset_taskonomy.py``, ``utils/common_config.py``.
- Split files: ``splits_taskonomy.zip`` of StanfordVL/taskonomy, ``train_val_test_{tiny,medium,full,fullplus}.csv``
  with rows ``building,train,val,test`` (0/1 flags; omnidata's ``dataloader/splits.py`` reads the same).
- Layouts: the omnidata download tool (``<task>/taskonomy/<building>/``), the ``taskgrouping`` loader of Standley
  et al., ICML 2020 (``<task>/<building>/``), and the per-building archives (``<building>/<task>/``).
"""
import csv
import io
import logging
import os
import os.path as osp
import re
from functools import partial
from typing import List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmcv.transforms import RandomFlip
from mmengine import fileio
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log
from PIL import Image
from scipy.ndimage import gaussian_filter

from mmdtme.datasets.layout_errors import layout_message
from mmdtme.registry import DATASETS, TRANSFORMS
from .transforms.loading import LoadMultiTaskAnnotations, register_annotation_loader

TASKONOMY_TASKS = ('depth_euclidean', 'depth_zbuffer', 'edge_occlusion', 'edge_texture', 'keypoints2d', 'keypoints3d',
                   'normal', 'principal_curvature', 'reshading', 'segment_unsup2d', 'segment_unsup25d')
IGNORE = 255.0  # the task table's pad value of the Taskonomy float maps: "no target here"
INVALID_DEPTH = 65535
EDGE_OCCLUSION_SIGMA_AT_256 = 4.0
CURVATURE_MEAN = np.array([123.572, 120.1])
CURVATURE_STD = np.array([31.922, 21.658])

LAYOUTS = {
    'omnidata': '{task}/taskonomy/{building}',  # omnitools.download
    'task_first': '{task}/{building}',  # Standley et al.'s taskgrouping
    'building_first': '{building}/{task}',  # one folder per building archive
}
PARTITIONS = ('tiny', 'medium', 'full', 'fullplus')
SPLITS = ('train', 'val', 'test')
VIEW_PATTERN = re.compile(r'^point_(\d+)_view_(\d+)_domain_rgb\.png$')

LAYOUT = """\
    data_root/
    ├── splits_taskonomy/train_val_test_{partition}.csv   rows: building,train,val,test (0/1 flags)
    └── <folder of (task, building)>/point_P_view_V_domain_<task>.png   for task = rgb and every task loaded
    with <folder> = {template}"""


# ----------------------------------------------------------------------------------------------------------------
# Readers: the stored values of one PNG, checked against the format the task is stored in.
# ----------------------------------------------------------------------------------------------------------------
def _open_png(path: str) -> Image.Image:
    image = Image.open(io.BytesIO(fileio.get(path)))
    image.load()  # decode now, so a truncated file fails here
    return image


def read_16bit(path: str) -> np.ndarray:
    """Stored values of a 16-bit single-channel PNG as ``float64`` H×W."""
    image = _open_png(path)
    if image.mode not in ('I;16', 'I;16B', 'I;16L', 'I'):
        raise ValueError(f'it is a {image.mode!r} image; Taskonomy stores this task as a 16-bit single-channel PNG')
    return np.asarray(image).astype(np.float64)


def read_8bit(path: str, channels: Tuple[int, ...]) -> np.ndarray:
    """Stored values of an 8-bit PNG as ``float64`` H×W (1 channel) or H×W×C; ``channels`` lists the accepted C."""
    image = _open_png(path)
    stored = {'L': 1, 'RGB': 3, 'RGBA': 3}.get(image.mode)
    if stored not in channels:
        expected = ' or '.join({1: 'grey', 3: 'RGB'}[c] for c in channels)
        raise ValueError(f'it is a {image.mode!r} image; Taskonomy stores this task as an 8-bit {expected} PNG')
    array = np.asarray(image.convert('RGB') if image.mode == 'RGBA' else image)
    return array.astype(np.float64)


# ----------------------------------------------------------------------------------------------------------------
# Decoders: stored values -> float32 target (see the module docstring), IGNORE where invalid if ``mask_invalid``.
# ----------------------------------------------------------------------------------------------------------------
def decode_depth(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    target = np.log1p(stored) / np.log(2.0 ** 16)
    if mask_invalid:
        target[stored == INVALID_DEPTH] = IGNORE
    return target.astype(np.float32)


def _to_unit_range(stored: np.ndarray, high: float, clip: bool = True) -> np.ndarray:
    """``[0, high]`` -> ``[-1, 1]``, values above ``high`` clipped first if ``clip``."""
    value = np.clip(stored, 0.0, high) if clip else stored
    return (2.0 * value / high - 1.0).astype(np.float32)


def decode_edge_occlusion(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    # The source blurs the rescaled map at 256x256 with sigma 4; scale sigma with the stored width.
    sigma = EDGE_OCCLUSION_SIGMA_AT_256 * stored.shape[1] / 256.0
    return gaussian_filter(_to_unit_range(stored, 0.00625 * 2 ** 16, clip=False).astype(np.float64),
                           sigma=sigma).astype(np.float32)


def decode_normal(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    target = (2.0 * stored / 255.0 - 1.0).astype(np.float32)
    if mask_invalid:
        # Unit normals quantised to 8 bits keep a length near 1; background is stored grey (length ~0).
        target[np.linalg.norm(target, axis=-1) < 0.5] = 0.0
    return target


def decode_principal_curvature(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    curvatures = stored[..., :2]
    target = ((curvatures - CURVATURE_MEAN) / CURVATURE_STD).astype(np.float32)
    if mask_invalid:
        target[(curvatures == 0).all(axis=-1)] = IGNORE
    return target


def decode_reshading(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    grey = stored.mean(axis=-1) if stored.ndim == 3 else stored
    return _to_unit_range(grey, 255.0)


def decode_edge_texture(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    return _to_unit_range(stored, 0.08 * 2 ** 16)


def decode_keypoints2d(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    return _to_unit_range(stored, 0.005 * 2 ** 16)


def decode_keypoints3d(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    return _to_unit_range(stored, 2.0 ** 16)


def decode_8bit_unit(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    return _to_unit_range(stored, 255.0)


_read_rgb = partial(read_8bit, channels=(3, ))
_read_grey = partial(read_8bit, channels=(1, ))
# task -> (reader of the stored values, decoder)
TASK_CODECS = {
    'depth_euclidean': (read_16bit, decode_depth),
    'depth_zbuffer': (read_16bit, decode_depth),
    'edge_occlusion': (read_16bit, decode_edge_occlusion),
    'edge_texture': (read_16bit, decode_edge_texture),
    'keypoints2d': (read_16bit, decode_keypoints2d),
    'keypoints3d': (read_16bit, decode_keypoints3d),
    'normal': (_read_rgb, decode_normal),
    'principal_curvature': (_read_rgb, decode_principal_curvature),
    'reshading': (partial(read_8bit, channels=(1, 3)), decode_reshading),
    'segment_unsup2d': (_read_grey, decode_8bit_unit),
    'segment_unsup25d': (_read_grey, decode_8bit_unit),
}


def load_taskonomy_target(path: str, task: str, mask_invalid: bool = True) -> np.ndarray:
    """The ``float32`` target (H×W, or H×W×C) of ``task`` stored in ``path``."""
    read, decode = TASK_CODECS[task]
    return decode(read(path), mask_invalid=mask_invalid)


def annotation_format(task: str, mask_invalid: bool = True) -> str:
    """Name of the registered annotation reader of ``task`` (see ``register_annotation_loader``)."""
    return f'taskonomy_{task}' + ('' if mask_invalid else '_unmasked')


for _task in TASKONOMY_TASKS:
    for _mask in (True, False):
        register_annotation_loader(annotation_format(_task, _mask))(
            partial(load_taskonomy_target, task=_task, mask_invalid=_mask))


@TRANSFORMS.register_module()
class LoadTaskonomyAnnotations(LoadMultiTaskAnnotations):
    """Load every task's Taskonomy target and bring the image and the targets to ``size``.

    Reads each task with the reader its sample names (``ann_formats``), checks that every map matches the image,
    then resizes the image (area) and the targets (nearest, so invalid markers stay exact) to ``size`` and makes
    that the sample's ``ori_shape``: predictions are evaluated at ``size``, as in the source protocol.

    Args:
        size: (H, W) of the image and targets, or None to keep the stored 512×512.
    """

    def __init__(self, size: Optional[Tuple[int, int]] = (256, 256)) -> None:
        super().__init__(reduce_zero_label=False)
        self.size = tuple(size) if size is not None else None

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        if self.size is not None and tuple(results['img'].shape[:2]) != self.size:
            height, width = self.size
            results['img'] = mmcv.imresize(results['img'], (width, height), interpolation='area')
            for key in results['seg_fields']:
                results[key] = mmcv.imresize(results[key], (width, height), interpolation='nearest')
        results['img_shape'] = results['ori_shape'] = tuple(results['img'].shape[:2])
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(size={self.size})'


@DATASETS.register_module()
class TaskonomyMultiTaskDataset(BaseDataset):
    """Taskonomy with the 11 dense tasks of DTME-MTL, one sample per (building, point, view).

    Expected layout::

{layout}

    Buildings come from ``buildings`` or from the split file of ``partition``; samples are every
    ``point_P_view_V_domain_rgb.png`` of a building's ``rgb`` folder, in (point, view) order, with one file per
    task. Targets are decoded as the module docstring says.

    Args:
        data_root: Dataset root.
        split: ``'train'``, ``'val'``, ``'test'``, or several joined by ``+`` (``'train+val'``, the source's training
            set).
        partition: Split file ``splits_taskonomy/train_val_test_{{partition}}.csv``: ``tiny`` (25 / 5 / 5
            buildings), ``medium``, ``full`` or ``fullplus``.
        tasks: Tasks loaded for every sample.
        buildings: Use these buildings instead of a split file.
        split_file: Path of the split file (relative to ``data_root`` or absolute); overrides ``partition``.
        layout: Folder of each (task, building): ``'omnidata'`` (``{{task}}/taskonomy/{{building}}``),
            ``'task_first'`` (``{{task}}/{{building}}``), ``'building_first'`` (``{{building}}/{{task}}``), or a
            template with those two fields.
        mask_invalid: Mark pixels the files flag as invalid (depth 65535, grey normals, zero curvature) as ignored.
        skip_incomplete: Drop buildings or views missing a task's folder or file (with a warning) instead of
            stopping. Some published buildings are incomplete.
        max_samples: Keep at most this many samples, drawn at random with ``seed`` (e.g. the DTME analysis set:
            100 batches).
        subset: Keep this fraction of the samples, drawn at random with ``seed``.
        seed: Seed of the ``max_samples`` / ``subset`` draw (the same seed gives the same samples).
        **kwargs: Passed to mmengine's ``BaseDataset`` (``pipeline``, ``test_mode``...).
    """

    METAINFO = dict(tasks=TASKONOMY_TASKS)

    def __init__(self, data_root: str, split: str = 'train', partition: str = 'tiny',
                 tasks: Sequence[str] = TASKONOMY_TASKS, buildings: Optional[Sequence[str]] = None,
                 split_file: Optional[str] = None, layout: str = 'omnidata', mask_invalid: bool = True,
                 skip_incomplete: bool = False, max_samples: Optional[int] = None, subset: Optional[float] = None,
                 seed: int = 0, **kwargs) -> None:
        unknown = [task for task in tasks if task not in TASKONOMY_TASKS]
        if unknown:
            raise ValueError(f'{type(self).__name__} has no ground truth for tasks {unknown}; it provides '
                             f'{list(TASKONOMY_TASKS)}')
        self.splits = tuple(split.split('+'))
        if buildings is None and any(name not in SPLITS for name in self.splits):
            raise ValueError(f'split must be one of {SPLITS} or several joined by "+", got {split!r}')
        if split_file is None and partition not in PARTITIONS:
            raise ValueError(f'partition must be one of {PARTITIONS}, got {partition!r}')
        self.template = LAYOUTS.get(layout, layout)
        if '{task}' not in self.template or '{building}' not in self.template:
            raise ValueError(f'layout must be one of {sorted(LAYOUTS)} or a template with {{task}} and {{building}}, '
                             f'got {layout!r}')
        if max_samples is not None and max_samples < 1:
            raise ValueError(f'max_samples must be >= 1, got {max_samples}')
        if subset is not None and not 0 < subset <= 1:
            raise ValueError(f'subset is a fraction in (0, 1], got {subset}')
        self.tasks = tuple(tasks)
        self.buildings = list(buildings) if buildings is not None else None
        self.split_file = split_file or osp.join('splits_taskonomy', f'train_val_test_{partition}.csv')
        self.mask_invalid = mask_invalid
        self.ann_formats = {task: annotation_format(task, mask_invalid) for task in self.tasks}
        self.skip_incomplete = skip_incomplete
        self.max_samples = max_samples
        self.subset = subset
        self.seed = seed
        super().__init__(data_root=data_root, **kwargs)
        flips = [t for t in getattr(self.pipeline, 'transforms', []) if isinstance(t, RandomFlip)]
        if flips and 'normal' in self.tasks:
            raise ValueError(
                f'{type(self).__name__}: the pipeline flips ({flips[0]!r}) but no flip negates the x component of '
                "Taskonomy's 'normal' map (MultiTaskRandomFlip handles only 'normals'), so its targets would be "
                "wrong; drop the flip or the 'normal' task")

    def _message(self, what: str) -> str:
        return layout_message(self, what, LAYOUT.format(partition='<partition>', template=self.template),
                              hint=', or set `layout`')

    def _folder(self, task: str, building: str) -> str:
        return osp.join(self.data_root, self.template.format(task=task, building=building))

    def _split_buildings(self) -> List[str]:
        """Buildings of ``self.splits`` in the split file, in file order."""
        path = self.split_file if osp.isabs(self.split_file) else osp.join(self.data_root, self.split_file)
        if not osp.isfile(path):
            raise FileNotFoundError(self._message(
                f'split file {path!r} does not exist (it comes from splits_taskonomy.zip of StanfordVL/taskonomy; '
                'or pass buildings=[...])'))
        buildings = []
        with open(path, newline='') as f:
            for line, row in enumerate(csv.reader(f), start=1):
                row = [cell.strip() for cell in row]
                if not row or not row[0]:
                    continue
                if len(row) != 4 or any(flag not in ('0', '1') for flag in row[1:]):
                    if line == 1:
                        continue  # header
                    raise ValueError(f'split file {path!r} line {line} is {row}; expected building,train,val,test '
                                     'with 0/1 flags')
                flags = dict(zip(SPLITS, row[1:]))
                if any(flags[name] == '1' for name in self.splits):
                    buildings.append(row[0])
        if not buildings:
            raise ValueError(f'split file {path!r} lists no building of split {"+".join(self.splits)!r}')
        return buildings

    def _skip_or_raise(self, what: str, skipped: List[str]) -> None:
        if not self.skip_incomplete:
            raise FileNotFoundError(self._message(what + ' (skip_incomplete=True drops incomplete buildings / views)'))
        skipped.append(what)

    def _building_samples(self, building: str, skipped: List[str]) -> List[dict]:
        rgb_dir = self._folder('rgb', building)
        if not osp.isdir(rgb_dir):
            self._skip_or_raise(f'building {building!r} has no rgb folder {rgb_dir!r}', skipped)
            return []
        views = sorted(((int(m.group(1)), int(m.group(2))) for m in map(VIEW_PATTERN.match, os.listdir(rgb_dir)) if m))
        if not views:
            self._skip_or_raise(f'building {building!r}: {rgb_dir!r} holds no point_P_view_V_domain_rgb.png', skipped)
            return []
        stored = {}
        for task in self.tasks:
            folder = self._folder(task, building)
            if not osp.isdir(folder):
                self._skip_or_raise(f'building {building!r} has no {task} folder {folder!r}', skipped)
                return []
            stored[task] = set(os.listdir(folder))  # one listing per folder, not one stat per file
        samples, missing = [], []
        for point, view in views:
            view_name = f'point_{point}_view_{view}'
            absent = [task for task in self.tasks if f'{view_name}_domain_{task}.png' not in stored[task]]
            missing += [osp.join(self._folder(task, building), f'{view_name}_domain_{task}.png') for task in absent]
            if not absent:
                samples.append(dict(name=f'{building}/{view_name}', building=building, view=view_name))
        if missing:
            self._skip_or_raise(f'building {building!r}: {len(missing)} task file(s) of its views are missing, e.g. '
                                f'{missing[:3]}', skipped)
        return samples

    def _draw(self, count: int) -> Optional[np.ndarray]:
        """Sorted indices of the seeded ``max_samples`` / ``subset`` draw, or None to keep all ``count``."""
        keep = count
        if self.subset is not None:
            keep = max(1, int(round(self.subset * count)))
        if self.max_samples is not None:
            keep = min(keep, self.max_samples)
        if keep >= count:
            return None
        return np.sort(np.random.default_rng(self.seed).choice(count, keep, replace=False))

    def get_data_info(self, idx: int) -> dict:
        """The sample's record with its paths. Records are stored without them: the tiny split alone has ~260k views,
        and 12 paths each would hold ~0.5 GB per dataset copy."""
        info = super().get_data_info(idx)
        building, view = info['building'], info['view']
        info.update(tasks=self.tasks, seg_fields=[], ann_formats=dict(self.ann_formats),
                    img_path=osp.join(self._folder('rgb', building), f'{view}_domain_rgb.png'))
        for task in self.tasks:
            info[f'{task}_path'] = osp.join(self._folder(task, building), f'{view}_domain_{task}.png')
        return info

    def load_data_list(self) -> List[dict]:
        if not osp.isdir(self.data_root):
            raise FileNotFoundError(self._message(f'data root {self.data_root!r} does not exist'))
        buildings = self.buildings if self.buildings is not None else self._split_buildings()
        skipped: List[str] = []
        data_list = [info for building in buildings for info in self._building_samples(building, skipped)]
        if skipped:
            print_log(f'{type(self).__name__}: skipped incomplete data ({len(skipped)}):\n  ' + '\n  '.join(skipped),
                      logger='current', level=logging.WARNING)
        if not data_list:
            raise ValueError(self._message(f'no sample found in buildings {buildings}'))
        keep = self._draw(len(data_list))
        if keep is not None:
            data_list = [data_list[index] for index in keep]
        return data_list


TaskonomyMultiTaskDataset.__doc__ = TaskonomyMultiTaskDataset.__doc__.format(
    layout=LAYOUT.format(partition='{partition}', template='{task}/taskonomy/{building} (layout="omnidata")'))
