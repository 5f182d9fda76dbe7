"""PASCAL-Context for multi-task dense prediction (5 tasks), in the PASCAL_MT layout of ASTMT / MTI-Net / InvPT.

Ground truth is read as the reference loaders read it; the readers and what they do are in
:mod:`mmdtme.datasets.transforms.pascal_loading`.
"""
import os.path as osp
from typing import List, Sequence

from mmengine.dataset import BaseDataset

from mmdtme.datasets.layout_errors import check_root_and_split, layout_message
from mmdtme.registry import DATASETS
from .transforms.pascal_loading import HUMAN_PART_CLASSES, PASCAL_CONTEXT_CLASSES, context_label_path

LAYOUT = """\
    data_root/
    ├── ImageSets/Context/{train,val}.txt   one name per line (4998 train / 5105 val)
    ├── JPEGImages/NAME.jpg                 RGB
    ├── semseg/pascal-context/NAME.png      uint8, 21 classes (0 = background), 255 = ignore
    ├── semseg/VOC12/NAME.png               optional; used instead when present (VOC2012 annotation)
    ├── human_parts/NAME.mat                Pascal-Part 'anno' struct (objects: class_ind, mask, parts)
    ├── normals_distill/NAME.png            RGB, n = 2 * v / 255 - 1
    ├── sal_distill/NAME.png                grey, salient where v / 255 > 0.5
    └── pascal-context/trainval/NAME.mat    'LabelMap' uint16, 459 Context classes (edges; normals mask)
    (the PASCAL_MT.tgz release of ASTMT / MTI-Net / InvPT; tools/dataset_converters/pascal_context.py
    assembles all but normals_distill/ and sal_distill/ from VOC2010 + PASCAL-Context + Pascal-Part)"""


@DATASETS.register_module()
class PascalContextMultiTaskDataset(BaseDataset):
    """PASCAL-Context for multi-task dense prediction, in the PASCAL_MT layout of ASTMT / MTI-Net / InvPT.

    Expected layout::

    {layout}

    Args:
        data_root: Dataset root holding the folders above.
        split: Name of the split file in ``ImageSets/Context/`` (``'train'`` or ``'val'``).
        tasks: Tasks whose ground truth is listed for every sample; their files must exist.
        mask_normals: Keep the distilled normals only on the Context classes NYUD labels, as the references do
            (needs ``pascal-context/trainval/``); False uses them everywhere.
        **kwargs: Passed to mmengine's ``BaseDataset`` (``pipeline``, ``test_mode``, ``indices``...).
    """

    METAINFO = dict(
        classes=PASCAL_CONTEXT_CLASSES,
        human_parts_classes=HUMAN_PART_CLASSES,
        tasks=('semseg', 'human_parts', 'saliency', 'normals', 'edge'))
    TASK_FILES = dict(
        semseg=('semseg/pascal-context', '.png'),
        human_parts=('human_parts', '.mat'),
        saliency=('sal_distill', '.png'),
        normals=('normals_distill', '.png'),
        edge=('pascal-context/trainval', '.mat'))
    ANN_FORMATS = dict(
        semseg='pascal_semseg',
        human_parts='pascal_human_parts',
        saliency='pascal_saliency',
        normals='pascal_normals',
        edge='pascal_context_edge')
    IMAGE_FILES = ('JPEGImages', '.jpg')
    VOC12_SEMSEG = 'semseg/VOC12'

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 tasks: Sequence[str] = METAINFO['tasks'],
                 mask_normals: bool = True,
                 **kwargs) -> None:
        unknown = [task for task in tasks if task not in self.TASK_FILES]
        if unknown:
            raise ValueError(f'{type(self).__name__} has no ground truth for tasks {unknown}; '
                             f'it provides {sorted(self.TASK_FILES)}')
        self.split = split
        self.tasks = tuple(tasks)
        self.mask_normals = mask_normals
        super().__init__(data_root=data_root, ann_file=osp.join('ImageSets', 'Context', f'{split}.txt'), **kwargs)

    def _missing_message(self, what: str) -> str:
        return layout_message(self, what, LAYOUT)

    def load_data_list(self) -> List[dict]:
        check_root_and_split(self, LAYOUT)
        folders = [self.IMAGE_FILES[0]] + [self.TASK_FILES[task][0] for task in self.tasks]
        if 'normals' in self.tasks and self.mask_normals:
            folders.append(self.TASK_FILES['edge'][0])
        absent = [folder for folder in dict.fromkeys(folders) if not osp.isdir(osp.join(self.data_root, folder))]
        if absent:
            raise FileNotFoundError(self._missing_message(f'folder(s) {absent} missing'))
        with open(self.ann_file) as f:
            names = [line.strip() for line in f if line.strip()]
        if not names:
            raise ValueError(f'split file {self.ann_file!r} lists no samples')

        formats = {task: self.ANN_FORMATS[task] for task in self.tasks}
        if not self.mask_normals and 'normals' in formats:
            formats['normals'] = 'normals'  # the plain NYUD-MT decoding
        voc12_dir = osp.join(self.data_root, self.VOC12_SEMSEG)
        data_list, missing = [], []
        num_classes = dict(semseg=len(self.metainfo['classes']), human_parts=len(self.metainfo['human_parts_classes']))
        for index, name in enumerate(names):
            info = dict(
                sample_idx=index,
                name=name,
                tasks=self.tasks,
                seg_fields=[],
                ann_formats=formats,
                num_classes=num_classes)
            info['img_path'] = osp.join(self.data_root, self.IMAGE_FILES[0], name + self.IMAGE_FILES[1])
            for task in self.tasks:
                folder, suffix = self.TASK_FILES[task]
                info[f'{task}_path'] = osp.join(self.data_root, folder, name + suffix)
            if 'semseg' in self.tasks and osp.isfile(osp.join(voc12_dir, name + '.png')):
                # the references prefer the VOC2012 annotation where it exists
                info['semseg_path'] = osp.join(voc12_dir, name + '.png')
            needed = [info['img_path']] + [info[f'{task}_path'] for task in self.tasks]
            if 'normals' in self.tasks and self.mask_normals:
                needed.append(context_label_path(self.data_root, name))
            missing.extend(path for path in dict.fromkeys(needed) if not osp.isfile(path))
            data_list.append(info)
        if missing:
            raise FileNotFoundError(
                self._missing_message(
                    f'{len(missing)} file(s) listed by {self.ann_file!r} are missing, e.g. {missing[:3]}'))
        return data_list


PascalContextMultiTaskDataset.__doc__ = PascalContextMultiTaskDataset.__doc__.format(layout=LAYOUT)
