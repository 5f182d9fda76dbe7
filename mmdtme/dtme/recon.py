"""Recon's parameter-level conflict scores and layer choice (Shi et al., ICLR 2023).

For every shared layer u and every batch, Recon takes each task's gradient g_{t,u} with respect to the layer's
parameters (weight and bias flattened into one vector) and, for every task pair i < j, the cosine
cos(g_{i,u}, g_{j,u}). The pair *S-conflicts* on u when the cosine is below a threshold S (0.0 and -0.02 in the
official code for Cityscapes and NYUv2). The S-conflict score of u is the number of (batch, pair) occurrences over
the measured batches; the k layers with the highest scores become task-specific copies
(:mod:`mmdtme.dtme.task_copies`).

Here the candidate "layers" are units below a ViT's ``blocks``, at one of three granularities
(:data:`GRANULARITIES`): whole blocks, their parametrised children (``norm1``, ``attn``, ``norm2``, ``mlp``), or
every module with parameters of its own (``attn.qkv``, ``mlp.fc1``, ... as the paper's conv / BN layers).
Only torch and the standard library are imported.
"""
from dataclasses import asdict, dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
import torch.nn as nn
from torch import Tensor

from .conflicts import task_pairs

GRANULARITIES = ('block', 'sublayer', 'layer')
ReduceFn = Callable[[List[Tensor]], None]
TaskLossesFn = Callable[[object], Dict[str, Tensor]]


def _holds_parameters(module: nn.Module, recurse: bool = True) -> bool:
    return any(param.requires_grad for param in module.parameters(recurse=recurse))


def conflict_units(blocks: nn.Module, granularity: str = 'block') -> List[str]:
    """The candidate units below ``blocks`` (a ViT's block list), as paths usable in ``Plan.copied_modules``.

    Args:
        blocks: The sequence of transformer blocks.
        granularity: ``block`` (``'3'``), ``sublayer`` (each child of a block with parameters: ``'3.norm1'``,
            ``'3.attn'``, ``'3.norm2'``, ``'3.mlp'``) or ``layer`` (each module with parameters of its own:
            ``'3.attn.qkv'``, ``'3.mlp.fc1'``, ...).
    """
    if granularity not in GRANULARITIES:
        raise ValueError(f'granularity must be one of {GRANULARITIES}, got {granularity!r}')
    units = []
    for index, block in enumerate(blocks):
        if granularity == 'block':
            children = [('', block)]
        elif granularity == 'sublayer':
            children = list(block.named_children())
        else:
            children = [(name, module) for name, module in block.named_modules() if name]
        recurse = granularity != 'layer'
        units.extend(f'{index}.{name}' if name else str(index) for name, module in children
                     if _holds_parameters(module, recurse))
    return units


def unit_parameters(blocks: nn.Module, units: Sequence[str]) -> List[List[nn.Parameter]]:
    """The trainable parameters of each unit (all parameters under its path), in model order."""
    params = []
    for unit in units:
        try:
            module = blocks.get_submodule(unit)
        except AttributeError as err:
            raise ValueError(f'unit {unit!r} is not a module below the ViT blocks ({err})') from None
        unit_params = [param for param in module.parameters() if param.requires_grad]
        if not unit_params:
            raise ValueError(f'unit {unit!r} has no trainable parameter')
        params.append(unit_params)
    return params


def unit_grams(losses: Sequence[Tensor], params: Sequence[Sequence[Tensor]]) -> Tensor:
    """Per-unit Gram matrices of the task gradients: G[u, i, j] = ⟨g_{i,u}, g_{j,u}⟩, (U, T, T) float64.

    One ``torch.autograd.grad`` call per task (the graph is kept until the last); a unit a task's loss does not
    reach gets zero gradients. The T gradients of every parameter are held at once (T x the unit parameters).

    Args:
        losses: T scalar task losses from one forward pass.
        params: U lists of parameters, the units.
    """
    T = len(losses)
    for t, loss in enumerate(losses):
        if loss.dim() != 0 or not loss.requires_grad:
            raise ValueError(f'loss {t} must be a scalar in the autograd graph, got shape {tuple(loss.shape)} '
                             f'with requires_grad={loss.requires_grad}')
    flat = [param for unit in params for param in unit]
    per_task = [
        torch.autograd.grad(loss, flat, retain_graph=t < T - 1, allow_unused=True, materialize_grads=True)
        for t, loss in enumerate(losses)
    ]
    grams, start = [], 0
    for unit in params:
        gram = None
        for offset in range(len(unit)):
            g = torch.stack([per_task[t][start + offset].reshape(-1) for t in range(T)]).double()  # (T, numel)
            gram = g @ g.T if gram is None else gram + g @ g.T
        grams.append(gram)
        start += len(unit)
    return torch.stack(grams)  # (U, T, T)


