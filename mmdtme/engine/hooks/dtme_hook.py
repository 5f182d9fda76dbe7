import copy
import os.path as osp
from typing import Iterable, Iterator, List, Optional

import torch
from mmengine.dist import all_reduce, broadcast_object_list, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper
from mmengine.utils import ProgressBar

from mmdtme.dtme import AnalysisSettings, Plan, analyze
from mmdtme.registry import HOOKS
from mmdtme.visualization import save_analysis_plots

PLAN_FILE = 'dtme_plan.json'


def _unwrap(model: torch.nn.Module) -> torch.nn.Module:
    return model.module if is_model_wrapper(model) else model


def sum_over_ranks(tensors: List[torch.Tensor]) -> None:
    """In-place SUM all-reduce of the analysis statistics (a no-op in one process)."""
    if get_world_size() > 1:
        for tensor in tensors:
            all_reduce(tensor, op='sum')


@HOOKS.register_module()
class DTMEHook(Hook):
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
        range_variance: Share τ of the variance kept in the range space.
        ratio: Share ρ of the layers given TM (and TE).
        mode: Layer selection: ``conflict``, ``random``, ``reverse`` or ``swap``.
        variant: ``tm``, ``te`` or ``tm+te``.
        num_tokens: Tokens per task at a TE layer.
        modulator: ``affine`` (W ⊙ x + b) or ``bn``.
        seed: Seed of the ``random`` mode.
    """

    priority = 'ABOVE_NORMAL'
    log_name = 'DTME'  # prefix of the log lines (subclasses such as ReconHook change it)

    def __init__(self, expand_iter: int = 0, plan_file: Optional[str] = None,
                 analysis_dataloader: Optional[dict] = None, max_batches: Optional[int] = None,
                 range_variance: float = 0.99, ratio: float = 0.5, mode: str = 'conflict', variant: str = 'tm+te',
                 num_tokens: int = 6, modulator: str = 'affine', seed: int = 0) -> None:
        if expand_iter < 0:
            raise ValueError(f'expand_iter must be >= 0, got {expand_iter}')
        if max_batches is not None and max_batches < 1:
            raise ValueError(f'max_batches must be >= 1, got {max_batches}')
        self.expand_iter = expand_iter
        self.plan_file = plan_file
        self.analysis_dataloader = analysis_dataloader
        self.max_batches = max_batches
        self.settings = AnalysisSettings(range_variance=range_variance, ratio=ratio, mode=mode, variant=variant,
                                         num_tokens=num_tokens, modulator=modulator, seed=seed)

    # --- when -------------------------------------------------------------------------------------------

    def before_train(self, runner) -> None:
        if runner.iter == self.expand_iter and not self._backbone(runner).is_expanded:
            self._analyse_and_expand(runner)

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if runner.iter == self.expand_iter and not self._backbone(runner).is_expanded:
            self._analyse_and_expand(runner)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        stored = next((value for key, value in checkpoint.get('state_dict', {}).items()
                       if key.endswith('backbone.dtme_plan')), None)
        if stored is not None and stored.numel() > 0:
            self._apply(runner, Plan.from_tensor(stored), source='the checkpoint')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        plan = self._backbone(runner).plan
        if plan is not None:
            checkpoint.setdefault('meta', {})['dtme_plan'] = plan.to_dict()

    # --- what -------------------------------------------------------------------------------------------

    @staticmethod
    def _backbone(runner):
        backbone = getattr(_unwrap(runner.model), 'backbone', None)
        if backbone is None or not hasattr(backbone, 'expand'):
            raise TypeError('DTMEHook needs a model whose backbone can be expanded: set '
                            "model.backbone.type='DTMEViT'")
        return backbone

    def _analyse_and_expand(self, runner) -> None:
        if self.plan_file is not None:
            plan = Plan.load(self.plan_file)
            runner.logger.info(f'DTME: applying the plan in {self.plan_file} instead of analysing')
        else:
            plan = self.analyse(runner)
        self._apply(runner, plan, source='the analysis' if self.plan_file is None else self.plan_file)
        self.write_report(runner, plan)

    @staticmethod
    def write_report(runner, plan: Plan) -> None:
        """Save the plan and its plots to the work dir and its per-block scores to the visualizer backends."""
        scalars = {f'dtme/{key}/block_{layer:02d}': float(value)
                   for key in ('range_conflict', 'null_conflict', 'range_cosine', 'null_cosine', 'ks')
                   for layer, value in enumerate(getattr(plan, key))}
        if scalars:
            runner.visualizer.add_scalars(scalars, step=runner.iter)
        if is_main_process():
            plan.save(osp.join(runner.work_dir, PLAN_FILE))
            plots = save_analysis_plots(plan, runner.work_dir)
            runner.logger.info(f'DTME: plan written to {osp.join(runner.work_dir, PLAN_FILE)}'
                               + (f', plots {plots}' if plots else ''))

    def analyse(self, runner) -> Plan:
        """Run the analysis on the runner's model and analysis set; every process gets the same plan."""
        model = _unwrap(runner.model)
        backbone = self._backbone(runner)
        batches = build_analysis_batches(runner, self.analysis_dataloader, self.max_batches)
        block_outputs, task_losses = analysis_callables(model)

        runner.logger.info(f'DTME: analysing the token space of {backbone.depth} blocks on {len(batches)} '
                           f'batches per process ({get_world_size()} processes): covariance pass, then conflict '
                           f'pass with {len(model.tasks)} backward passes per batch')
        was_training = model.training
        model.eval()
        try:
            plan = analyze(batches, block_outputs, task_losses, list(model.tasks), backbone.depth,
                           backbone.embed_dim, self.settings, reduce=sum_over_ranks, progress=_progress)
        finally:
            model.train(was_training)
        # Every rank computed the same plan from the summed statistics; rank 0's copy is authoritative.
        shared = [plan.to_json()]
        broadcast_object_list(shared, src=0)
        return Plan.from_json(shared[0])

    def _apply(self, runner, plan: Plan, source: str) -> None:
        model = _unwrap(runner.model)
        backbone = self._backbone(runner)
        before = sum(p.numel() for p in model.parameters())
        new_params = backbone.expand(plan)
        if not new_params:
            return
        # Net change: task-specific copies replace the shared parameters they were made from.
        added = sum(p.numel() for p in model.parameters()) - before
        copies = f', copied modules {plan.copied_modules}' if plan.copied_modules else ''
        runner.logger.info(f'{self.log_name}: expanded the backbone with the plan from {source}:\n'
                           f'{plan.summary_table()}\nTM layers {plan.tm_layers}, TE layers {plan.te_layers}{copies}: '
                           f'+{added} parameters (+{100.0 * added / before:.3f} % of {before})')
        if isinstance(runner.optim_wrapper, OptimWrapper):
            self._add_param_group(runner, new_params)
        if is_model_wrapper(runner.model):
            runner.model = runner.wrap_model(runner.cfg.get('model_wrapper_cfg'), model)

    @staticmethod
    def _add_param_group(runner, params: List[torch.nn.Parameter]) -> None:
        optimizer = runner.optim_wrapper.optimizer
        reference = optimizer.param_groups[0]
        group = {key: copy.deepcopy(value) for key, value in reference.items() if key != 'params'}
        group['params'] = params
        optimizer.add_param_group(group)
        schedulers = runner.param_schedulers or []
        if isinstance(schedulers, dict):
            schedulers = [s for group_schedulers in schedulers.values() for s in group_schedulers]
        for scheduler in schedulers:
            # Closed-form schedulers (cosine...) read base_values per group; the new group starts like group 0.
            if len(scheduler.base_values) == len(optimizer.param_groups) - 1:
                scheduler.base_values.append(scheduler.base_values[0])
            if hasattr(scheduler, '_last_value') and len(scheduler._last_value) == len(optimizer.param_groups) - 1:
                scheduler._last_value.append(scheduler._last_value[0])


