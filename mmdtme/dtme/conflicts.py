"""Task-gradient conflicts in a layer's token space (DTME-MTL §3.2, docs/design.md §1.2).

Tokens are treated as parameters: g_t = ∂L_t/∂X_l is the gradient of task t's loss with respect to the output
tokens of block l. Per token and task pair i < j, the conflict scores look at the sign of

- a_ij = ⟨U_rᵀ g_i, U_rᵀ g_j⟩, the inner product of the range-space components, and
- n_ij = ⟨U_nᵀ g_i, U_nᵀ g_j⟩, the inner product of the null-space components.

The analysis computes both on the gradients' device in their precision (float32): n_ij is taken from the
projections on the null basis, never as ⟨g_i, g_j⟩ - a_ij. Why that is exact enough: each product is then a sum of
its own components, whose float32 rounding is relative to |U_nᵀ g_i| |U_nᵀ g_j| (about 1e-7 of it per term), so
its sign is wrong only when n_ij is that close to zero relative to the null components themselves; the difference
of two full products instead carries an error relative to |g_i| |g_j|, which swamps a small null component.
Statistics are summed in float64.
"""
from typing import Dict, List, Optional, Sequence, Union

import torch
from torch import Tensor

_KINDS = ('entries', 'range_conflicts', 'null_conflicts', 'range_cosine_sum', 'null_cosine_sum')


def task_pairs(num_tasks: int) -> Tensor:
    """The (2, P) indices (i, j), i < j, of all P = T(T-1)/2 task pairs, in ``torch.triu_indices`` order."""
    return torch.triu_indices(num_tasks, num_tasks, offset=1)


def pairwise_products(grads: Tensor,
                      range_basis: Tensor,
                      null_basis: Optional[Tensor] = None,
                      compute_dtype: Optional[torch.dtype] = None) -> Dict[str, Tensor]:
    """Per-token inner products of every task pair, in full, in the range space and in the null space.

    Each task is projected once per space (c_t = g_t U_r, d_t = g_t U_n); the pairwise products come from Gram
    matrices over the task axis, of which the strict upper triangle is kept (pairs in :func:`task_pairs` order)
    and the diagonal gives the squared norms.

    Args:
        grads: (T, B, N, C) gradients of T tasks with respect to the same tokens.
        range_basis: (C, k) orthonormal basis U_r of the range space.
        null_basis: (C, C - k) orthonormal basis U_n of the null space. When given, the null products are
            computed from the projections on it (exact in float32, see the module docstring); without it, as
            f_ij - a_ij, which needs float64 when the null component is small.
        compute_dtype: Dtype of the arithmetic. Default: the gradients' dtype (half precision is raised to
            float32).

    Returns:
        ``full``, ``range``, ``null``: (P, B, N) products f_ij, a_ij, n_ij; ``range_sqnorm``, ``null_sqnorm``:
        (T, B, N) squared norms |U_rᵀ g_t|² and |g_t|² - |U_rᵀ g_t|² (clamped at 0); ``pairs``: (2, P) indices.
    """
    if grads.dim() != 4:
        raise ValueError(f'grads must be (T, B, N, C), got shape {tuple(grads.shape)}')
    T, B, N, C = grads.shape
    if range_basis.dim() != 2 or range_basis.shape[0] != C:
        raise ValueError(f'range_basis must be (C={C}, k), got shape {tuple(range_basis.shape)}')
    k = range_basis.shape[1]
    if compute_dtype is None:
        compute_dtype = torch.float32 if grads.dtype in (torch.float16, torch.bfloat16) else grads.dtype
    g = grads.to(compute_dtype)
    c = g @ range_basis.to(device=g.device, dtype=compute_dtype)  # (T, B, N, k)
    range_gram = torch.einsum('tbnk,sbnk->tsbn', c, c)  # (T, T, B, N)
    pairs = task_pairs(T).to(g.device)
    i, j = pairs
    diag = torch.arange(T, device=g.device)
    range_ = range_gram[i, j]  # (P, B, N)
    range_sqnorm = range_gram[diag, diag]  # (T, B, N)
    if k == C:  # the null space is {0}: exact zeros
        null = torch.zeros_like(range_)
        null_sqnorm = torch.zeros_like(range_sqnorm)
        full = range_
    elif null_basis is not None:
        if tuple(null_basis.shape) != (C, C - k):
            raise ValueError(f'null_basis must be (C={C}, C - k={C - k}), got shape {tuple(null_basis.shape)}')
        d = g @ null_basis.to(device=g.device, dtype=compute_dtype)  # (T, B, N, C - k)
        null_gram = torch.einsum('tbnk,sbnk->tsbn', d, d)  # (T, T, B, N)
        null = null_gram[i, j]
        null_sqnorm = null_gram[diag, diag]
        full = range_ + null
    else:
        full_gram = torch.einsum('tbnc,sbnc->tsbn', g, g)  # (T, T, B, N)
        full = full_gram[i, j]
        null = full - range_
        null_sqnorm = (full_gram[diag, diag] - range_sqnorm).clamp_min(0.0)
    return dict(full=full, range=range_, null=null, range_sqnorm=range_sqnorm, null_sqnorm=null_sqnorm, pairs=pairs)


