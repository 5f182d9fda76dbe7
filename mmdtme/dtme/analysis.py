"""The DTME analysis pass: token covariance, range / null split, conflicts, layer selection -> :class:`Plan`.

Two passes over the analysis set (docs/design.md §1.2): a no-grad forward that accumulates each block's token
covariance, then, once every layer's range space is known, a forward with T backward passes that counts
conflicts. Both read the whole set (the paper's protocol), or, with ``stop='adaptive'``, only as many batches as
their result needs (docs/design.md §1.7). The model is reached through two callables, so this file stays plain
torch.
"""
import itertools
from dataclasses import dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
from torch import Tensor

from .conflicts import ConflictAccumulator, own_stream_gradients, task_gradients
from .covariance import CovarianceAccumulator
from .plan import STOPS, Plan
from .selection import select_layers
from .spaces import DEFAULT_RANGE_VARIANCE, TokenSpaces, split_token_space
from .stopping import StoppingRule, check_selection, describe_checks, spaces_agree

BlockOutputsFn = Callable[[object], Sequence[Tensor]]
TaskLossesFn = Callable[[object], Tuple[Dict[str, Tensor], Sequence[Tensor]]]
ReduceFn = Callable[[List[Tensor]], None]
NUM_EIGENVALUES_KEPT = 32  # per layer, in the plan's eigenvalue summary


@dataclass
class AnalysisSettings:
    """The knobs of the analysis and the selection (docs/design.md §1.3).

    Args:
        range_variance: Share τ of the total variance kept in the range space. Default: the paper's r = 100.
        ratio: Share ρ of the layers that get TM (and TE).
        mode: ``conflict``, ``random``, ``reverse`` or ``swap``.
        variant: ``tm``, ``te`` or ``tm+te``.
        num_tokens: Tokens per task at each TE layer.
        modulator: ``affine`` or ``bn``.
        seed: Seed of the ``random`` mode.
    """

    range_variance: float = DEFAULT_RANGE_VARIANCE
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
        _add_tokens(accumulator, block_outputs(batch))
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
    bases: Dict[int, Tuple[Tensor, Tensor]] = {}
    for batch in progress(batches):
        _add_conflicts(accumulator, batch, task_losses, tasks, spaces, bases, batch_size)
    if reduce is not None:
        reduce(accumulator.state_tensors())
    return accumulator


def _add_tokens(accumulator: CovarianceAccumulator, outputs: Sequence[Tensor]) -> None:
    """One batch of the covariance pass: every block's output tokens into its layer."""
    if len(outputs) != accumulator.num_layers:
        raise ValueError(f'the model returned {len(outputs)} block outputs, expected {accumulator.num_layers}')
    for layer, tokens in enumerate(outputs):
        accumulator.update(layer, tokens)


def token_spaces(covariance: CovarianceAccumulator, range_variance: float) -> List[TokenSpaces]:
    """The range / null split of every layer of an accumulated covariance (:func:`split_token_space`)."""
    return [split_token_space(covariance.covariance(layer), range_variance) for layer in range(covariance.num_layers)]


class _Sized:
    """An iterator with a length, for a progress display of a pass that may end early."""

    def __init__(self, iterator: Iterator, length: int) -> None:
        self.iterator, self.length = iterator, length

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator:
        return self.iterator


def _displayed(iterator: Iterator, batches: Iterable, progress: Callable[[Iterable], Iterable]) -> Iterator:
    sized = _Sized(iterator, len(batches)) if hasattr(batches, '__len__') else iterator
    return iter(progress(sized))


def _all_exhausted(flags: Tensor) -> bool:
    """``flags`` = [processes out of batches, processes], summed over processes."""
    return flags[0].item() == flags[1].item()


def _reduced(tensors: List[Tensor], exhausted: bool, reduce: Optional[ReduceFn]) -> Tuple[List[Tensor], bool]:
    """Copies of ``tensors`` summed over processes, and whether every process is out of batches."""
    copies = [tensor.clone() for tensor in tensors]
    flags = torch.tensor([float(exhausted), 1.0], dtype=torch.float64, device=copies[0].device)
    if reduce is not None:
        reduce(copies + [flags])
    return copies, _all_exhausted(flags)


