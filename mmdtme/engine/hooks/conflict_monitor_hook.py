import os.path as osp
from typing import Dict, List, Optional, Sequence

import torch
from mmengine.dist import is_main_process
from mmengine.hooks import Hook

from mmdtme.dtme import (COSINE_EDGES, accumulate_conflicts, accumulate_covariance, conflict_units, cosine_histogram,
                         gram_cosines, token_spaces, unit_grams, unit_parameters)
from mmdtme.dtme.spaces import DEFAULT_RANGE_VARIANCE
from mmdtme.registry import HOOKS
from mmdtme.visualization import plot_angle_histograms
from ..runner_utils import analysis_callables, build_analysis_batches, sum_over_ranks, unwrap_model


@HOOKS.register_module()
class ConflictMonitorHook(Hook):
    """Re-measure range / null token-space conflicts every ``interval`` iterations and log them.

    Beyond the paper: it lets the paper's Tab. 14 (conflicts drop after TM / TE) be watched during training. On a
    few batches of the analysis set, in eval mode, it recomputes each block's token covariance and range space and
    counts conflicts between tasks' token gradients. After a DTME expansion, a block whose tokens are stacked task
    streams compares each task's gradient on its own stream at the same token position. Scores go to the
    visualizer backends as ``conflicts/{range,null}/block_XX`` and a one-line summary to the log.

    Args:
        interval: Measure every this many training iterations (and after the last).
        num_batches: Batches of the analysis set per process for each measurement.
        range_variance: Share τ of the variance kept in the range space. Default: the paper's r = 100.
        analysis_dataloader: Dataloader config; default: the training set with the validation pipeline.
        measure_before_train: Also measure once before the first iteration (after a DTME expansion at
            iteration 0, which runs first), the "before training" column of the paper's Tab. 14.
        angle_histogram: Also measure the distribution of the cosines between task gradients of the shared
            parameters (the paper's Fig. 4): for every layer below the ViT blocks with parameters of its own (the
            units of Recon's ``layer`` granularity, task-specific copies excluded), batch and task pair, cos φ_ij of
            the two tasks' gradients; the shares per bin of ``angle_bins`` go to the visualizer backends as
            ``gradient_angles/cos_[lo,hi)`` and, at the end of training, to ``gradient_angles.png`` in the work dir.
        angle_bins: Edges of the cosine bins. Default: :data:`mmdtme.dtme.COSINE_EDGES`.

    Every measurement is also kept in ``history`` as ``{'iter': i, 'range_conflict': [...], ...}`` (with
    ``'angle_counts'`` when the histogram is on).
    """

    priority = 'BELOW_NORMAL'

    def __init__(self,
                 interval: int = 1000,
                 num_batches: int = 2,
                 range_variance: float = DEFAULT_RANGE_VARIANCE,
                 analysis_dataloader: Optional[dict] = None,
                 measure_before_train: bool = False,
                 angle_histogram: bool = False,
                 angle_bins: Sequence[float] = COSINE_EDGES) -> None:
        if interval < 1 or num_batches < 1:
            raise ValueError(f'interval and num_batches must be >= 1, got {interval} and {num_batches}')
        self.interval = interval
        self.num_batches = num_batches
        self.range_variance = range_variance
        self.analysis_dataloader = analysis_dataloader
        self.measure_before_train = measure_before_train
        self.angle_histogram = angle_histogram
        self.angle_bins = tuple(float(edge) for edge in angle_bins)
        cosine_histogram(torch.zeros(0), self.angle_bins)  # invalid edges fail here, not at the first measurement
        self._batches = None
        self.history: List[dict] = []

    def before_train(self, runner) -> None:
        if self.measure_before_train and runner.iter == 0:
            self._measure_and_log(runner, step=0)

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if self.every_n_train_iters(runner, self.interval) or self.is_last_train_iter(runner):
            self._measure_and_log(runner, step=runner.iter + 1)

    def _measure_and_log(self, runner, step: int) -> None:
        scores = self.measure(runner)
        self.history.append(dict(iter=step, **scores))
        runner.visualizer.add_scalars(
            {
                f'conflicts/{space}/block_{layer:02d}': value
                for space in ('range', 'null')
                for layer, value in enumerate(scores[f'{space}_conflict'])
            },
            step=step)
        if 'angle_counts' in scores:
            shares = _shares(scores['angle_counts'])
            runner.visualizer.add_scalars(
                {
                    f'gradient_angles/cos_{label}': share
                    for label, share in zip(self.bin_labels, shares)
                }, step=step)
            runner.logger.info('conflict monitor at iteration {}: cosines of task gradients of the shared '
                               'parameters, share per bin: {}'.format(
                                   step,
                                   ', '.join(f'{label} {share:.3f}' for label, share in zip(self.bin_labels, shares))))
        runner.logger.info('conflict monitor at iteration {}: mean range conflict {:.3f}, mean null conflict '
                           '{:.3f} (per block: range {}, null {})'.format(
                               step,
                               sum(scores['range_conflict']) / len(scores['range_conflict']),
                               sum(scores['null_conflict']) / len(scores['null_conflict']),
                               [round(v, 3) for v in scores['range_conflict']],
                               [round(v, 3) for v in scores['null_conflict']]))

    @property
    def bin_labels(self) -> List[str]:
        edges = self.angle_bins
        return [
            f'[{lo:g},{hi:g}' + (']' if index == len(edges) - 2 else ')')
            for index, (lo, hi) in enumerate(zip(edges[:-1], edges[1:]))
        ]

    def after_run(self, runner) -> None:
        measured = [entry for entry in self.history if 'angle_counts' in entry]
        if measured and is_main_process():
            path = plot_angle_histograms([entry['iter'] for entry in measured],
                                         [_shares(entry['angle_counts']) for entry in measured], self.bin_labels,
                                         osp.join(runner.work_dir, 'gradient_angles.png'))
            runner.logger.info(f'conflict monitor: distribution of gradient angles over training plotted in {path}')

    def measure(self, runner) -> Dict[str, list]:
        """Range / null conflict scores and cosines per block on the monitor's batches."""
        model = unwrap_model(runner.model)
        backbone = model.backbone
        if self._batches is None:
            self._batches = build_analysis_batches(runner, self.analysis_dataloader, self.num_batches)
        block_outputs, task_losses = analysis_callables(model)
        was_training = model.training
        model.eval()
        try:
            covariance = accumulate_covariance(
                self._batches, block_outputs, backbone.depth, backbone.embed_dim, reduce=sum_over_ranks)
            spaces = token_spaces(covariance, self.range_variance)
            conflicts = accumulate_conflicts(
                self._batches, task_losses, list(model.tasks), spaces, reduce=sum_over_ranks, batch_size=_batch_size)
            angle_counts = None
            if self.angle_histogram:
                angle_counts = self.measure_angles(backbone, lambda batch: task_losses(batch)[0], list(model.tasks))
        finally:
            model.train(was_training)
        scores = {key: value.tolist() for key, value in conflicts.scores().items()}
        if angle_counts is not None:
            scores['angle_counts'] = angle_counts
        return scores

    def measure_angles(self, backbone, task_losses, tasks: List[str]) -> List[float]:
        """Counts per bin of cos φ_ij over (shared layer, batch, task pair) on the monitor's batches, summed over
        processes; ``task_losses(batch)`` gives ``{task: scalar loss}``."""
        blocks = backbone.vit.blocks
        plan = getattr(backbone, 'plan', None)
        copied = tuple(getattr(plan, 'copied_modules', None) or ())
        units = [
            unit for unit in conflict_units(blocks, 'layer')
            if not any(unit == c or unit.startswith(c + '.') for c in copied)
        ]
        params = unit_parameters(blocks, units)
        counts = None
        for batch in self._batches:
            with torch.enable_grad():
                losses = task_losses(batch)
                cosines = gram_cosines(unit_grams([losses[task] for task in tasks], params))  # (U, P)
            histogram = cosine_histogram(cosines, self.angle_bins)  # on the device, for the all-reduce
            counts = histogram if counts is None else counts + histogram
        sum_over_ranks([counts])
        return counts.tolist()


def _shares(counts: Sequence[float]) -> List[float]:
    total = sum(counts)
    return [count / total if total else 0.0 for count in counts]


def _batch_size(batch: tuple) -> int:
    """Samples in a prepared batch ``(inputs, data_samples)``: the rows of a shared block, or of one task stream."""
    return int(batch[0].shape[0])
