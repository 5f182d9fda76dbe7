import os.path as osp
from typing import Optional

from mmengine.dist import broadcast_object_list, get_world_size, is_main_process

from mmdtme.dtme import AnalysisSettings, Plan, StoppingRule, analyze, range_variance_from_r
from mmdtme.dtme.spaces import DEFAULT_RANGE_VARIANCE
from mmdtme.registry import HOOKS
from mmdtme.visualization import save_analysis_plots
from ..runner_utils import analysis_callables, logged_peak_memory, progress, sum_over_ranks, unwrap_model
from .expansion_hook import ExpansionHook

PLAN_FILE = 'dtme_plan.json'


@HOOKS.register_module()
class DTMEHook(ExpansionHook):
    """Analyse the token space once, expand the backbone with TM / TE, and keep training (DTME-MTL).

    At iteration ``expand_iter`` (before that iteration's step) the hook runs the analysis of
    :func:`mmdtme.dtme.analyze` on the analysis set, in eval mode, sums its statistics over all processes, and
    expands the model's ``DTMEViT`` backbone with the resulting plan. The new parameters join the optimizer as
    their own group with the first group's hyper-parameters, so the parameter schedulers drive them like the
    rest; under DDP the model is wrapped again so the new parameters are synchronised. The plan, a per-layer
    table and plots go to the work dir.

    On resume (or ``load_from``) of an expanded checkpoint the model and the optimizer are expanded from the
    plan stored in the checkpoint before their states load, and the analysis does not run again.

    Args:
        expand_iter: Iteration at which to analyse and expand. Default: 0.
        plan_file: Apply this saved plan instead of running the analysis.
        analysis_dataloader: Dataloader config of the analysis set. Default: the training dataset with the
            validation pipeline, unshuffled, with the training batch size.
        max_batches: Use at most this many batches of the analysis set per process.
        range_null_ratio: The paper's knob r (Eq. 3, values 1 to 1000, default 100): the range space keeps
            r / (1 + r) of the variance (:func:`mmdtme.dtme.range_variance_from_r`). Give it or ``range_variance``.
        range_variance: Share τ of the variance kept in the range space. Default: r = 100, τ = 100 / 101.
        ratio: Share ρ of the layers given TM (and TE).
        mode: Layer selection: ``conflict``, ``random``, ``reverse`` or ``swap``.
        variant: ``tm``, ``te`` or ``tm+te``.
        num_tokens: Tokens per task at a TE layer.
        modulator: ``affine`` (W ⊙ x + b) or ``bn``.
        seed: Seed of the ``random`` mode.
        stop: ``full`` reads the whole analysis set in both passes (the paper's protocol); ``adaptive`` stops each
            pass once its result is settled and lists the layers it found tied (docs/design.md §1.7).
        stopping: Settings of the adaptive rule, keys of :class:`mmdtme.dtme.StoppingRule`.
        batch_size: Batch size of the analysis set (default: the training batch size). The conflict pass holds
            T x L token gradients in float32, so a batch tuned for an AMP training step may need a smaller one.
        freeze_backbone: Train only TM / TE (and the heads) after the expansion (Tab. 12's ablation).
    """

    log_name = 'DTME'

    def __init__(self,
                 expand_iter: int = 0,
                 plan_file: Optional[str] = None,
                 analysis_dataloader: Optional[dict] = None,
                 max_batches: Optional[int] = None,
                 range_null_ratio: Optional[float] = None,
                 range_variance: Optional[float] = None,
                 ratio: float = 0.5,
                 mode: str = 'conflict',
                 variant: str = 'tm+te',
                 num_tokens: int = 6,
                 modulator: str = 'affine',
                 seed: int = 0,
                 stop: str = 'full',
                 stopping: Optional[dict] = None,
                 batch_size: Optional[int] = None,
                 freeze_backbone: bool = False) -> None:
        super().__init__(
            expand_iter=expand_iter,
            plan_file=plan_file,
            analysis_dataloader=analysis_dataloader,
            max_batches=max_batches,
            batch_size=batch_size,
            freeze_backbone=freeze_backbone)
        if range_null_ratio is not None and range_variance is not None:
            raise ValueError('DTMEHook: give range_null_ratio (the paper\'s r) or range_variance (τ), not both')
        if range_null_ratio is not None:
            range_variance = range_variance_from_r(range_null_ratio)
        elif range_variance is None:
            range_variance = DEFAULT_RANGE_VARIANCE
        if stop not in ('full', 'adaptive'):
            raise ValueError(f"DTMEHook: stop must be 'full' or 'adaptive', got {stop!r}")
        if stopping is not None and stop != 'adaptive':
            raise ValueError("DTMEHook: stopping= sets the adaptive rule; it needs stop='adaptive'")
        self.stop = stop
        self.stopping = StoppingRule(**(stopping or {}))
        self.settings = AnalysisSettings(
            range_variance=range_variance,
            ratio=ratio,
            mode=mode,
            variant=variant,
            num_tokens=num_tokens,
            modulator=modulator,
            seed=seed)

    def write_report(self, runner, plan: Plan) -> None:
        """Save the plan and its plots to the work dir and its per-block scores to the visualizer backends."""
        scalars = {
            f'dtme/{key}/block_{layer:02d}': float(value)
            for key in ('range_conflict', 'null_conflict', 'range_cosine', 'null_cosine', 'ks')
            for layer, value in enumerate(getattr(plan, key))
        }
        if scalars:
            runner.visualizer.add_scalars(scalars, step=runner.iter)
        if is_main_process():
            plan.save(osp.join(runner.work_dir, PLAN_FILE))
            plots = save_analysis_plots(plan, runner.work_dir)
            runner.logger.info(f'DTME: plan written to {osp.join(runner.work_dir, PLAN_FILE)}' +
                               (f', plots {plots}' if plots else ''))

    def analyse(self, runner) -> Plan:
        """Run the analysis on the runner's model and analysis set; every process gets the same plan."""
        model = unwrap_model(runner.model)
        backbone = self._backbone(runner)
        batches = self.analysis_batches(runner)
        block_outputs, task_losses = analysis_callables(model)

        reads = 'up to ' if self.stop == 'adaptive' else ''
        runner.logger.info(f'DTME: analysing the token space of {backbone.depth} blocks on {reads}{len(batches)} '
                           f'batches per process ({get_world_size()} processes): covariance pass, then conflict '
                           f'pass with {len(model.tasks)} backward passes per batch' +
                           (', each stopped once settled' if self.stop == 'adaptive' else ''))
        was_training = model.training
        model.eval()
        try:
            with logged_peak_memory(runner.logger, 'DTME: the analysis', 'DTMEHook(batch_size=...)'):
                plan = analyze(
                    batches,
                    block_outputs,
                    task_losses,
                    list(model.tasks),
                    backbone.depth,
                    backbone.embed_dim,
                    self.settings,
                    reduce=sum_over_ranks,
                    progress=progress,
                    stop=self.stop,
                    rule=self.stopping)
        finally:
            model.train(was_training)
        for reason in plan.stop_reasons:
            runner.logger.info(f'DTME: {reason}')
        # Every rank computed the same plan from the summed statistics; rank 0's copy is authoritative.
        shared = [plan.to_json()]
        broadcast_object_list(shared, src=0)
        return Plan.from_json(shared[0])