def gram_cosines(grams: Tensor) -> Tensor:
    """(U, T, T) Gram matrices -> (U, P) cosines of the task pairs (``task_pairs`` order); 0 where a norm is 0."""
    T = grams.shape[-1]
    i, j = task_pairs(T).to(grams.device)
    norms = grams.diagonal(dim1=-2, dim2=-1).clamp_min(0).sqrt()  # (U, T)
    denom = norms[:, i] * norms[:, j]
    return torch.where(denom > 0, grams[:, i, j] / denom.clamp_min(torch.finfo(denom.dtype).tiny), 0.0)


# Edges of cos φ_ij for the distribution of parameter-gradient angles over training (DTME-MTL Fig. 4, after
# Recon's figures): the figures bin the cosine into ranges; their text gives no edges, so these are ours.
COSINE_EDGES = (-1.0, -0.5, -0.2, -0.1, -0.05, 0.0, 0.05, 0.1, 0.2, 0.5, 1.0)


def cosine_histogram(cosines: Tensor, edges: Sequence[float] = COSINE_EDGES) -> Tensor:
    """Counts of ``cosines`` (any shape) in the bins [e_0, e_1), ..., [e_{n-1}, e_n]; float64, (len(edges) - 1,).

    Cosines outside [e_0, e_n] (only rounding can put them there for the full range) go to the end bins.
    """
    boundaries = torch.as_tensor(edges, dtype=torch.float64, device=cosines.device)
    if boundaries.numel() < 2 or not bool((boundaries[1:] > boundaries[:-1]).all()):
        raise ValueError(f'edges must be at least 2 increasing values, got {list(edges)}')
    index = torch.bucketize(cosines.detach().double().reshape(-1), boundaries[1:-1], right=True)
    return torch.bincount(index, minlength=boundaries.numel() - 1).double()


class ReconAccumulator:
    """S-conflict counts per unit and task pair, accumulated over batches in float64 (DDP: all-reduce SUM).

    Args:
        num_units: Number of candidate units U.
        num_tasks: Number of tasks T >= 2.
        threshold: S; a pair conflicts on a unit when its gradient cosine is < S.
    """

    def __init__(self, num_units: int, num_tasks: int, threshold: float = 0.0) -> None:
        if num_units < 1:
            raise ValueError(f'num_units must be >= 1, got {num_units}')
        if num_tasks < 2:
            raise ValueError(f'conflicts need at least 2 tasks, got num_tasks={num_tasks}')
        if not -1.0 <= threshold <= 1.0:
            raise ValueError(f'threshold S is a cosine, in [-1, 1]; got {threshold}')
        self.num_units = num_units
        self.num_tasks = num_tasks
        self.threshold = threshold
        P = num_tasks * (num_tasks - 1) // 2
        # stats[kind, unit, pair], kind: batches, S-conflicts, sum of cosines
        self.stats = torch.zeros(3, num_units, P, dtype=torch.float64)

    @torch.no_grad()
    def update(self, grams: Tensor) -> None:
        """Add one batch: (U, T, T) per-unit Gram matrices of the task gradients."""
        if tuple(grams.shape) != (self.num_units, self.num_tasks, self.num_tasks):
            raise ValueError(f'grams must be (U={self.num_units}, T={self.num_tasks}, T), got {tuple(grams.shape)}')
        if not torch.isfinite(grams).all():
            raise ValueError('non-finite task gradient: a task loss or the forward pass produced NaN/inf')
        cosines = gram_cosines(grams.double()).cpu()  # (U, P)
        self.stats += torch.stack([torch.ones_like(cosines), (cosines < self.threshold).double(), cosines])

    def state_tensors(self) -> List[Tensor]:
        """``[stats (3, U, P)]``, the accumulator's own tensor, so in-place all_reduce (SUM) works."""
        return [self.stats]

    def result(self, units: Sequence[str], tasks: Sequence[str], k: int) -> 'ReconResult':
        """The scores and the top-k choice as a serialisable :class:`ReconResult`."""
        if len(units) != self.num_units or len(tasks) != self.num_tasks:
            raise ValueError(f'{len(units)} units and {len(tasks)} tasks given for an accumulator of '
                             f'{self.num_units} units and {self.num_tasks} tasks')
        batches = self.stats[0, 0, 0].item() if self.stats.numel() else 0.0
        if batches == 0:
            raise ValueError('no batch was measured: the conflict set is empty')
        scores = self.stats[1].sum(dim=1)  # (U,)
        P = self.stats.shape[2]
        return ReconResult(
            tasks=list(tasks),
            units=list(units),
            threshold=self.threshold,
            k=k,
            num_batches=int(batches),
            scores=[int(round(score)) for score in scores.tolist()],
            conflict_rate=(scores / (batches * P)).tolist(),
            mean_cosine=(self.stats[2].sum(dim=1) / (batches * P)).tolist(),
            pair_scores=[[int(round(value)) for value in row] for row in self.stats[1].tolist()],
            selected=select_top_k([float(score) for score in scores.tolist()], list(units), k))