@torch.no_grad()
def adaptive_covariance(source: Iterator,
                        block_outputs: BlockOutputsFn,
                        num_layers: int,
                        channels: int,
                        range_variance: float,
                        rule: StoppingRule,
                        reduce: Optional[ReduceFn] = None,
                        cache: Optional[List] = None) -> Tuple[CovarianceAccumulator, int, str]:
    """The covariance pass, stopped once two disjoint halves of what it read (even / odd batches) give the same
    token spaces (:func:`spaces_agree`).

    Reads ``source`` one batch per step; under DDP every process steps in lockstep and the checks sum the halves
    over processes, so all stop together (a process out of batches keeps stepping without data). Batches read are
    appended to ``cache`` (up to ``rule.max_cached_batches``) for the conflict pass.

    Returns:
        The merged statistics (summed over processes), the batches this process read, and why the pass stopped.
    """
    halves = [CovarianceAccumulator(num_layers, channels) for _ in range(2)]
    read, settled_checks, step = 0, 0, 0
    while True:
        batch = next(source, None)
        if batch is not None:
            if cache is not None and len(cache) < rule.max_cached_batches:
                cache.append(batch)
            _add_tokens(halves[step % 2], block_outputs(batch))
            read += 1
        step += 1
        if not rule.due(step):
            continue
        states, exhausted = _reduced(halves[0].state_tensors() + halves[1].state_tensors(), batch is None, reduce)
        summed = [CovarianceAccumulator(num_layers, channels, device=states[0].device) for _ in halves]
        for half, tensors in zip(summed, (states[:3], states[3:])):  # the local halves keep their own sums
            half.load_state_tensors(tensors)
        if exhausted:
            reason = f'the analysis set ended after {read} batches'
            break
        if min(half.counts.min().item() for half in summed) == 0:
            continue
        covariances = [[half.covariance(layer) for layer in range(num_layers)] for half in summed]
        spaces = [[split_token_space(covariance, range_variance) for covariance in half] for half in covariances]
        settled, detail = spaces_agree(spaces[0], covariances[0], spaces[1], covariances[1], rule)
        settled_checks = settled_checks + 1 if settled else 0
        if settled_checks >= rule.patience:
            reason = f'settled after {read} batches: {detail}'
            break
    return summed[0].merge(summed[1]), read, reason


def adaptive_conflicts(source: Iterator,
                       task_losses: TaskLossesFn,
                       tasks: Sequence[str],
                       spaces: Sequence[TokenSpaces],
                       settings: AnalysisSettings,
                       rule: StoppingRule,
                       reduce: Optional[ReduceFn] = None) -> Tuple[ConflictAccumulator, int, str, Dict]:
    """The conflict pass, stopped once the selection is settled (:func:`mmdtme.dtme.stopping.check_selection`).

    Keeps each step's per-layer counts (entries, range and null conflicts; summed over processes at each check)
    for the per-batch fractions the rule compares.

    Returns:
        The statistics (summed over processes), the batches this process read, why the pass stopped, and the
        last check per mechanism (``{'tm': BoundaryCheck, 'te': ...}``).
    """
    accumulator = ConflictAccumulator(len(spaces), len(tasks))
    bases: Dict[int, Tuple[Tensor, Tensor]] = {}
    history: List[Tensor] = []  # per step, (3, L): entries, range conflicts, null conflicts of that step
    previous: Optional[Tensor] = None
    read, settled_checks, step, last_selection, checks = 0, 0, 0, None, {}
    while True:
        batch = next(source, None)
        if batch is not None:
            _add_conflicts(accumulator, batch, task_losses, tasks, spaces, bases)
            read += 1
        step += 1
        if read:
            totals = accumulator.stats[:3].sum(dim=2)  # (3, L)
            history.append(totals - previous if previous is not None else totals.clone())
            previous = totals.clone()
        if not rule.due(step):
            continue
        if not history:  # nothing read here yet: take part in the check with empty counts
            history = [torch.zeros(3, len(spaces), dtype=torch.float64, device=accumulator.stats.device)]
        (per_step, ), exhausted = _reduced([torch.stack(history)], batch is None, reduce)
        # steps in which some process read a batch; one copy to the host for the rule's many small reads
        per_step = per_step[per_step[:, 0, 0] > 0].cpu()
        pooled = per_step.sum(dim=0)
        scores = (pooled[1] / pooled[0]).tolist(), (pooled[2] / pooled[0]).tolist()
        checks = check_selection(per_step[:, 1] / per_step[:, 0], per_step[:, 2] / per_step[:, 0], *scores,
                                 settings.ratio, settings.mode, settings.variant, rule)
        if exhausted:
            reason = f'the analysis set ended after {read} batches: {describe_checks(checks, rule)}'
            break
        selection = {mechanism: check.selected for mechanism, check in checks.items()}
        settled = all(check.settled for check in checks.values())
        settled_checks = settled_checks + 1 if settled and selection == last_selection else int(settled)
        last_selection = selection
        if settled_checks >= rule.patience:
            reason = f'settled after {read} batches: {describe_checks(checks, rule)}'
            break
    if reduce is not None:
        reduce(accumulator.state_tensors())
    return accumulator, read, reason, checks


