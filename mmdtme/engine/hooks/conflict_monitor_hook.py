from typing import Dict, List, Optional

from mmengine.hooks import Hook

from mmdtme.dtme import accumulate_conflicts, accumulate_covariance, token_spaces
from mmdtme.registry import HOOKS
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
        range_variance: Share τ of the variance kept in the range space.
        analysis_dataloader: Dataloader config; default: the training set with the validation pipeline.
        measure_before_train: Also measure once before the first iteration (after a DTME expansion at
            iteration 0, which runs first), the "before training" column of the paper's Tab. 14.

    Every measurement is also kept in ``history`` as ``{'iter': i, 'range_conflict': [...], ...}``.
    """

    priority = 'BELOW_NORMAL'

    def __init__(self,
                 interval: int = 1000,
                 num_batches: int = 2,
                 range_variance: float = 0.99,
                 analysis_dataloader: Optional[dict] = None,
                 measure_before_train: bool = False) -> None:
        if interval < 1 or num_batches < 1:
            raise ValueError(f'interval and num_batches must be >= 1, got {interval} and {num_batches}')
        self.interval = interval
        self.num_batches = num_batches
        self.range_variance = range_variance
        self.analysis_dataloader = analysis_dataloader
        self.measure_before_train = measure_before_train
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
        runner.logger.info('conflict monitor at iteration {}: mean range conflict {:.3f}, mean null conflict '
                           '{:.3f} (per block: range {}, null {})'.format(
                               step,
                               sum(scores['range_conflict']) / len(scores['range_conflict']),
                               sum(scores['null_conflict']) / len(scores['null_conflict']),
                               [round(v, 3) for v in scores['range_conflict']],
                               [round(v, 3) for v in scores['null_conflict']]))

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
        finally:
            model.train(was_training)
        return {key: value.tolist() for key, value in conflicts.scores().items()}


def _batch_size(batch: tuple) -> int:
    """Samples in a prepared batch ``(inputs, data_samples)``: the rows of a shared block, or of one task stream."""
    return int(batch[0].shape[0])
