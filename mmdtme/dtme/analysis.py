"""The DTME analysis pass: token covariance, range / null split, conflicts, layer selection -> :class:`Plan`.

Two passes over the analysis set (docs/design.md §1.2): a no-grad forward that accumulates each block's token
covariance, then, once every layer's range space is known, a forward with T backward passes that counts
conflicts. The model is reached through two callables, so this file stays plain torch.
"""
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .conflicts import ConflictAccumulator, own_stream_gradients, task_gradients
from .covariance import CovarianceAccumulator
from .plan import Plan
from .selection import select_layers
from .spaces import TokenSpaces, split_token_space

BlockOutputsFn = Callable[[object], Sequence[Tensor]]
TaskLossesFn = Callable[[object], Tuple[Dict[str, Tensor], Sequence[Tensor]]]
ReduceFn = Callable[[List[Tensor]], None]
NUM_EIGENVALUES_KEPT = 32  # per layer, in the plan's eigenvalue summary


@dataclass
class AnalysisSettings:
    """The knobs of the analysis and the selection (docs/design.md §1.3).

    Args:
        range_variance: Share τ of the total variance kept in the range space.
        ratio: Share ρ of the layers that get TM (and TE).
        mode: ``conflict``, ``random``, ``reverse`` or ``swap``.
        variant: ``tm``, ``te`` or ``tm+te``.
        num_tokens: Tokens per task at each TE layer.
        modulator: ``affine`` or ``bn``.
        seed: Seed of the ``random`` mode.
    """

    range_variance: float = 0.99
    ratio: float = 0.5
    mode: str = 'conflict'
    variant: str = 'tm+te'
    num_tokens: int = 6
    modulator: str = 'affine'
    seed: int = 0


def _identity(iterable: Iterable) -> Iterable:
    return iterable


@torch.no_grad()
def accumulate_covariance(batches: Iterable,
                          block_outputs: BlockOutputsFn,
                          num_layers: int,
                          channels: int,
                          reduce: Optional[ReduceFn] = None,
                          progress: Callable[[Iterable], Iterable] = _identity) -> CovarianceAccumulator:
    """First pass: the uncentered token covariance of every block over ``batches``, summed over processes.

    The statistics live on the device of the block outputs (see :class:`CovarianceAccumulator`).
    """
    accumulator = CovarianceAccumulator(num_layers, channels)
    for batch in progress(batches):
        outputs = block_outputs(batch)
        if len(outputs) != num_layers:
            raise ValueError(f'the model returned {len(outputs)} block outputs, expected {num_layers}')
        for layer, tokens in enumerate(outputs):
            accumulator.update(layer, tokens)
    if reduce is not None:
        reduce(accumulator.state_tensors())
    return accumulator


def accumulate_conflicts(batches: Iterable,
                         task_losses: TaskLossesFn,
                         tasks: Sequence[str],
                         spaces: Sequence[TokenSpaces],
                         reduce: Optional[ReduceFn] = None,
                         progress: Callable[[Iterable], Iterable] = _identity,
                         batch_size: Optional[Callable[[object], int]] = None) -> ConflictAccumulator:
    """Second pass: range / null conflicts of every block's token gradients over ``batches``.

    With ``batch_size`` (``batch -> samples``), blocks whose outputs are stacked task streams are compared
    stream against stream (:func:`own_stream_gradients`), as in a model after expansion. The products run on the
    gradients' device in their precision, against range and null bases moved there once.
    """
    accumulator = ConflictAccumulator(len(spaces), len(tasks))
    bases: Dict[int, Tuple[Tensor, Tensor]] = {}  # layer -> (U_r, U_n) on the gradients' device and dtype
    for batch in progress(batches):
        with torch.enable_grad():
            losses, outputs = task_losses(batch)
            missing = [task for task in tasks if task not in losses]
            if missing:
                raise KeyError(f'the model returned no loss for tasks {missing}')
            grads = task_gradients([losses[task] for task in tasks], outputs, retain_graph=False)
        for layer, layer_grads in enumerate(grads):
            if batch_size is not None:
                layer_grads = own_stream_gradients(layer_grads, batch_size(batch))
            if layer not in bases:
                bases[layer] = tuple(
                    basis.to(device=layer_grads.device, dtype=layer_grads.dtype)
                    for basis in (spaces[layer].range_basis, spaces[layer].null_basis))
            accumulator.update(layer, layer_grads, *bases[layer])
    if reduce is not None:
        reduce(accumulator.state_tensors())
    return accumulator


def analyze(batches: Iterable,
            block_outputs: BlockOutputsFn,
            task_losses: TaskLossesFn,
            tasks: Sequence[str],
            num_layers: int,
            channels: int,
            settings: AnalysisSettings = AnalysisSettings(),
            reduce: Optional[ReduceFn] = None,
            progress: Callable[[Iterable], Iterable] = _identity) -> Plan:
    """Run both passes over ``batches`` (iterated twice) and return the plan.

    Args:
        batches: The analysis set, as batches the two callables understand; must be re-iterable.
        block_outputs: ``batch -> [X_l (B, N, C)]``, called without gradients.
        task_losses: ``batch -> ({task: scalar loss}, [X_l (B, N, C)])``, one forward whose block outputs are in
            the losses' graph.
        tasks: Task order of the plan (stream t is task t).
        num_layers: Number of blocks L.
        channels: Token width C.
        settings: Split and selection settings.
        reduce: In-place SUM all-reduce of a list of float64 tensors across processes (``None``: one process).
        progress: Wraps each pass's iterable, e.g. with a progress bar.
    """
    if len(tasks) < 2:
        raise ValueError(f'DTME needs at least 2 tasks to measure conflicts, got {list(tasks)}')
    covariance = accumulate_covariance(batches, block_outputs, num_layers, channels, reduce, progress)
    spaces = [split_token_space(covariance.covariance(layer), settings.range_variance) for layer in range(num_layers)]
    conflicts = accumulate_conflicts(batches, task_losses, tasks, spaces, reduce, progress)
    scores = {key: value.tolist() for key, value in conflicts.scores().items()}
    tm_layers, te_layers = select_layers(scores['range_conflict'], scores['null_conflict'], settings.ratio,
                                         settings.mode, settings.variant, settings.seed)
    return Plan(
        tasks=list(tasks),
        num_layers=num_layers,
        channels=channels,
        tm_layers=tm_layers,
        te_layers=te_layers,
        num_tokens=settings.num_tokens,
        ks=[space.k for space in spaces],
        eigenvalues=[space.eigenvalues[:NUM_EIGENVALUES_KEPT].tolist() for space in spaces],
        eigenvalue_totals=[float(space.eigenvalues.sum()) for space in spaces],
        mode=settings.mode,
        variant=settings.variant,
        ratio=settings.ratio,
        range_variance=settings.range_variance,
        seed=settings.seed,
        modulator=settings.modulator,
        **scores).validate()
