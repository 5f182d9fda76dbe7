"""What each dense task is called at every stage: pipeline key, data-sample fields, padding, target type.

One table keeps the transforms, the packer, the data preprocessor, the heads, the losses and the metric in
agreement: adding a task is adding a row here (and, if its files have a new format, a loader in
``datasets/transforms/loading.py``).
"""
from dataclasses import dataclass, field
from typing import Dict, Iterable, List, Optional, Tuple

# What each metric kind reports, and whether lower is better for each number (Δm's sign; ↑ / ↓ in tables).
METRIC_DIRECTIONS: Dict[str, Dict[str, bool]] = {
    'miou': {
        'mIoU': False,
        'aAcc': False
    },
    'depth': {
        'rmse': True,
        'mae': True,
        'abs_rel': True
    },
    'normals': {
        'mean': True,
        'median': True,
        'within_11.25': False,
        'within_22.5': False,
        'within_30': False
    },
    'edge': {
        'odsF': False,
        'oisF': False,
        'AP': False,
        'approx_odsF': False,
        'approx_oisF': False,
        'pixel_odsF': False
    },
    'saliency': {
        'maxF': False,
        'mIoU': False
    },
    'regression': {
        'l1': True,
        'rmse': True
    },
}
# The one number per metric kind that Δm averages over, as in the published tables, in order of preference: BSDS
# odsF for edges when a run reports it, its fast approximation next, the pixel-level stand-in last.
MAIN_METRICS_OF_KIND: Dict[str, Tuple[str, ...]] = {
    'miou': ('mIoU', ),
    'depth': ('rmse', ),
    'normals': ('mean', ),
    'edge': ('odsF', 'approx_odsF', 'pixel_odsF'),
    'saliency': ('maxF', ),
    'regression': ('l1', ),  # Taskonomy: L1 for every task, as the published Taskonomy MTL tables
}


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
        metric: How :class:`MultiTaskMetric` evaluates it: ``'miou'``, ``'depth'``, ``'normals'``, ``'edge'``,
            ``'saliency'`` (maxF and mIoU of a binary map) or ``'regression'`` (L1 / RMSE of a float map). The kind
            fixes the reported numbers, their direction and the main metric (``METRIC_DIRECTIONS``,
            ``MAIN_METRICS_OF_KIND``).
        output_type: How a head turns raw outputs into predictions: ``'label'`` (argmax), ``'sigmoid'``,
            ``'normalize'`` (unit vectors) or ``'identity'``.
        loss: The head's default loss config.
        num_classes: Output channels of a label task's head when the dataset does not say (None: ask).
    """

    name: str
    map_key: str
    gt_field: str
    pred_field: str
    channels: int
    is_label: bool
    pad_value: float
    metric: str
    output_type: str
    loss: dict = field(default_factory=dict, hash=False)
    num_classes: Optional[int] = None

    @property
    def metric_directions(self) -> Dict[str, bool]:
        """``{'task/name': lower_is_better}`` of every number the task's metric reports."""
        return {f'{self.name}/{name}': lower for name, lower in METRIC_DIRECTIONS[self.metric].items()}

    @property
    def main_metrics(self) -> Tuple[str, ...]:
        """Keys of the task's main metric (the one Δm uses), in order of preference."""
        return tuple(f'{self.name}/{name}' for name in MAIN_METRICS_OF_KIND[self.metric])