def default_analysis_loader_cfg(cfg) -> dict:
    """The default analysis set: the training dataset with the validation pipeline, unshuffled, no padding."""
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg['dataset']['pipeline'] = copy.deepcopy(cfg.val_dataloader['dataset']['pipeline'])
    loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=False, round_up=False)
    loader_cfg['persistent_workers'] = False
    return loader_cfg


def build_analysis_batches(runner, dataloader_cfg: Optional[dict] = None, max_batches: Optional[int] = None):
    """The analysis set: ``dataloader_cfg``, or the training set with the validation pipeline, unshuffled."""
    if dataloader_cfg is not None:
        loader_cfg = copy.deepcopy(dataloader_cfg)
    else:
        loader_cfg = default_analysis_loader_cfg(runner.cfg)
    loader = runner.build_dataloader(loader_cfg, seed=runner.seed)
    limit = len(loader) if max_batches is None else min(max_batches, len(loader))
    if limit == 0:
        raise ValueError('the DTME analysis set is empty: the analysis dataloader yields no batch. Point '
                         'analysis_dataloader (or the training set) at data')
    return _Limited(loader, limit)


def analysis_callables(model):
    """``block_outputs(data_batch)`` and ``task_losses(data_batch)`` of a ``MultiTaskSegmentor`` for the analysis."""

    def prepared(data_batch):
        data = model.data_preprocessor(data_batch, training=True)  # training=True pads the ground truth
        return data['inputs'], data['data_samples']

    def block_outputs(data_batch):
        return model.backbone.forward_with_block_outputs(prepared(data_batch)[0])[1]

    def task_losses(data_batch):
        return model.task_losses_with_block_outputs(*prepared(data_batch))

    return block_outputs, task_losses


class _Limited:
    """The first ``limit`` batches of a dataloader, re-iterable (the analysis makes two passes)."""

    def __init__(self, loader: Iterable, limit: int) -> None:
        self.loader = loader
        self.limit = limit

    def __len__(self) -> int:
        return self.limit

    def __iter__(self) -> Iterator:
        for index, batch in enumerate(self.loader):
            if index == self.limit:
                break
            yield batch


def _progress(batches: _Limited) -> Iterator:
    bar = ProgressBar(len(batches)) if is_main_process() else None
    for batch in batches:
        yield batch
        if bar is not None:
            bar.update()
    if bar is not None:
        print(flush=True)
