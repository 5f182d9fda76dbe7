"""Gradient aggregators of the multi-task optimisation (MTO) baselines: task Jacobian (T, P) -> update (P,).

Row t of the Jacobian is task t's gradient of the shared parameters, flattened. The aggregators wrap
`torchjd <https://github.com/TorchJD/torchjd>`_ 0.18 (MIT) where it has the method; the notes on each class say
where torchjd (or our default) departs from the paper. Every aggregator is deterministic given its input and the
torch RNG state; :class:`MultiTaskOptimWrapper` seeds the RNG of the random ones (``uses_rng``) from its own seed
and step, so every process of a DDP run draws the same numbers.

Cost: all of them need the T per-task gradients of the shared parameters (T backward passes); the aggregation
itself is O(T² P) for the Gramian-based ones (a T×T solve / eigendecomposition / small convex program on top).
"""
from typing import Optional, Sequence

import numpy as np
import torch
from torch import Tensor

from mmdtme.registry import AGGREGATORS


def _torchjd_aggregation():
    try:
        import torchjd.aggregation as aggregation
    except ImportError as error:  # pragma: no cover - torchjd is a runtime requirement
        raise ImportError('the MTO gradient methods need torchjd: pip install "torchjd[full]>=0.18" '
                          '(see requirements/runtime.txt)') from error
    return aggregation


class GradientAggregator:
    """Base class: ``aggregator(jacobian) -> update``; stateful aggregators also save / load their state.

    Attributes:
        uses_rng: The aggregation draws random numbers (the caller seeds them identically on every process).
    """

    uses_rng = False

    def __call__(self, jacobian: Tensor) -> Tensor:
        if jacobian.dim() != 2:
            raise ValueError(f'{type(self).__name__} expects a (tasks, params) Jacobian, got shape '
                             f'{tuple(jacobian.shape)}')
        return self.aggregate(jacobian)

    def aggregate(self, jacobian: Tensor) -> Tensor:
        raise NotImplementedError

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass

    def __repr__(self) -> str:
        return f'{type(self).__name__}()'


class _TorchJD(GradientAggregator):
    """An aggregator that delegates to a torchjd aggregator built in ``__init__``."""

    def __init__(self, aggregator) -> None:
        self.torchjd = aggregator

    def aggregate(self, jacobian: Tensor) -> Tensor:
        return self.torchjd(jacobian)

    def __repr__(self) -> str:
        return f'{type(self).__name__}({self.torchjd!r})'


@AGGREGATORS.register_module()
class Sum(_TorchJD):
    """GD through the Jacobian: the sum of the task gradients (the reference; ``aggregator=None`` is cheaper)."""

    def __init__(self) -> None:
        super().__init__(_torchjd_aggregation().Sum())


@AGGREGATORS.register_module()
class GradDrop(_TorchJD):
    """GradDrop (Chen et al., NeurIPS 2020, "Just Pick a Sign"), Algorithm 1 lines 10-15, via torchjd.

    Per coordinate, the positive sign purity P = ½ (1 + Σ_t g_t / Σ_t |g_t|) and a uniform U decide which sign
    survives: task t's coordinate is kept if (P > U and g_t > 0) or (P < U and g_t < 0).

    Difference from the paper: the paper applies GradDrop to the gradients with respect to the shared
    *activations* at the task heads' input (and lets them flow back); here, as in torchjd, it is applied to the
    gradients of the shared *parameters*.

    Args:
        leak: Per-task leak l_t (the share of task t's gradient kept regardless of sign); default none.
    """

    uses_rng = True

    def __init__(self, leak: Optional[Sequence[float]] = None) -> None:
        leak_tensor = None if leak is None else torch.tensor(list(leak), dtype=torch.float32)
        super().__init__(_torchjd_aggregation().GradDrop(leak=leak_tensor))

    def aggregate(self, jacobian: Tensor) -> Tensor:
        if self.torchjd.leak is not None:
            self.torchjd.leak = self.torchjd.leak.to(jacobian)
        return self.torchjd(jacobian)


@AGGREGATORS.register_module()
class MGDA(_TorchJD):
    """MGDA (Sener & Koltun, NeurIPS 2018): the min-norm point of the convex hull of the task gradients.

    Frank-Wolfe on the Gramian (the paper's Algorithm 2) via torchjd; the weights sum to 1. Like the paper's
    plain MGDA, no gradient normalisation and no MGDA-UB (upper bound through the shared representation).

    Args:
        epsilon: Stop when the Frank-Wolfe step is below this.
        max_iters: Most Frank-Wolfe iterations.
    """

    def __init__(self, epsilon: float = 1e-3, max_iters: int = 100) -> None:
        super().__init__(_torchjd_aggregation().MGDA(epsilon=epsilon, max_iters=max_iters))


