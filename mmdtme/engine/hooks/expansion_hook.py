import copy
import os.path as osp
from typing import List, Optional

import torch
from mmengine.hooks import Hook
from mmengine.model import is_model_wrapper
from mmengine.optim import OptimWrapper

from mmdtme.dtme import Plan
from ..runner_utils import build_analysis_batches, unwrap_model


class ExpansionHook(Hook):
    """Base of the hooks that turn shared parts of a ``DTMEViT`` backbone into task-specific ones during training.

    It decides *when* (``_due``: at ``expand_iter``, before that iteration's step) and wires the runner: the plan is
    applied to the backbone, the new parameters join the optimizer as their own group with the first group's
    hyper-parameters (so the parameter schedulers drive them like the rest), DDP is wrapped again so they are
    synchronised, and the plan is saved in each checkpoint. On resume (or ``load_from``) of an expanded checkpoint
    the model and the optimizer are expanded from the stored plan before their states load. What the plan is comes
    from a subclass: ``analyse(runner)`` computes it and ``write_report(runner, plan)`` records it.

    Args:
        expand_iter: Iteration at which to analyse and expand.
        plan_file: Apply this saved plan instead of calling ``analyse``.
        analysis_dataloader: Dataloader config of the analysis set (``None``: the subclass's default).
        max_batches: Use at most this many batches of the analysis set per process.
        batch_size: Batch size of the analysis set (default: that of its dataloader config).
        freeze_backbone: After the expansion, train only the new parameters of the backbone (and everything
            outside it: neck, heads); the backbone's earlier parameters stop receiving gradients (the freeze
            ablation of DTME-MTL, Tab. 12).
    """

    priority = 'ABOVE_NORMAL'
    log_name = 'Expansion'  # prefix of the log lines and name in errors

    def __init__(self,
                 expand_iter: int = 0,
                 plan_file: Optional[str] = None,
                 analysis_dataloader: Optional[dict] = None,
                 max_batches: Optional[int] = None,
                 batch_size: Optional[int] = None,
                 freeze_backbone: bool = False) -> None:
        if expand_iter < 0:
            raise ValueError(f'expand_iter must be >= 0, got {expand_iter}')
        if max_batches is not None and max_batches < 1:
            raise ValueError(f'max_batches must be >= 1, got {max_batches}')
        if batch_size is not None and batch_size < 1:
            raise ValueError(f'batch_size must be >= 1, got {batch_size}')
        self.expand_iter = expand_iter
        self.plan_file = plan_file
        self.analysis_dataloader = analysis_dataloader
        self.max_batches = max_batches
        self.batch_size = batch_size
        self.freeze_backbone = freeze_backbone
        self._analysis_batches = None  # built when training starts, used once by the analysis

    # --- to be provided by a subclass ------------------------------------------------------------------

    def analyse(self, runner) -> Plan:
        """The plan for the runner's model; every process must get the same one."""
        raise NotImplementedError

    def write_report(self, runner, plan: Plan) -> None:
        """Record the plan (work dir, log, visualizer backends)."""
        raise NotImplementedError

    # --- when -------------------------------------------------------------------------------------------

    def _due(self, runner) -> bool:
        return runner.iter == self.expand_iter and not self._backbone(runner).is_expanded

    def before_train(self, runner) -> None:
        self.check_before_training(runner)
        if self._due(runner):
            self._analyse_and_expand(runner)

    def check_before_training(self, runner) -> None:
        """Catch at the start of training what would otherwise fail at ``expand_iter``, hours later: fewer than
        two tasks, a missing or mismatched plan file, an empty analysis set (built here and kept for the analysis).
        """
        model, backbone = unwrap_model(runner.model), self._backbone(runner)
        tasks = list(getattr(model, 'tasks', []))
        if len(tasks) < 2:
            raise ValueError(f'{type(self).__name__} needs at least 2 tasks (it compares task gradients), but the '
                             f'model has {tasks}: train a single task with a Baseline config, without the hook')
        if backbone.plan is not None:
            return  # resumed after the expansion: nothing left to check
        if self.plan_file is not None:
            if not osp.isfile(self.plan_file):
                raise FileNotFoundError(f'{type(self).__name__}: plan_file {self.plan_file!r} does not exist (write '
                                        'one with tools/analyze.py CONFIG --out DIR, or drop plan_file to analyse)')
            Plan.load(self.plan_file).check_compatible(tasks, backbone.depth, backbone.embed_dim)
        else:
            self._analysis_batches = build_analysis_batches(runner, self.analysis_dataloader, self.max_batches,
                                                            self.batch_size)

    def analysis_batches(self, runner):
        """The analysis set, built once (at the start of training, when the hook checked it)."""
        batches = self._analysis_batches
        if batches is None:
            batches = build_analysis_batches(runner, self.analysis_dataloader, self.max_batches, self.batch_size)
        self._analysis_batches = None  # the loader is not kept for the rest of training
        return batches

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._due(runner):
            self._analyse_and_expand(runner)

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        plan = Plan.from_state_dict(checkpoint.get('state_dict', {}))
        if plan is not None:
            self._apply(runner, plan, source='the checkpoint')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        plan = self._backbone(runner).plan
        if plan is not None:
            checkpoint.setdefault('meta', {})['dtme_plan'] = plan.to_dict()

    # --- how --------------------------------------------------------------------------------------------

    @classmethod
    def _backbone(cls, runner):
        backbone = getattr(unwrap_model(runner.model), 'backbone', None)
        if backbone is None or not hasattr(backbone, 'expand'):
            raise TypeError(f'{cls.__name__} needs a model whose backbone can be expanded: set '
                            "model.backbone.type='DTMEViT'")
        return backbone

    def _analyse_and_expand(self, runner) -> None:
        if self.plan_file is not None:
            plan = Plan.load(self.plan_file)
            runner.logger.info(f'{self.log_name}: applying the plan in {self.plan_file} instead of analysing')
        else:
            plan = self.analyse(runner)
        self._apply(runner, plan, source='the analysis' if self.plan_file is None else self.plan_file)
        self.write_report(runner, plan)

    def _apply(self, runner, plan: Plan, source: str) -> None:
        model = unwrap_model(runner.model)
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
        if self.freeze_backbone:
            self._freeze_all_but(runner, backbone, new_params)
        if isinstance(runner.optim_wrapper, OptimWrapper):
            self._add_param_group(runner, new_params)
        if is_model_wrapper(runner.model):
            runner.model = runner.wrap_model(runner.cfg.get('model_wrapper_cfg'), model)

    def _freeze_all_but(self, runner, backbone: torch.nn.Module, trained: List[torch.nn.Parameter]) -> None:
        # Frozen parameters get no gradient: the optimizer skips them (no weight decay either) and DDP, wrapped
        # again below, does not register them.
        keep = {id(p) for p in trained}
        frozen = [p for p in backbone.parameters() if id(p) not in keep and p.requires_grad]
        for param in frozen:
            param.requires_grad_(False)
        runner.logger.info(f'{self.log_name}: froze {sum(p.numel() for p in frozen)} backbone parameters '
                           f'(freeze_backbone=True); the {sum(p.numel() for p in trained)} new ones train')

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