TASK_SPECS: Dict[str, TaskSpec] = {
    spec.name: spec
    for spec in (
        TaskSpec('semseg', 'gt_seg_map', 'gt_sem_seg', 'pred_sem_seg', 1, True, 255, 'miou', 'label',
                 dict(type='PixelCrossEntropyLoss')),
        TaskSpec('depth', 'gt_depth_map', 'gt_depth_map', 'pred_depth_map', 1, False, 0.0, 'depth', 'identity',
                 dict(type='MaskedL1Loss', ignore_value=0.0)),
        TaskSpec('normals', 'gt_normal_map', 'gt_normal_map', 'pred_normal_map', 3, False, 0.0, 'normals', 'normalize',
                 dict(type='NormalL1Loss')),
        TaskSpec('edge', 'gt_edge_map', 'gt_edge_map', 'pred_edge_map', 1, True, 255, 'edge', 'sigmoid',
                 dict(type='BalancedBCELoss')),
        # PASCAL-Context: 6 body parts + background; images without people are all ignore (255).
        TaskSpec(
            'human_parts',
            'gt_parts_map',
            'gt_parts_map',
            'pred_parts_map',
            1,
            True,
            255,
            'miou',
            'label',
            dict(type='PixelCrossEntropyLoss'),
            num_classes=7),
        # PASCAL-Context saliency (distilled, thresholded at 0.5): a 2-class label map.
        TaskSpec('saliency', 'gt_saliency_map', 'gt_saliency_map', 'pred_saliency_map', 1, True, 255, 'saliency',
                 'sigmoid', dict(type='BalancedBCELoss', pos_weight=None)),
        # Taskonomy (datasets/taskonomy.py): float maps rescaled as in the MTL protocol of Jeong & Yoon, 255 where
        # the file marks a pixel invalid (surface normals: the zero vector), evaluated by L1 / RMSE.
        TaskSpec('depth_euclidean', 'gt_depth_euclidean_map', 'gt_depth_euclidean_map', 'pred_depth_euclidean_map', 1,
                 False, 255.0, 'regression', 'identity', dict(type='MaskedL1Loss', ignore_value=255.0)),
        TaskSpec('depth_zbuffer', 'gt_depth_zbuffer_map', 'gt_depth_zbuffer_map', 'pred_depth_zbuffer_map', 1, False,
                 255.0, 'regression', 'identity', dict(type='MaskedL1Loss', ignore_value=255.0)),
        TaskSpec('edge_occlusion', 'gt_edge_occlusion_map', 'gt_edge_occlusion_map', 'pred_edge_occlusion_map', 1,
                 False, 255.0, 'regression', 'identity', dict(type='MaskedL1Loss', ignore_value=255.0)),
        TaskSpec('edge_texture', 'gt_edge_texture_map', 'gt_edge_texture_map', 'pred_edge_texture_map', 1, False, 255.0,
                 'regression', 'identity', dict(type='MaskedL1Loss', ignore_value=255.0)),
        TaskSpec('keypoints2d', 'gt_keypoints2d_map', 'gt_keypoints2d_map', 'pred_keypoints2d_map', 1, False, 255.0,
                 'regression', 'identity', dict(type='MaskedL1Loss', ignore_value=255.0)),
        TaskSpec('keypoints3d', 'gt_keypoints3d_map', 'gt_keypoints3d_map', 'pred_keypoints3d_map', 1, False, 255.0,
                 'regression', 'identity', dict(type='MaskedL1Loss', ignore_value=255.0)),
        TaskSpec('normal', 'gt_surface_normal_map', 'gt_surface_normal_map', 'pred_surface_normal_map', 3, False, 0.0,
                 'regression', 'normalize', dict(type='NormalL1Loss')),
        TaskSpec('principal_curvature', 'gt_principal_curvature_map', 'gt_principal_curvature_map',
                 'pred_principal_curvature_map', 2, False, 255.0, 'regression', 'identity',
                 dict(type='MaskedL1Loss', ignore_value=255.0)),
        TaskSpec('reshading', 'gt_reshading_map', 'gt_reshading_map', 'pred_reshading_map', 1, False, 255.0,
                 'regression', 'identity', dict(type='MaskedL1Loss', ignore_value=255.0)),
        TaskSpec('segment_unsup2d', 'gt_segment_unsup2d_map', 'gt_segment_unsup2d_map', 'pred_segment_unsup2d_map', 1,
                 False, 255.0, 'regression', 'identity', dict(type='MaskedL1Loss', ignore_value=255.0)),
        TaskSpec('segment_unsup25d', 'gt_segment_unsup25d_map', 'gt_segment_unsup25d_map', 'pred_segment_unsup25d_map',
                 1, False, 255.0, 'regression', 'identity', dict(type='MaskedL1Loss', ignore_value=255.0)),
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


# Derived views of the table, for code that looks metrics up by key.
LOWER_IS_BETTER: Dict[str, bool] = {
    key: lower
    for spec in TASK_SPECS.values()
    for key, lower in spec.metric_directions.items()
}
MAIN_METRICS: Dict[str, Tuple[str, ...]] = {task: spec.main_metrics for task, spec in TASK_SPECS.items()}