def _add_conflicts(accumulator: ConflictAccumulator,
                   batch,
                   task_losses: TaskLossesFn,
                   tasks: Sequence[str],
                   spaces: Sequence[TokenSpaces],
                   bases: Dict[int, Tuple[Tensor, Tensor]],
                   batch_size: Optional[Callable[[object], int]] = None) -> None:
    """One batch of the conflict pass; ``bases`` caches each layer's (U_r, U_n) on the gradients' device and
    dtype, so they move there once per pass."""
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


def analyze(batches: Iterable,
            block_outputs: BlockOutputsFn,
            task_losses: TaskLossesFn,
            tasks: Sequence[str],
            num_layers: int,
            channels: int,
            settings: AnalysisSettings = AnalysisSettings(),
            reduce: Optional[ReduceFn] = None,
            progress: Callable[[Iterable], Iterable] = _identity,
            stop: str = 'full',
            rule: Optional[StoppingRule] = None) -> Plan:
    """Run both passes over ``batches`` and return the plan.

    Args:
        batches: The analysis set, as batches the two callables understand; re-iterable for ``full`` (and for
            ``adaptive`` when the covariance pass reads more than ``rule.max_cached_batches``).
        block_outputs: ``batch -> [X_l (B, N, C)]``, called without gradients.
        task_losses: ``batch -> ({task: scalar loss}, [X_l (B, N, C)])``, one forward whose block outputs are in
            the losses' graph.
        tasks: Task order of the plan (stream t is task t).
        num_layers: Number of blocks L.
        channels: Token width C.
        settings: Split and selection settings.
        reduce: In-place SUM all-reduce of a list of float64 tensors across processes (``None``: one process).
        progress: Wraps each pass's iterable, e.g. with a progress bar.
        stop: ``full`` reads the whole set in each pass (the paper's protocol); ``adaptive`` stops each pass once
            its result is settled (docs/design.md §1.7): the set is read once, the conflict pass starting with the
            batches the covariance pass read.
        rule: The adaptive stopping rule. Default: :class:`StoppingRule`'s defaults.
    """
    if len(tasks) < 2:
        raise ValueError(f'DTME needs at least 2 tasks to measure conflicts, got {list(tasks)}')
    if stop not in STOPS:
        raise ValueError(f'stop must be one of {STOPS}, got {stop!r}')
    record = dict(stop=stop)
    if stop == 'full':
        covariance = accumulate_covariance(batches, block_outputs, num_layers, channels, reduce, progress)
        spaces = token_spaces(covariance, settings.range_variance)
        conflicts = accumulate_conflicts(batches, task_losses, tasks, spaces, reduce, progress)
    else:
        rule = rule or StoppingRule()
        source, cache = iter(batches), []
        shown = _displayed(source, batches, progress)
        covariance, covariance_read, covariance_reason = adaptive_covariance(shown, block_outputs, num_layers, channels,
                                                                             settings.range_variance, rule, reduce,
                                                                             cache)
        _close(shown)
        spaces = token_spaces(covariance, settings.range_variance)
        # The cached batches, then unread ones; after a capped cache, those read but not kept are read again.
        reread = _lazily(lambda: itertools.islice(iter(batches), len(cache), covariance_read)
                         if len(cache) < covariance_read else ())
        shown = _displayed(itertools.chain(cache, source, reread), batches, progress)
        conflicts, conflict_read, conflict_reason, checks = adaptive_conflicts(shown, task_losses, tasks, spaces,
                                                                               settings, rule, reduce)
        _close(shown)
        record.update(
            stopped_after=[covariance_read, conflict_read],
            stop_reasons=[f'covariance pass: {covariance_reason}', f'conflict pass: {conflict_reason}'],
            tied_tm_layers=checks['tm'].tied if 'tm' in checks else [],
            tied_te_layers=checks['te'].tied if 'te' in checks else [])
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
        **record,
        **scores).validate()


def _lazily(make: Callable[[], Iterable]) -> Iterator:
    """Iterate what ``make()`` returns, calling it only when the first item is asked for (a second pass over a
    dataloader starts its workers only if it is reached)."""
    yield from make()


def _close(iterator: Iterator) -> None:
    """Finish a progress display that stopped early (a generator runs its cleanup on close)."""
    close = getattr(iterator, 'close', None)
    if close is not None:
        close()
