from mmengine.structures import PixelData
from mmseg.structures import SegDataSample

from .tasks import TASK_SPECS


class MultiTaskDataSample(SegDataSample):
    """A ``SegDataSample`` that also carries depth, surface normal and edge maps.

    Semantic segmentation keeps mmseg's names (``gt_sem_seg``, ``pred_sem_seg``, ``seg_logits``) so mmseg
    tools keep working; every other task has a ``gt_*`` / ``pred_*`` pair, each a ``PixelData`` whose
    ``data`` is a ``C×H×W`` tensor. ``TASK_SPECS`` names the field of every task.
    """

    def get_task_gt(self, task: str) -> PixelData:
        return getattr(self, TASK_SPECS[task].gt_field)

    def set_task_pred(self, task: str, data) -> None:
        setattr(self, TASK_SPECS[task].pred_field, PixelData(data=data))

    def has_task_gt(self, task: str) -> bool:
        return hasattr(self, f'_{TASK_SPECS[task].gt_field}')


def _pixel_data_property(field: str) -> property:

    def getter(self):
        return getattr(self, f'_{field}')

    def setter(self, value: PixelData) -> None:
        self.set_field(value, f'_{field}', dtype=PixelData)

    def deleter(self) -> None:
        delattr(self, f'_{field}')

    return property(getter, setter, deleter, doc=f'``PixelData`` holding ``{field}``.')


for _spec in TASK_SPECS.values():
    for _field in (_spec.gt_field, _spec.pred_field):
        if not hasattr(MultiTaskDataSample, _field):
            setattr(MultiTaskDataSample, _field, _pixel_data_property(_field))