def select_top_k(scores: Sequence[float], units: Sequence[str], k: int) -> List[str]:
    """The k units with the highest scores (ties to the earlier unit), returned in model order."""
    if not 1 <= k <= len(units):
        raise ValueError(f'k must be in [1, {len(units)}] (the number of candidate units), got {k}')
    if len(scores) != len(units):
        raise ValueError(f'{len(scores)} scores for {len(units)} units')
    order = sorted(range(len(units)), key=lambda index: (-scores[index], index))
    return [units[index] for index in sorted(order[:k])]


@dataclass
class ReconResult:
    """What the measurement found, JSON-serialisable (``asdict``).

    Args:
        tasks: Task names (pair p is ``task_pairs`` order over them).
        units: Candidate units (paths below the ViT blocks).
        threshold: S.
        k: Number of units chosen.
        num_batches: Batches measured (summed over processes).
        scores: Per unit, the S-conflict score: (batch, pair) occurrences with cosine < S.
        conflict_rate: Per unit, the score over num_batches x pairs.
        mean_cosine: Per unit, the mean gradient cosine over batches and pairs.
        pair_scores: Per unit and task pair, the S-conflict count.
        selected: The k units with the highest scores, in model order.
    """

    tasks: List[str]
    units: List[str]
    threshold: float
    k: int
    num_batches: int
    scores: List[int]
    conflict_rate: List[float]
    mean_cosine: List[float]
    pair_scores: List[List[int]] = field(default_factory=list)
    selected: List[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        return asdict(self)

    def table(self) -> str:
        """A plain-text table: one row per unit with its score, rate, mean cosine and whether it is copied."""
        chosen = set(self.selected)
        width = max(len('unit'), *(len(unit) for unit in self.units))
        lines = [
            f'Recon: S={self.threshold}, k={self.k}, {self.num_batches} batches, tasks {", ".join(self.tasks)}',
            f'{"unit":>{width}} {"score":>7} {"rate":>6} {"cos":>7} copy'
        ]
        for unit, score, rate, cosine in zip(self.units, self.scores, self.conflict_rate, self.mean_cosine):
            lines.append(
                f'{unit:>{width}} {score:>7d} {rate:>6.3f} {cosine:>7.3f} {"x" if unit in chosen else ""}'.rstrip())
        return '\n'.join(lines)


def measure_conflicts(batches: Iterable,
                      task_losses: TaskLossesFn,
                      tasks: Sequence[str],
                      blocks: nn.Module,
                      granularity: str = 'block',
                      threshold: float = 0.0,
                      k: int = 1,
                      units: Optional[Sequence[str]] = None,
                      reduce: Optional[ReduceFn] = None,
                      progress: Callable[[Iterable], Iterable] = lambda batches: batches) -> ReconResult:
    """Measure S-conflict scores over ``batches`` and choose the top-k units.

    Args:
        batches: Batches ``task_losses`` understands.
        task_losses: ``batch -> {task: scalar loss}``, one forward pass with autograd enabled.
        tasks: Task order.
        blocks: The ViT's block list (the units' root).
        granularity: See :func:`conflict_units`; ignored when ``units`` is given.
        threshold: S.
        k: Units to choose.
        units: Candidate units; default: all units of ``granularity``.
        reduce: In-place SUM all-reduce of a list of float64 tensors across processes.
        progress: Wraps the batches, e.g. with a progress bar.
    """
    if len(tasks) < 2:
        raise ValueError(f'Recon needs at least 2 tasks to measure conflicts, got {list(tasks)}')
    units = list(units) if units is not None else conflict_units(blocks, granularity)
    if not units:
        raise ValueError('no candidate unit with trainable parameters below the ViT blocks')
    params = unit_parameters(blocks, units)
    accumulator = ReconAccumulator(len(units), len(tasks), threshold)
    for batch in progress(batches):
        with torch.enable_grad():
            losses = task_losses(batch)
            missing = [task for task in tasks if task not in losses]
            if missing:
                raise KeyError(f'the model returned no loss for tasks {missing}')
            accumulator.update(unit_grams([losses[task] for task in tasks], params))
    if reduce is not None:
        reduce(accumulator.state_tensors())
    return accumulator.result(units, tasks, k)


def copied_parameter_count(blocks: nn.Module, units: Sequence[str], num_tasks: int) -> Tuple[int, int]:
    """(extra parameters, parameters under the units) of giving each of T tasks its own copy of ``units``."""
    shared = sum(param.numel() for unit in unit_parameters(blocks, units) for param in unit)
    return (num_tasks - 1) * shared, shared
