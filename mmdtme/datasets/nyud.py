import os.path as osp
from typing import List, Sequence

from mmengine.dataset import BaseDataset

from mmdtme.registry import DATASETS
from .layout_errors import check_root_and_split, layout_message

NYUD40_CLASSES = ('wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table', 'door', 'window', 'bookshelf', 'picture',
                  'counter', 'blinds', 'desk', 'shelves', 'curtain', 'dresser', 'pillow', 'mirror', 'floor mat',
                  'clothes', 'ceiling', 'books', 'refrigerator', 'television', 'paper', 'towel', 'shower curtain',
                  'box', 'whiteboard', 'person', 'night stand', 'toilet', 'sink', 'lamp', 'bathtub', 'bag',
                  'otherstructure', 'otherfurniture', 'otherprop')

LAYOUT = """\
    data_root/
    ├── gt_sets/{train,val}.txt   one sample name per line, no extension
    ├── images/NAME.png           RGB
    ├── segmentation/NAME.png     uint8 class index + 1, 0 = unlabelled
    ├── depth/NAME.npy            float32 metres, 0 = invalid
    ├── normals/NAME.png          RGB, n = 2 * v / 255 - 1
    └── edge/NAME.png             uint8, 255 = edge"""


@DATASETS.register_module()
class NYUDMultiTaskDataset(BaseDataset):
    """NYUD-v2 for multi-task dense prediction, in the NYUD-MT layout of the MTI-Net / InvPT code bases.

    Expected layout::

    {layout}

    The synthetic scenes of :class:`SyntheticNYUDDataset` are written in the same layout.

    Args:
        data_root: Dataset root holding the folders above.
        split: Name of the split file in ``gt_sets/`` (``'train'`` or ``'val'``).
        tasks: Tasks whose ground truth is listed for every sample; their files must exist.
        **kwargs: Passed to mmengine's ``BaseDataset`` (``pipeline``, ``test_mode``, ``indices``...).
    """

    METAINFO = dict(classes=NYUD40_CLASSES, tasks=('semseg', 'depth', 'normals', 'edge'))
    TASK_FILES = dict(
        semseg=('segmentation', '.png'), depth=('depth', '.npy'), normals=('normals', '.png'), edge=('edge', '.png'))
    IMAGE_FILES = ('images', '.png')

    def __init__(self,
                 data_root: str,
                 split: str = 'train',
                 tasks: Sequence[str] = METAINFO['tasks'],
                 **kwargs) -> None:
        unknown = [task for task in tasks if task not in self.TASK_FILES]
        if unknown:
            raise ValueError(f'{type(self).__name__} has no ground truth for tasks {unknown}; '
                             f'it provides {sorted(self.TASK_FILES)}')
        self.split = split
        self.tasks = tuple(tasks)
        super().__init__(data_root=data_root, ann_file=osp.join('gt_sets', f'{split}.txt'), **kwargs)

    def load_data_list(self) -> List[dict]:
        check_root_and_split(self, LAYOUT)
        with open(self.ann_file) as f:
            names = [line.strip() for line in f if line.strip()]
        if not names:
            raise ValueError(f'split file {self.ann_file!r} lists no samples')

        folders = dict(img_path=self.IMAGE_FILES)
        folders.update({f'{task}_path': self.TASK_FILES[task] for task in self.tasks})
        data_list, missing = [], []
        num_classes = dict(semseg=len(self.metainfo['classes']))  # label bounds checked as maps are read
        for index, name in enumerate(names):
            info = dict(sample_idx=index, name=name, tasks=self.tasks, seg_fields=[], num_classes=num_classes)
            for key, (folder, suffix) in folders.items():
                info[key] = osp.join(self.data_root, folder, name + suffix)
                if not osp.isfile(info[key]):
                    missing.append(info[key])
            data_list.append(info)
        if missing:
            raise FileNotFoundError(
                layout_message(self,
                               f'{len(missing)} file(s) listed by {self.ann_file!r} are missing, e.g. {missing[:3]}',
                               LAYOUT))
        return data_list


NYUDMultiTaskDataset.__doc__ = NYUDMultiTaskDataset.__doc__.format(layout=LAYOUT)
