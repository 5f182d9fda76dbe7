"""An mmengine optim wrapper that updates a multi-task model from its per-task losses (MTO baselines).

Design. mmengine's train step hands the optim wrapper one scalar (``update_params(loss)``); multi-task
optimisation needs the T task losses. So the optim wrapper gets a second entry point,
``update_task_params(task_losses, model, recompute)``, and the model's train step calls it:
``MultiTaskSegmentor.train_step`` in one process and the ``MultiTaskDDP`` model wrapper under DDP (mmengine calls
the *wrapper's* ``train_step`` there, so a model-level override alone would be skipped). Everything else stays
mmengine's: ``optim_context`` (gradient accumulation, AMP autocast), ``scale_loss``, ``step`` (gradient clipping,
the AMP loss scaler), ``zero_grad``, the param schedulers, and the checkpointed ``state_dict``. A plain
``update_params`` call is refused, so a misconfigured run fails instead of silently training GD.

Per step, with losses ℓ (T,) and ℓ̄ = ℓ averaged over the DDP processes (detached):

1. Loss weighting (``loss_weighting=``, optional): ℓ ← weighter(ℓ, ℓ̄) (UW, DWA, FAMO, IMTL-L).
2. Without an aggregator (GD and the loss-weighting methods): one backward of Σ ℓ_t.
   With one (``aggregator=``): T backward passes (``autograd.grad`` of each ℓ_t) give the rows of the Jacobian
   J (T, P) of the *shared* parameters; the same passes accumulate the gradients of the task-specific
   parameters, which thus get exactly their own task's gradient, as one backward of Σ ℓ_t would give them.
3. At an update step (every ``accumulative_counts`` iterations): under DDP, J and every other gradient are
   averaged over the processes (J and other large tensors in place, the small ones in one all-reduce of their
   concatenation), then J is aggregated into the shared parameters' ``.grad``, then ``step()`` / ``zero_grad()``;
   the weighter updates its state (DWA statistics, FAMO's logits after one no-grad forward of the same batch, under
   the same autocast as the training forward).

Which parameters are task-specific: those whose names start with ``task_specific`` (default: ``heads.``), and
the parameters of the task-stream modules of :mod:`mmdtme.dtme` (DTME's ``TokenModulation`` / ``TokenExpansion``,
Recon's task copies ``TaskLinear`` / ``TaskLayerNorm`` / ``TaskBatched``). Such a parameter holds one slice per
task stream, and slice t only feeds task t's loss, so the summed-loss gradient gives each slice its own task's
gradient: they are treated like heads. Everything else that requires grad (the ViT, including the blocks that run
on the stacked task streams after DTME, any neck) is shared and aggregated. The partition is recomputed when the
model's parameters change (DTME expansion adds parameters and a param group mid-run; nothing else is needed).

DDP: with an aggregator the DDP reducer is bypassed (``MultiTaskDDP`` runs the forward under ``no_sync``) because
the T backward passes per forward are not what the reducer supports, and the aggregation needs the averaged per-task
gradients, not the averaged aggregated ones. Without one (GD, UW, DWA, FAMO, IMTL-L) the single backward goes
through DDP's bucketed all-reduce, overlapped with the backward, as in plain DDP training; only the weighter's own
parameters are averaged here. Averaging J before aggregating makes the update identical on every process and
equal to the single-process update on the concatenated batch (for batch-mean losses without BatchNorm; BN
statistics are per process, as with plain DDP). Random aggregators (PCGrad, GradDrop) draw from a generator seeded
with ``seed`` + the update count, so every process draws the same numbers and a resumed run the same as an
uninterrupted one.

AMP: ``AmpMultiTaskOptimWrapper`` (the same logic over mmengine's ``AmpOptimWrapper``) scales each task loss with
the loss scaler, divides J by the scale before aggregating (the aggregators are not all scale-equivariant) and
multiplies the update back, so ``step()``'s unscale / inf check / skip work as usual; a non-finite J is passed
through unaggregated so the scaler skips that step. (mmengine refuses AMP on the CPU, so no CPU test covers it.)

Cost per update (T tasks): GD / UW / DWA / IMTL-L one backward; FAMO one backward + one no-grad forward;
gradient methods T backward passes + T×P memory for J + the aggregation (see ``aggregators.py``).
"""
import inspect
from contextlib import contextmanager
from typing import Callable, Dict, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from mmengine.dist import all_reduce, get_world_size
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from torch import Tensor

