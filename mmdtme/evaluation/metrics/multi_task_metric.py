import logging
from collections import defaultdict
from typing import Dict, List, Optional, Sequence, Union

import numpy as np
import torch
from mmengine.evaluator import BaseMetric
from mmengine.logging import print_log
from prettytable import PrettyTable

from mmdtme.evaluation import edge_eval, task_metrics
from mmdtme.evaluation.delta_m import delta_m, resolve_st_reference
from mmdtme.registry import METRICS
from mmdtme.structures import LOWER_IS_BETTER, TASK_SPECS


@METRICS.register_module()
class MultiTaskMetric(BaseMetric):
    """All task metrics of a multi-task model in one evaluator, plus Δm against single-task references.

    - semseg: mIoU and pixel accuracy from the dataset-level confusion matrix;
    - depth: RMSE over all valid pixels of the set (also MAE, abs. rel.);
    - normals: mean / median angular error (degrees) and % within 11.25°, 22.5°, 30°;
    - edge, by ``edge_metrics``: ``'exact'`` gives ``odsF`` / ``oisF`` / ``AP``, the BSDS protocol as SEISM runs it
      for the published tables (thinning, one-to-one matching within ``edge_max_dist`` × the image diagonal,
      :mod:`mmdtme.evaluation.edge_eval`); ``'fast'`` gives ``approx_odsF`` / ``approx_oisF``, its approximation
      for validation during training (reads high, not comparable with published numbers); ``'pixel'`` gives
      ``pixel_odsF``, a pixel-level F-measure with an ``edge_tolerance``-pixel tolerance at the best dataset-wide
      threshold (cheap, also not comparable);
    - saliency: ``maxF``, the F_β (β² = ``saliency_beta_sq``) of pixels pooled over the set at the best threshold
      (InvPT / TaskPrompter), and ``mIoU``, the per-image Jaccard index averaged over images at the best
      threshold (ASTMT / MTI-Net);
    - regression (the Taskonomy maps): ``l1`` and ``rmse`` over every channel of the valid pixels of the set, a
      pixel being ignored where all its channels hold the task's ``pad_value``.

    Args:
        tasks: Tasks to evaluate. Default: those of the model, read from the predictions.
        num_classes: Classes of semseg (an int), or of each label task (``{'human_parts': 7}``). Default:
            ``len(dataset_meta['classes'])`` for semseg, ``dataset_meta['{task}_classes']`` for others.
        ignore_index: Label ignored by semseg and edge.
        edge_metrics: Which edge evaluations to run: any of ``'exact'``, ``'fast'``, ``'pixel'``.
        edge_max_dist: Matching radius of ``'exact'`` / ``'fast'`` as a share of the image diagonal: 0.011 on
            NYUD-v2, 0.0075 on PASCAL-Context (the values of the MTL benchmarks).
        edge_thresholds: Number of evenly spaced thresholds in (0, 1) for ``'pixel'`` (``'exact'`` and ``'fast'``
            use SEISM's 101 thresholds).
        edge_tolerance: Spatial tolerance of ``'pixel'``, in pixels.
        saliency_thresholds: Probability thresholds of saliency maxF / mIoU. Default: InvPT's 0.05, ..., 0.95.
        saliency_beta_sq: β² of the saliency F-measure (0.3, as InvPT's ``SaliencyMeter``).
        st_reference: Single-task reference values for Δm, keyed like the results, e.g.
            ``{'semseg/mIoU': 45.1, 'depth/rmse': 0.54}``, or read from ST runs:
            ``{'semseg': 'work_dirs/st_semseg/test_metrics.json', 'depth': 'work_dirs/st_depth'}`` (a metrics
            JSON or a work dir), or the path of a JSON file of such values; see
            :func:`~mmdtme.evaluation.delta_m.resolve_st_reference`. Δm is reported only when given, and only when
            the evaluation reports every reference metric: a reference metric the evaluation lacks (another edge
            mode, a task the model does not have) is a warning and no Δm, never a Δm over fewer tasks.
    """

    default_prefix = ''  # keys are already 'task/metric'
    # BSDS-style edge modes: per-image statistics kept under 'edge@<mode>' (OIS needs them per image).
    EDGE_MODES = ('exact', 'fast', 'pixel')

    def __init__(self,
                 tasks: Optional[Sequence[str]] = None,
                 num_classes: Union[int, Dict[str, int], None] = None,
                 ignore_index: int = 255,
                 edge_metrics: Sequence[str] = ('pixel', ),
                 edge_max_dist: float = edge_eval.NYUD_MAX_DIST,
                 edge_thresholds: int = 99,
                 edge_tolerance: int = 1,
                 st_reference: Optional[Dict[str, Union[float, str]]] = None,
                 collect_device: str = 'cpu',
                 prefix: Optional[str] = None,
                 saliency_thresholds: Optional[Sequence[float]] = None,
                 saliency_beta_sq: float = 0.3) -> None:
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.tasks = tuple(tasks) if tasks is not None else None
        self.num_classes = num_classes
        self.ignore_index = ignore_index
        self.edge_metrics = tuple(edge_metrics)
        unknown = [name for name in self.edge_metrics if name not in self.EDGE_MODES]
        if unknown or not self.edge_metrics:
            raise ValueError(f'edge_metrics must be some of {sorted(self.EDGE_MODES)}, got {edge_metrics!r}')
        self.edge_max_dist = edge_max_dist
        self.edge_thresholds = np.linspace(0, 1, edge_thresholds + 2)[1:-1]
        self.edge_tolerance = edge_tolerance
        self.saliency_thresholds = np.asarray(
            task_metrics.SALIENCY_THRESHOLDS if saliency_thresholds is None else saliency_thresholds, dtype=float)
        self.saliency_beta_sq = saliency_beta_sq
        self.st_reference = resolve_st_reference(st_reference)
        unknown = [key for key in self.st_reference if key not in LOWER_IS_BETTER]
        if unknown:
            raise KeyError(f'st_reference keys {unknown} are not metrics; use some of {sorted(LOWER_IS_BETTER)}')
        if self.tasks is not None:
            foreign = [key for key in self.st_reference if key.partition('/')[0] not in self.tasks]
            if foreign:
                raise KeyError(f'st_reference keys {foreign} belong to no evaluated task {list(self.tasks)}: Δm '
                               'would average fewer tasks than the reference names. Remove them or add the task.')

    def _tasks_of(self, sample: dict) -> List[str]:
        if self.tasks is not None:
            return list(self.tasks)
        return [task for task, spec in TASK_SPECS.items() if spec.pred_field in sample]

    def _num_classes(self, task: str) -> int:
        """Classes of a label task: ``num_classes`` (an int for semseg, or per task), else the dataset's
        ``classes`` (semseg) / ``{task}_classes``, else the task table's default."""
        if isinstance(self.num_classes, dict) and task in self.num_classes:
            return self.num_classes[task]
        if isinstance(self.num_classes, int) and task == 'semseg':
            return self.num_classes
        meta_key = 'classes' if task == 'semseg' else f'{task}_classes'
        if self.dataset_meta and meta_key in self.dataset_meta:
            return len(self.dataset_meta[meta_key])
        if TASK_SPECS[task].num_classes is not None:
            return TASK_SPECS[task].num_classes
        raise ValueError(f'MultiTaskMetric needs num_classes for {task} (num_classes={{{task!r}: N}} or a '
                         f'dataset whose metainfo has {meta_key!r})')

    def _task_stats(self, task: str, pred: torch.Tensor, gt: torch.Tensor):
        """Summable statistics of one image for ``task``, by the task table's metric kind."""
        kind = TASK_SPECS[task].metric
        if kind == 'miou':
            return task_metrics.confusion_matrix(pred[0], gt[0], self._num_classes(task),
                                                 self.ignore_index).cpu().numpy()
        if kind == 'depth':
            return task_metrics.depth_stats(pred[0], gt[0])
        if kind == 'normals':
            return task_metrics.normal_stats(pred, gt)
        if kind == 'edge':
            return task_metrics.edge_pixel_stats(pred[0], gt[0], self.edge_thresholds, self.edge_tolerance,
                                                 self.ignore_index)
        if kind == 'saliency':
            return task_metrics.saliency_stats(pred[0], gt[0], self.saliency_thresholds, self.ignore_index)
        if kind == 'regression':
            # A pixel is ignored where every channel holds the task's pad value (its invalid marker).
            valid = ~(gt == TASK_SPECS[task].pad_value).all(dim=0)
            return task_metrics.regression_stats(pred, gt, valid)
        raise KeyError(f'MultiTaskMetric cannot evaluate task {task!r} (metric kind {kind!r}) yet')

    def _task_summary(self, task: str, stats) -> Dict[str, float]:
        """Reported numbers of ``task`` from statistics summed over the dataset."""
        kind = TASK_SPECS[task].metric
        if kind == 'miou':
            return task_metrics.miou_summary(stats)
        if kind == 'depth':
            return task_metrics.depth_summary(stats)
        if kind == 'normals':
            return task_metrics.normal_summary(stats)
        if kind == 'edge':
            return task_metrics.edge_pixel_summary(stats, self.edge_thresholds)
        if kind == 'saliency':
            return task_metrics.saliency_summary(stats, self.saliency_thresholds, self.saliency_beta_sq)
        if kind == 'regression':
            return task_metrics.regression_summary(stats)
        raise KeyError(f'MultiTaskMetric cannot summarise task {task!r} (metric kind {kind!r}) yet')

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            result = {}
            for task in self._tasks_of(sample):
                spec = TASK_SPECS[task]
                if spec.pred_field not in sample or spec.gt_field not in sample:
                    raise KeyError(f'cannot evaluate {task}: the sample has no {spec.pred_field} or '
                                   f'{spec.gt_field} (does the model predict it and the pipeline load it?)')
                pred, gt = sample[spec.pred_field]['data'], sample[spec.gt_field]['data'].to(
                    sample[spec.pred_field]['data'].device)
                if pred.shape[-2:] != gt.shape[-2:]:
                    raise ValueError(f'{task} prediction is {tuple(pred.shape[-2:])} but its ground truth is '
                                     f'{tuple(gt.shape[-2:])} for {sample.get("img_path")}')
                if spec.metric != 'edge' or 'pixel' in self.edge_metrics:
                    result[task] = self._task_stats(task, pred, gt)
                if spec.metric == 'edge':
                    for mode in self.edge_metrics:
                        if mode != 'pixel':
                            result[f'{task}@{mode}'] = edge_eval.edge_eval_stats(
                                pred[0].float().cpu().numpy(),
                                gt[0].cpu().numpy(),
                                max_dist=self.edge_max_dist,
                                mode=mode,
                                ignore_index=self.ignore_index)
            self.results.append(result)

    def compute_metrics(self, results: List[dict]) -> Dict[str, float]:
        totals: Dict[str, object] = {}
        per_image: Dict[str, list] = defaultdict(list)
        for result in results:
            for task, stats in result.items():
                if '@' in task:
                    per_image[task].append(stats)
                elif task not in totals:
                    totals[task] = stats if not isinstance(stats, dict) else dict(stats)
                elif isinstance(stats, dict):
                    totals[task] = {key: totals[task][key] + value for key, value in stats.items()}
                else:
                    totals[task] = totals[task] + stats
        metrics = {}
        for task, stats in totals.items():
            metrics.update({f'{task}/{key}': value for key, value in self._task_summary(task, stats).items()})
        for key, stats in per_image.items():
            task, _, mode = key.partition('@')
            summary = edge_eval.edge_eval_summary(stats)
            if mode == 'exact':
                metrics.update({
                    f'{task}/odsF': summary['odsF'],
                    f'{task}/oisF': summary['oisF'],
                    f'{task}/AP': summary['AP'],
                    f'{task}/ods_threshold': summary['threshold']
                })
            else:
                metrics.update({f'{task}/approx_odsF': summary['odsF'], f'{task}/approx_oisF': summary['oisF']})
        if self.st_reference:
            missing = [key for key in self.st_reference if key not in metrics]
            if missing:
                print_log(
                    f'Δm is not reported: this evaluation has no {missing} (it has {sorted(metrics)}), and a '
                    'Δm over fewer tasks than the reference would mislead. Give st_reference keys that the '
                    'evaluation reports (e.g. edge/approx_odsF for edge_metrics=(\'fast\', ...)).',
                    logger='current',
                    level=logging.WARNING)
            else:
                metrics['delta_m'] = delta_m(metrics, self.st_reference, LOWER_IS_BETTER)
        self._print_table(metrics)
        return metrics

    @staticmethod
    def _print_table(metrics: Dict[str, float]) -> None:
        rows = defaultdict(list)
        for key, value in metrics.items():
            task, _, name = key.partition('/')
            rows[task].append(f'{name}={value:.4g}' if name else f'{value:.3f} %')
        table = PrettyTable(['task', 'metrics'])
        table.align = 'l'
        for task, values in rows.items():
            table.add_row([task, ', '.join(values)])
        print_log('\n' + table.get_string(), logger='current')
