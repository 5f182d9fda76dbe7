"""What each dense task is called at every stage: pipeline key, data-sample fields, padding, target type.

One table keeps the transforms, the packer, the data preprocessor, the losses and the metric in agreement
when a task is added (human parts and saliency come with the PASCAL-Context loader).
"""
from dataclasses import dataclass
from typing import Dict, Iterable, List


@dataclass(frozen=True)
class TaskSpec:
    """How one task's ground truth travels from the disk to the metric.

    Args:
        name: Task name used in configs, logs and metric keys, e.g. ``'semseg'``.
        map_key: Key of the ground-truth array in the pipeline's ``results`` dict.
        gt_field: Field of the ground truth (a ``PixelData``) in a ``MultiTaskDataSample``.
        pred_field: Field of the prediction in a ``MultiTaskDataSample``.
        channels: Channels of the ground-truth map (1 for labels and depth, 3 for normals).
        is_label: Integer label map (kept ``int64``, never interpolated) rather than a float map.
        pad_value: Value written where a batch is padded; it must mean "ignore" for the task's loss.
    """

    name: str
    map_key: str
    gt_field: str
    pred_field: str
    channels: int
    is_label: bool
    pad_value: float


TASK_SPECS: Dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec('semseg', 'gt_seg_map', 'gt_sem_seg', 'pred_sem_seg', 1, True, 255),
        TaskSpec('depth', 'gt_depth_map', 'gt_depth_map', 'pred_depth_map', 1, False, 0.0),
        TaskSpec('normals', 'gt_normal_map', 'gt_normal_map', 'pred_normal_map', 3, False, 0.0),
        TaskSpec('edge', 'gt_edge_map', 'gt_edge_map', 'pred_edge_map', 1, True, 255),
    )
}


def get_task_specs(tasks: Iterable[str]) -> List[TaskSpec]:
    """Specs of ``tasks`` in the given order; an unknown task name is an error that lists the known ones."""
    specs = []
    for task in tasks:
        if task not in TASK_SPECS:
            raise KeyError(f'unknown task {task!r}; known tasks: {sorted(TASK_SPECS)}')
        specs.append(TASK_SPECS[task])
    return specs