from mmdtme import dtme
from mmdtme.registry import OPTIM_WRAPPERS
from .aggregators import AGGREGATORS, GradientAggregator
from .loss_weighters import LOSS_WEIGHTERS, LossWeighter

DEFAULT_TASK_SPECIFIC = ('heads.', )
# Modules holding one parameter slice per task stream (T, ...): slice t only receives task t's gradient.
TASK_STREAM_MODULES = tuple(
    getattr(dtme, name)
    for name in ('TokenModulation', 'BNTokenModulation', 'TokenExpansion', 'TaskLinear', 'TaskLayerNorm', 'TaskBatched')
    if hasattr(dtme, name))


def task_specific_parameter_names(model: nn.Module, prefixes: Sequence[str] = DEFAULT_TASK_SPECIFIC) -> set:
    """Names of the trainable parameters that get only their own task's gradient (see the module docstring)."""
    names = {name for name, p in model.named_parameters() if p.requires_grad and name.startswith(tuple(prefixes))}
    for module_name, module in model.named_modules():
        if isinstance(module, TASK_STREAM_MODULES):
            names |= {f'{module_name}.{name}' for name, p in module.named_parameters(recurse=False) if p.requires_grad}
    return names


def _build(registry, cfg: Optional[dict], num_tasks: int, what: str):
    if cfg is None:
        return None
    cfg = dict(cfg)
    cls = registry.get(cfg.get('type'))
    if cls is None:
        raise KeyError(f'unknown {what} {cfg.get("type")!r}; available: {sorted(registry.module_dict)}')
    default_args = dict(num_tasks=num_tasks) if 'num_tasks' in inspect.signature(cls).parameters else None
    return registry.build(cfg, default_args=default_args)


IN_PLACE_NUMEL = 1 << 20  # tensors this large are all-reduced where they are, not through a concatenated copy


def mean_over_processes(tensors: List[Tensor]) -> None:
    """In-place average over the DDP processes (no-op in one process).

    Large tensors (the Jacobian J, big gradients) are all-reduced in place, so no copy of them is made; the small
    ones share one all-reduce of their concatenation.
    """
    if get_world_size() == 1 or not tensors:
        return
    small = [t for t in tensors if t.numel() < IN_PLACE_NUMEL]
    for tensor in tensors:
        if tensor.numel() >= IN_PLACE_NUMEL:
            all_reduce(tensor, op='mean')
    if not small:
        return
    flat = torch.cat([t.reshape(-1) for t in small])
    all_reduce(flat, op='mean')
    offset = 0
    for tensor in small:
        tensor.copy_(flat[offset:offset + tensor.numel()].view_as(tensor))
        offset += tensor.numel()


