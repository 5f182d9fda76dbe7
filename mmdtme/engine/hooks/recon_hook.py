import json
import os.path as osp
import time
from typing import Optional

from mmengine.dist import broadcast_object_list, get_world_size, is_main_process

from mmdtme.dtme import GRANULARITIES, Plan, ReconResult, measure_conflicts
from mmdtme.registry import HOOKS
from mmdtme.visualization import plot_recon_scores
from ..runner_utils import analysis_callables, progress, sum_over_ranks, unwrap_model
from .expansion_hook import ExpansionHook

PLAN_FILE = 'recon_plan.json'
SCORES_FILE = 'recon_conflicts.json'
PLOT_FILE = 'recon_conflicts.png'


@HOOKS.register_module()
class ReconHook(ExpansionHook):
    """Recon (Shi et al., ICLR 2023): turn the shared layers with the most conflicting gradients into task copies.

    At iteration ``start_iter`` (before that iteration's step) the hook measures, on ``num_batches`` batches per
    process and in eval mode, every task's gradient with respect to the parameters of each candidate unit of the
    ViT blocks (whole blocks, their sub-layers, or single parametrised modules, see ``granularity``), counts the
    (batch, task pair) occurrences whose cosine is below ``threshold`` (S), sums the counts over processes, and
    gives each task its own copy of the ``k`` units with the highest counts, initialised from the shared weights
    (:func:`mmdtme.dtme.measure_conflicts`). Training then continues; the copies join the optimizer as their own
    group. The plan (``recon_plan.json``, which ``plan_file=`` accepts), the scores (``recon_conflicts.json``),
    a per-unit table (log) and a plot (``recon_conflicts.png``) go to the work dir.

    The wiring is :class:`ExpansionHook`'s, as for :class:`DTMEHook`: the backbone must be a ``DTMEViT``; the plan
    is broadcast from rank 0; DDP is re-wrapped; resume and ``tools/test.py`` rebuild the copies from the plan in
    the checkpoint.

    Args:
        start_iter: Iteration at which to measure and copy. Default: 0.
        num_batches: Batches per process to measure on. Default: 20.
        threshold: S; a pair conflicts on a unit when its gradient cosine is below it. Default: 0.0 (the official
            code uses 0.0 on Cityscapes, -0.02 on NYUv2).
        k: Number of units made task-specific. Default: 1.
        granularity: ``block``, ``sublayer`` (norm1 / attn / norm2 / mlp) or ``layer`` (each Linear /
            LayerNorm, the paper's granularity). Default: ``block``.
        plan_file: Apply this saved plan instead of measuring.
        dataloader: Dataloader config of the measurement set. Default: the training dataset with the validation
            pipeline, unshuffled, with the training batch size (as :class:`DTMEHook`'s analysis set).
    """

    log_name = 'Recon'

    def __init__(self,
                 start_iter: int = 0,
                 num_batches: Optional[int] = 20,
                 threshold: float = 0.0,
                 k: int = 1,
                 granularity: str = 'block',
                 plan_file: Optional[str] = None,
                 dataloader: Optional[dict] = None) -> None:
        super().__init__(
            expand_iter=start_iter, plan_file=plan_file, analysis_dataloader=dataloader, max_batches=num_batches)
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f'threshold S is a cosine, in [-1, 1]; got {threshold}')
        if k < 1:
            raise ValueError(f'k must be >= 1, got {k}')
        if granularity not in GRANULARITIES:
            raise ValueError(f'granularity must be one of {GRANULARITIES}, got {granularity!r}')
        self.threshold = threshold
        self.k = k
        self.granularity = granularity
        self.result: Optional[ReconResult] = None

    def _due(self, runner) -> bool:
        if runner.iter != self.expand_iter:
            return False
        plan = self._backbone(runner).plan
        if plan is None:
            return True
        if not plan.copied_modules:
            # Adding copies to an expanded backbone would need a second expansion, which DTMEViT refuses.
            raise ValueError('ReconHook: the backbone is already expanded by a plan without task-specific copies '
                             f'(TM layers {plan.tm_layers}, TE layers {plan.te_layers}). To combine DTME and Recon, '
                             'write one plan with tm_layers / te_layers and copied_modules and apply it with '
                             'plan_file=')
        return False  # resumed from an expanded checkpoint

    def analyse(self, runner) -> Plan:
        """Measure the conflict scores on the runner's model; every process gets rank 0's plan."""
        model = unwrap_model(runner.model)
        backbone = self._backbone(runner)
        batches = self.analysis_batches(runner)
        _, task_losses = analysis_callables(model)
        runner.logger.info(f'Recon: measuring parameter-gradient conflicts of the {self.granularity} units of '
                           f'{backbone.depth} blocks on {len(batches)} batches per process ({get_world_size()} '
                           f'processes), {len(model.tasks)} backward passes per batch, S={self.threshold}')
        was_training = model.training
        model.eval()
        start = time.perf_counter()
        try:
            result = measure_conflicts(
                batches,
                lambda batch: task_losses(batch)[0],
                list(model.tasks),
                backbone.vit.blocks,
                self.granularity,
                self.threshold,
                self.k,
                reduce=sum_over_ranks,
                progress=progress)
        finally:
            model.train(was_training)
        runner.logger.info(f'Recon: measurement took {time.perf_counter() - start:.1f} s')
        shared = [json.dumps(result.to_dict())]  # rank 0's choice is authoritative
        broadcast_object_list(shared, src=0)
        self.result = ReconResult(**json.loads(shared[0]))
        return Plan(
            tasks=list(model.tasks),
            num_layers=backbone.depth,
            channels=backbone.embed_dim,
            copied_modules=list(self.result.selected)).validate()

    def write_report(self, runner, plan: Plan) -> None:
        """Save the plan, the scores and their plot to the work dir, the scores to the visualizer backends."""
        result = self.result
        if result is not None:
            runner.logger.info(result.table())
            scalars = {
                f'recon/{key}/{unit}': float(value)
                for key in ('conflict_rate', 'mean_cosine')
                for unit, value in zip(result.units, getattr(result, key))
            }
            runner.visualizer.add_scalars(scalars, step=runner.iter)
        if not is_main_process():
            return
        plan.save(osp.join(runner.work_dir, PLAN_FILE))
        written = [PLAN_FILE]
        if result is not None:
            with open(osp.join(runner.work_dir, SCORES_FILE), 'w', encoding='utf-8') as f:
                json.dump(result.to_dict(), f, indent=2)
            plot_recon_scores(result, osp.join(runner.work_dir, PLOT_FILE))
            written += [SCORES_FILE, PLOT_FILE]
        runner.logger.info(f'Recon: wrote {", ".join(written)} to {runner.work_dir}')