@AGGREGATORS.register_module()
class PCGrad(_TorchJD):
    """PCGrad (Yu et al., NeurIPS 2020), Algorithm 1, via torchjd.

    For each task i, g_i is projected onto the normal plane of every g_j (j ≠ i, random order) it conflicts
    with (g_i · g_j < 0); the update is the sum of the projected gradients. As in the paper's multi-task
    setting, only the shared parameters are projected; each head keeps its own task's gradient.
    """

    uses_rng = True

    def __init__(self) -> None:
        super().__init__(_torchjd_aggregation().PCGrad())


@AGGREGATORS.register_module()
class CAGrad(_TorchJD):
    """CAGrad (Liu et al., NeurIPS 2021): d = g0 + (√φ / ‖g_w‖) g_w with φ = c² ‖g0‖², via torchjd.

    g0 is the mean gradient and w minimises g_w·g0 + √φ ‖g_w‖ over the simplex (torchjd solves it with cvxpy +
    Clarabel; the official code uses scipy's SLSQP). torchjd returns the paper's Algorithm 1 direction; the
    official implementation, which produced the published numbers, divides it by 1 + c² (``rescale=True``).

    Args:
        c: Radius scale of the conflict-averse ball (0.4 for NYU-v2 in the paper).
        rescale: Divide the update by 1 + c², as the official code's default ``rescale=1``.
    """

    def __init__(self, c: float = 0.4, rescale: bool = True) -> None:
        super().__init__(_torchjd_aggregation().CAGrad(c=c))
        self.c = c
        self.rescale = rescale

    def aggregate(self, jacobian: Tensor) -> Tensor:
        update = self.torchjd(jacobian)
        return update / (1 + self.c**2) if self.rescale else update


@AGGREGATORS.register_module()
class IMTLG(_TorchJD):
    """IMTL-G (Liu et al., ICLR 2021), the gradient half of IMTL, via torchjd.

    The update g = Σ α_t g_t with Σ α_t = 1 has equal projections on every task's unit gradient u_t. The paper's
    closed form α = g_1 Uᵀ (D Uᵀ)⁻¹ solves the same equations as torchjd's α ∝ G⁺ diag(G)^½ (G = J Jᵀ), which
    also covers linearly dependent gradients (pseudo-inverse). ``configs/mto/imtl_*`` combine it with the
    loss half (:class:`~mmdtme.engine.optimizers.IMTLL`), the paper's full IMTL.
    """

    def __init__(self) -> None:
        super().__init__(_torchjd_aggregation().IMTLG())


@AGGREGATORS.register_module()
class AlignedMTL(_TorchJD):
    """Aligned-MTL (Senushkin et al., CVPR 2023), Algorithm 1, via torchjd.

    The Jacobian's singular values are all set to the smallest one (``scale_mode='min'``, the paper's σ_min):
    J̃ = σ_min V Σ⁻¹ Vᵀ J, and the update is J̃ᵀ ω with ω = 1/T (torchjd's default preference vector).

    Args:
        scale_mode: ``'min'`` (paper), ``'median'`` or ``'rmse'`` (mean eigenvalue).
    """

    def __init__(self, scale_mode: str = 'min') -> None:
        super().__init__(_torchjd_aggregation().AlignedMTL(scale_mode=scale_mode))


@AGGREGATORS.register_module()
class NashMTL(_TorchJD):
    """Nash-MTL (Navon et al., ICML 2022): the Nash bargaining solution G α = 1/α, via torchjd.

    torchjd adapts the official code: sequential convex approximations with cvxpy + ECOS on the normalised Gramian,
    warm-started from the previous α, and the update's norm clipped to ``max_norm`` (the official code clips the
    shared gradients' norm to 1 instead, the same thing). The warm start and step counter are saved in
    checkpoints, so ``--resume`` continues the same sequence.

    Args:
        num_tasks: Number of tasks T (filled in by the optim wrapper).
        max_norm: Norm cap of the update (0 disables it).
        update_weights_every: Solve for α every this many steps, reuse it in between.
        optim_niter: Most convex-approximation iterations per solve.
    """

    def __init__(self,
                 num_tasks: int,
                 max_norm: float = 1.0,
                 update_weights_every: int = 1,
                 optim_niter: int = 20) -> None:
        super().__init__(_torchjd_aggregation().NashMTL(
            n_tasks=num_tasks, max_norm=max_norm, update_weights_every=update_weights_every, optim_niter=optim_niter))

    def state_dict(self) -> dict:
        weighting = self.torchjd.weighting
        return dict(
            alpha=torch.as_tensor(np.asarray(weighting.prvs_alpha, dtype=np.float64)),
            step=torch.tensor(int(weighting.step)))

    def load_state_dict(self, state: dict) -> None:
        weighting = self.torchjd.weighting
        step = int(state['step'])
        weighting.prvs_alpha = state['alpha'].cpu().numpy().astype(np.float32)
        weighting.step = float(step)
        if step > 0:
            # torchjd builds its convex program at step 0 only; rebuild it around the restored warm start.
            weighting._init_optim_problem()