class MultiTaskOptimWrapperMixin:
    """The multi-task update; mixed into mmengine's ``OptimWrapper`` / ``AmpOptimWrapper`` (see the module doc).

    Args:
        tasks: Task names, in the model's order (filled in by ``MultiTaskOptimWrapperConstructor``).
        aggregator: Gradient aggregator config, e.g. ``dict(type='PCGrad')``; None: no aggregation (GD).
        loss_weighting: Loss weighter config, e.g. ``dict(type='FAMO')``; None: the losses as they are.
        task_specific: Name prefixes of task-specific parameters (besides the task-stream modules').
        seed: Seed of the random aggregators' draws.
        **kwargs: mmengine ``OptimWrapper`` / ``AmpOptimWrapper`` arguments (``optimizer``, ``clip_grad``,
            ``accumulative_counts``, ``loss_scale``...).
    """

    def __init__(self,
                 *args,
                 tasks: Optional[Sequence[str]] = None,
                 aggregator: Optional[dict] = None,
                 loss_weighting: Optional[dict] = None,
                 task_specific: Sequence[str] = DEFAULT_TASK_SPECIFIC,
                 seed: int = 0,
                 **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if not tasks:
            raise ValueError(f'{type(self).__name__} needs the task names: build it with '
                             "optim_wrapper=dict(type=..., constructor='MultiTaskOptimWrapperConstructor', ...)")
        self.tasks = tuple(tasks)
        self.aggregator: Optional[GradientAggregator] = _build(AGGREGATORS, aggregator, len(self.tasks),
                                                               'gradient aggregator')
        self.weighter: Optional[LossWeighter] = _build(LOSS_WEIGHTERS, loss_weighting, len(self.tasks), 'loss weighter')
        self.task_specific = tuple(task_specific)
        self.seed = seed
        self.num_aggregations = 0
        self._jacobian: Optional[Tensor] = None
        self._partition_key: Optional[Tuple[int, ...]] = None
        self._partition: Tuple[List[nn.Parameter], List[nn.Parameter]] = ([], [])
        if self.weighter is not None:
            device = self.optimizer.param_groups[0]['params'][0].device
            self.weighter.to(device)
            params = self.weighter.optimizer_parameters()
            if params:
                # Their own group, after the model's: the schedulers drive it like group 0; no weight decay.
                group = {k: v for k, v in self.optimizer.param_groups[0].items() if k != 'params'}
                self.optimizer.add_param_group(dict(group, params=params, weight_decay=0.0))

    # --- entry points -----------------------------------------------------------------------------------

    def update_params(self, loss: Tensor, step_kwargs=None, zero_kwargs=None) -> None:
        raise RuntimeError(
            f'{type(self).__name__} needs the per-task losses, but got one summed loss from update_params(). The '
            "model's train_step must call update_task_params(): MultiTaskSegmentor does in one process; under "
            "DDP set model_wrapper_cfg=dict(type='MultiTaskDDP') in the config.")

    @property
    def needs_jacobian(self) -> bool:
        """Whether the update needs each task's gradient (an aggregator); without one, a single backward of the
        weighted sum is all, and DDP's own bucketed all-reduce can average it."""
        return self.aggregator is not None

    def update_task_params(self,
                           task_losses: Dict[str, Tensor],
                           model: nn.Module,
                           recompute: Optional[Callable[[], Dict[str, Tensor]]] = None,
                           synced_by_ddp: bool = False) -> Dict[str, Tensor]:
        """Backward (and, at an update iteration, step) from per-task losses; returns values to log.

        Args:
            task_losses: Each task's scalar loss (the sum of its weighted loss terms).
            model: The unwrapped model (its parameter names decide shared vs task-specific).
            recompute: Returns the task losses of the same batch, no grad (FAMO calls it after the step).
            synced_by_ddp: The forward ran through DDP with gradient sync (only without an aggregator): the
                model's gradients arrive averaged, and only the loss weighter's own parameters are averaged here.
        """
        if synced_by_ddp and self.needs_jacobian:
            raise ValueError('an aggregator needs the per-task gradients of each process: run the forward under '
                             'no_sync (MultiTaskDDP does)')
        if set(task_losses) != set(self.tasks):
            raise KeyError(f'the model returned losses for tasks {sorted(task_losses)} but the optim wrapper was '
                           f'built for {sorted(self.tasks)}')
        losses = torch.stack([task_losses[task] for task in self.tasks])
        reduced = losses.detach().clone().float()
        mean_over_processes([reduced])
        weighted = self.weighter(losses, reduced) if self.weighter is not None else losses
        weighted = self.scale_loss(weighted)
        if self.aggregator is None:
            self.backward(weighted.sum())
        else:
            shared, others = self._split_parameters(model)
            self._accumulate_task_gradients(weighted, shared, others)
            self._inner_count += 1

        if self.should_update():
            if synced_by_ddp:  # DDP averaged the model's gradients during the backward
                params = self.weighter.optimizer_parameters() if self.weighter is not None else []
            else:
                params = [p for group in self.optimizer.param_groups for p in group['params']]
            grads = [p.grad for p in params if p.grad is not None]
            mean_over_processes(([self._jacobian] if self._jacobian is not None else []) + grads)
            if self.aggregator is not None:
                self._write_aggregated_gradients(self._split_parameters(model)[0])
            self.step()
            self.zero_grad()
            if self.weighter is not None:
                self.weighter.after_update(reduced, self._reduced(recompute) if self.weighter.needs_recompute else None)
        log_vars = {}
        if self.weighter is not None:  # tensors: read on the host with the other logged values
            weights = self.weighter.weights().detach()
            for t, task in enumerate(self.tasks):
                log_vars[f'mto/weight_{task}'] = weights[t]
        return log_vars

    # --- internals --------------------------------------------------------------------------------------

    def _reduced(self, recompute: Optional[Callable[[], Dict[str, Tensor]]]) -> Optional[Callable[[], Tensor]]:
        if recompute is None:
            return None

        def reduced_losses() -> Tensor:
            with torch.no_grad():
                values = recompute()
            out = torch.stack([values[task].detach().float() for task in self.tasks])
            mean_over_processes([out])
            return out

        return reduced_losses

    def _split_parameters(self, model: nn.Module) -> Tuple[List[nn.Parameter], List[nn.Parameter]]:
        named = [(name, p) for name, p in model.named_parameters() if p.requires_grad]
        key = tuple(id(p) for _, p in named)
        if key != self._partition_key:
            specific = task_specific_parameter_names(model, self.task_specific)
            shared = [p for name, p in named if name not in specific]
            others = [p for name, p in named if name in specific]
            if self.weighter is not None:
                others += self.weighter.optimizer_parameters()
            if not shared:
                raise ValueError('no shared parameter to aggregate: every trainable parameter is task-specific '
                                 f'(task_specific={self.task_specific})')
            if self._partition_key is not None and self._jacobian is not None and \
                    sum(p.numel() for p in shared) != self._jacobian.shape[1]:
                raise RuntimeError('the shared parameters changed during gradient accumulation')
            self._partition_key, self._partition = key, (shared, others)
        return self._partition

    def _scale_for_backward(self, loss: Tensor) -> Tensor:
        scaler = getattr(self, 'loss_scaler', None)  # AmpOptimWrapper's GradScaler
        return scaler.scale(loss) if scaler is not None else loss

    def _loss_scale(self) -> float:
        scaler = getattr(self, 'loss_scaler', None)
        return float(scaler.get_scale()) if scaler is not None else 1.0

    def _accumulate_task_gradients(self, weighted: Tensor, shared: List[nn.Parameter],
                                   others: List[nn.Parameter]) -> None:
        """T backward passes: J rows for the shared parameters, summed gradients for the task-specific ones."""
        inputs = shared + others
        rows = []
        for t in range(len(weighted)):
            grads = torch.autograd.grad(
                self._scale_for_backward(weighted[t]), inputs, retain_graph=t < len(weighted) - 1, allow_unused=True)
            rows.append(
                torch.cat([(g if g is not None else torch.zeros_like(p)).reshape(-1)
                           for g, p in zip(grads[:len(shared)], shared)]))
            for p, g in zip(others, grads[len(shared):]):
                if g is not None:
                    p.grad = g if p.grad is None else p.grad.add_(g)
        jacobian = torch.stack(rows).float()
        self._jacobian = jacobian if self._jacobian is None else self._jacobian + jacobian

    @contextmanager
    def _seeded(self, device: torch.device) -> Iterator[None]:
        with torch.random.fork_rng(devices=[device] if device.type == 'cuda' else []):
            torch.manual_seed(self.seed + self.num_aggregations)
            yield

    def _write_aggregated_gradients(self, shared: List[nn.Parameter]) -> None:
        jacobian, self._jacobian = self._jacobian, None
        if jacobian is None:
            return
        scale = self._loss_scale()
        jacobian = jacobian / scale
        if not torch.isfinite(jacobian).all():
            update = jacobian.sum(0)  # AMP overflow: let the loss scaler see it and skip the step
        elif self.aggregator.uses_rng:
            with self._seeded(jacobian.device):
                update = self.aggregator(jacobian)
        else:
            update = self.aggregator(jacobian)
        self.num_aggregations += 1
        update = update * scale
        offset = 0
        for p in shared:
            p.grad = update[offset:offset + p.numel()].view_as(p).to(p.dtype)
            offset += p.numel()

    # --- checkpoints ------------------------------------------------------------------------------------

    def state_dict(self) -> dict:
        state = super().state_dict()
        state['mto'] = dict(
            weighter=self.weighter.state_dict() if self.weighter is not None else {},
            aggregator=self.aggregator.state_dict() if self.aggregator is not None else {},
            num_aggregations=self.num_aggregations)
        return state

    def load_state_dict(self, state_dict: dict) -> None:
        state_dict = dict(state_dict)
        mto = state_dict.pop('mto', None)
        if mto is None and (self.weighter is not None or self.aggregator is not None):
            raise KeyError('the checkpoint has no multi-task optimisation state (it was not trained with '
                           'MultiTaskOptimWrapper); start from it with load_from instead of resume')
        super().load_state_dict(state_dict)
        if mto is not None:
            if self.weighter is not None:
                self.weighter.load_state_dict(mto['weighter'])
            if self.aggregator is not None:
                self.aggregator.load_state_dict(mto['aggregator'])
            self.num_aggregations = int(mto['num_aggregations'])


@OPTIM_WRAPPERS.register_module()
class MultiTaskOptimWrapper(MultiTaskOptimWrapperMixin, OptimWrapper):
    """``OptimWrapper`` with multi-task gradient aggregation and loss weighting (see the module docstring)."""


@OPTIM_WRAPPERS.register_module()
class AmpMultiTaskOptimWrapper(MultiTaskOptimWrapperMixin, AmpOptimWrapper):
    """``AmpOptimWrapper`` (mixed precision, GPU) with multi-task aggregation and loss weighting."""
