"""Taskonomy (Zamir et al., CVPR 2018) for multi-task dense prediction, in the 11-task setting of DTME-MTL.

DTME-MTL (Jeong & Yoon, ICCV 2025) evaluates on Taskonomy with 11 tasks. Its code is not public yet
(wooseong97/DTME-MTL holds a README only); the setting is read from the authors' previous, public MTL code, which
uses the same 11 tasks (sources below): the ``tiny``
partition (train + val buildings for training, test buildings for evaluation), images resized to 256×256, every
target rescaled as below and learned with an L1 loss, and L1 as the metric.

How each task's file is decoded is described in :mod:`mmdtme.datasets.transforms.taskonomy_loading`.

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
import logging
import os
import os.path as osp
import re
from typing import List, Optional, Sequence

import numpy as np
from mmcv.transforms import RandomFlip
from mmengine.dataset import BaseDataset
from mmengine.logging import print_log

from mmdtme.datasets.layout_errors import layout_message
from mmdtme.registry import DATASETS
from .transforms.taskonomy_loading import TASKONOMY_TASKS, annotation_format

LAYOUTS = {
    'omnidata': '{task}/taskonomy/{building}',  # omnitools.download
    'task_first': '{task}/{building}',  # Standley et al.'s taskgrouping
    'building_first': '{building}/{task}',  # one folder per building archive
}
PARTITIONS = ('tiny', 'medium', 'full', 'fullplus')
# Buildings of the split files that the reference MTL code (wooseong97/sel-update-mtl, util_taskonomy/
# dataset_taskonomy.py) leaves out: woodbine is missing from the public release and wiconisco lacks 80 edge_texture
# views. Leaving them out by default trains and evaluates on the reference's views.
REFERENCE_EXCLUDED_BUILDINGS = ('woodbine', 'wiconisco')
SPLITS = ('train', 'val', 'test')
VIEW_PATTERN = re.compile(r'^point_(\d+)_view_(\d+)_domain_rgb\.png$')

LAYOUT = """\
    data_root/
    ├── splits_taskonomy/train_val_test_{partition}.csv   rows: building,train,val,test (0/1 flags)
    └── <folder of (task, building)>/point_P_view_V_domain_<task>.png   for task = rgb and every task loaded
    with <folder> = {template}"""


@DATASETS.register_module()
class TaskonomyMultiTaskDataset(BaseDataset):
    """Taskonomy with the 11 dense tasks of DTME-MTL, one sample per (building, point, view).

    Expected layout::

{layout}

    Buildings come from ``buildings`` or from the split file of ``partition``; samples are every
    ``point_P_view_V_domain_rgb.png`` of a building's ``rgb`` folder, in (point, view) order, with one file per
    task. Targets are decoded as :mod:`mmdtme.datasets.transforms.taskonomy_loading` says.

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
        exclude_buildings: Buildings of the split file left out. Default: woodbine and wiconisco, as the reference
            code (``REFERENCE_EXCLUDED_BUILDINGS``); ``()`` keeps every building of the split file. Buildings given
            with ``buildings`` are never excluded.
        max_samples: Keep at most this many samples, drawn at random with ``seed`` (e.g. the DTME analysis set:
            100 batches).
        subset: Keep this fraction of the samples, drawn at random with ``seed``.
        seed: Seed of the ``max_samples`` / ``subset`` draw (the same seed gives the same samples).
        **kwargs: Passed to mmengine's ``BaseDataset`` (``pipeline``, ``test_mode``...).
    """

    METAINFO = dict(tasks=TASKONOMY_TASKS)

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 partition: str = 'tiny',
                 tasks: Sequence[str] = TASKONOMY_TASKS,
                 buildings: Optional[Sequence[str]] = None,
                 split_file: Optional[str] = None,
                 layout: str = 'omnidata',
                 mask_invalid: bool = True,
                 skip_incomplete: bool = False,
                 exclude_buildings: Sequence[str] = REFERENCE_EXCLUDED_BUILDINGS,
                 max_samples: Optional[int] = None,
                 subset: Optional[float] = None,
                 seed: int = 0,
                 **kwargs) -> None:
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
        self.exclude_buildings = tuple(exclude_buildings)
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
        return layout_message(
            self, what, LAYOUT.format(partition='<partition>', template=self.template), hint=', or set `layout`')

    def _folder(self, task: str, building: str) -> str:
        return osp.join(self.data_root, self.template.format(task=task, building=building))

    def _split_buildings(self) -> List[str]:
        """Buildings of ``self.splits`` in the split file, in file order."""
        path = self.split_file if osp.isabs(self.split_file) else osp.join(self.data_root, self.split_file)
        if not osp.isfile(path):
            raise FileNotFoundError(
                self._message(
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
                if any(flags[name] == '1' for name in self.splits) and row[0] not in self.exclude_buildings:
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
            self._skip_or_raise(
                f'building {building!r}: {len(missing)} task file(s) of its views are missing, e.g. '
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
        info.update(
            tasks=self.tasks,
            seg_fields=[],
            ann_formats=dict(self.ann_formats),
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
            print_log(
                f'{type(self).__name__}: skipped incomplete data ({len(skipped)}):\n  ' + '\n  '.join(skipped),
                logger='current',
                level=logging.WARNING)
        if not data_list:
            raise ValueError(self._message(f'no sample found in buildings {buildings}'))
        keep = self._draw(len(data_list))
        if keep is not None:
            data_list = [data_list[index] for index in keep]
        return data_list


TaskonomyMultiTaskDataset.__doc__ = TaskonomyMultiTaskDataset.__doc__.format(
    layout=LAYOUT.format(partition='{partition}', template='{task}/taskonomy/{building} (layout="omnidata")'))