def _cosine(products: Tensor, sqnorms: Tensor, pairs: Tensor) -> Tensor:
    """products (P, B, N) / sqrt(|g_i|² |g_j|²); 0 where either norm is 0."""
    denom = (sqnorms[pairs[0]] * sqnorms[pairs[1]]).sqrt()  # (P, B, N)
    return torch.where(denom > 0, products / denom.clamp_min(torch.finfo(denom.dtype).tiny), 0.0)


class ConflictAccumulator:
    """Range / null conflict statistics per layer and task pair, accumulated over an analysis set in float64.

    For every layer it counts (token, sample, pair) entries, entries with a_ij < 0 (range conflicts) and with
    n_ij < 0 (null conflicts), and sums the range and null cosines; entries whose gradient component has a zero
    norm count as cosine 0. The products are computed on the gradients' device in ``compute_dtype`` and the
    per-batch sums are added to float64 statistics on that device; nothing is read back to the host per batch
    (non-finite gradients are counted and reported by :meth:`scores`). Under DDP, all-reduce (SUM) the tensors of
    :meth:`state_tensors`.

    Args:
        num_layers: Number of layers L.
        num_tasks: Number of tasks T >= 2.
        device: Where the statistics live. Default: the device of the first gradients.
        compute_dtype: Dtype of the per-token products, see :func:`pairwise_products`. Default: the gradients'.
    """

    def __init__(self,
                 num_layers: int,
                 num_tasks: int,
                 device: Optional[Union[str, torch.device]] = None,
                 compute_dtype: Optional[torch.dtype] = None) -> None:
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        if num_tasks < 2:
            raise ValueError(f'conflicts need at least 2 tasks, got num_tasks={num_tasks}')
        self.num_layers = num_layers
        self.num_tasks = num_tasks
        self.compute_dtype = compute_dtype
        P = num_tasks * (num_tasks - 1) // 2
        # stats[kind, layer, pair] with kind in _KINDS
        self._placed = device is not None
        self.stats = torch.zeros(len(_KINDS), num_layers, P, dtype=torch.float64, device=device)
        self.nonfinite = torch.zeros(num_layers, dtype=torch.float64, device=device)  # (L,) batches with NaN/inf

    @property
    def pairs(self) -> List[tuple]:
        """The task pairs (i, j) in the order of the per-pair statistics."""
        return [tuple(pair) for pair in task_pairs(self.num_tasks).T.tolist()]

    @torch.no_grad()
    def update(self, layer: int, grads: Tensor, range_basis: Tensor, null_basis: Optional[Tensor] = None) -> None:
        """Add one batch of gradients of layer ``layer``.

        Args:
            layer: Layer index in [0, L).
            grads: (T, B, N, C) task gradients with respect to the layer's output tokens.
            range_basis: (C, k) range-space basis of the layer.
            null_basis: (C, C - k) null-space basis of the layer (see :func:`pairwise_products`).
        """
        if not 0 <= layer < self.num_layers:
            raise IndexError(f'layer {layer} is out of range for {self.num_layers} layers')
        if grads.dim() != 4 or grads.shape[0] != self.num_tasks:
            raise ValueError(f'grads of layer {layer} must be (T={self.num_tasks}, B, N, C), '
                             f'got shape {tuple(grads.shape)}')
        if not self._placed:  # the statistics follow the gradients: no per-batch copy to another device
            self.stats, self.nonfinite = (t.to(grads.device) for t in self.state_tensors())
            self._placed = True
        self.nonfinite[layer] += ~torch.isfinite(grads).all()  # checked by scores(): no host sync per batch
        out = pairwise_products(grads.detach(), range_basis.detach(),
                                None if null_basis is None else null_basis.detach(), self.compute_dtype)
        pairs = out['pairs']
        range_cos = _cosine(out['range'], out['range_sqnorm'], pairs)
        null_cos = _cosine(out['null'], out['null_sqnorm'], pairs)
        B, N = grads.shape[1:3]
        batch = torch.stack([
            range_cos.new_full((range_cos.shape[0], ), B * N),  # (P,)
            (out['range'] < 0).sum(dim=(1, 2)).to(range_cos.dtype),
            (out['null'] < 0).sum(dim=(1, 2)).to(range_cos.dtype),
            range_cos.sum(dim=(1, 2)),
            null_cos.sum(dim=(1, 2)),
        ])  # (5, P)
        self.stats[:, layer] += batch.to(device=self.stats.device, dtype=torch.float64)

    def merge(self, other: 'ConflictAccumulator') -> 'ConflictAccumulator':
        """Add the statistics of another accumulator of the same shape into this one; returns ``self``."""
        if (other.num_layers, other.num_tasks) != (self.num_layers, self.num_tasks):
            raise ValueError(f'cannot merge an accumulator of {other.num_layers} layers x {other.num_tasks} tasks '
                             f'into one of {self.num_layers} layers x {self.num_tasks} tasks')
        self.stats += other.stats.to(self.stats.device)
        self.nonfinite += other.nonfinite.to(self.nonfinite.device)
        return self

    def state_tensors(self) -> List[Tensor]:
        """``[stats (5, L, P), nonfinite (L,)]``, float64: the accumulator's own tensors, so in-place all_reduce
        (SUM) works."""
        return [self.stats, self.nonfinite]

    def load_state_tensors(self, tensors: Sequence[Tensor]) -> None:
        """Replace the statistics with those returned by :meth:`state_tensors`."""
        if (len(tensors) != 2 or tuple(tensors[0].shape) != tuple(self.stats.shape)
                or tuple(tensors[1].shape) != tuple(self.nonfinite.shape)):
            raise ValueError(f'expected tensors of shapes {tuple(self.stats.shape)}, {tuple(self.nonfinite.shape)}, '
                             f'got shapes {[tuple(t.shape) for t in tensors]}')
        self.stats = tensors[0].detach().to(device=self.stats.device, dtype=torch.float64).clone()
        self.nonfinite = tensors[1].detach().to(device=self.nonfinite.device, dtype=torch.float64).clone()

    @staticmethod
    def _scores(entries: Tensor, stats: Tensor) -> Dict[str, Tensor]:
        nan = torch.full_like(entries, float('nan'))
        safe = entries.clamp_min(1.0)
        ratio = [torch.where(entries > 0, stats[kind] / safe, nan) for kind in range(1, len(_KINDS))]
        return dict(zip(('range_conflict', 'null_conflict', 'range_cosine', 'null_cosine'), ratio))

    def scores(self) -> Dict[str, Tensor]:
        """Per-layer scores, each (L,) float64, over all task pairs.

        ``range_conflict`` / ``null_conflict``: fraction of (token, sample, pair) entries with a_ij < 0 / n_ij < 0,
        in [0, 1]; ``range_cosine`` / ``null_cosine``: mean cosine of the range / null components. A layer that
        never received an update has NaN scores (no error is raised here; ``select_layers`` refuses NaN).
        """
        self._check_finite()
        stats = self.stats.sum(dim=2)  # (5, L)
        return self._scores(stats[0], stats)

    def _check_finite(self) -> None:
        bad = [layer for layer, count in enumerate(self.nonfinite.tolist()) if count > 0]
        if bad:
            raise ValueError(f'non-finite gradient at layer {bad[0]} (layers {bad}): a task loss or the forward pass '
                             'produced NaN/inf')

    def pair_scores(self) -> Dict[str, Tensor]:
        """The same scores per task pair, each (L, P) with pairs ordered as :attr:`pairs`."""
        self._check_finite()
        return self._scores(self.stats[0], self.stats)


def task_gradients(losses: Sequence[Tensor],
                   block_outputs: Sequence[Tensor],
                   retain_graph: bool = True) -> List[Tensor]:
    """∂L_t/∂X_l for every task t and layer l, with one ``torch.autograd.grad`` call per task.

    Args:
        losses: T scalar task losses computed from one forward pass.
        block_outputs: L block outputs X_l of that pass, each (B, N, C) and part of the graph.
        retain_graph: Keep the graph after the last task's call (every earlier call keeps it regardless), e.g.
            to run the training backward afterwards. Default: True.

    Returns:
        L tensors of shape (T, B, N, C); a layer that a task's loss does not reach gets zeros. All T x L gradients
        are held at once.
    """
    T = len(losses)
    if T == 0 or not block_outputs:
        raise ValueError(f'need at least one loss and one block output, got {T} losses and '
                         f'{len(block_outputs)} block outputs')
    for t, loss in enumerate(losses):
        if loss.dim() != 0 or not loss.requires_grad:
            raise ValueError(f'loss {t} must be a scalar in the autograd graph, got shape {tuple(loss.shape)} '
                             f'with requires_grad={loss.requires_grad}')
    for layer, tokens in enumerate(block_outputs):
        if not tokens.requires_grad:
            raise ValueError(f'block output {layer} does not require grad; run the forward with autograd enabled '
                             'and keep the block outputs themselves (not detached copies)')
    grads = None  # L tensors (T, B, N, C), filled one task at a time so at most one task's tuple is extra
    for t, loss in enumerate(losses):
        task_grads = torch.autograd.grad(
            loss,
            list(block_outputs),
            retain_graph=retain_graph or t < T - 1,
            allow_unused=True,
            materialize_grads=True)
        if grads is None:
            grads = [grad.new_empty((T, *grad.shape)) for grad in task_grads]
        for layer, grad in enumerate(task_grads):
            grads[layer][t] = grad
    return grads


def own_stream_gradients(grads: Tensor, batch_size: int) -> Tensor:
    """Each task's gradient on its own token stream, (T, R, N, C) -> (T, B, N, C).

    For a shared layer (R = B) the gradients are returned as they are. After expansion a layer's tokens are T
    stacked streams (R = T·B) and task t's loss reaches only stream t, so task t's gradient is read from rows
    t·B ... (t+1)·B - 1; conflicts then compare tasks' gradients at the same token position of their streams.
    """
    T, R = grads.shape[:2]
    if R == batch_size:
        return grads
    if R != T * batch_size:
        raise ValueError(f'gradients over {R} rows are neither {batch_size} shared samples nor {T} stacked '
                         f'streams of {batch_size}')
    streams = grads.unflatten(1, (T, batch_size))  # (T task, T stream, B, N, C)
    index = torch.arange(T, device=grads.device)
    return streams[index, index]
