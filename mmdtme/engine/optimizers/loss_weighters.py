"""Loss weighting of the multi-task optimisation baselines: per-task losses (T,) -> weighted losses (T,).

A weighter is an ``nn.Module`` whose parameters and buffers are its whole state: :class:`MultiTaskOptimWrapper`
saves ``weighter.state_dict()`` in the checkpoint's optimizer entry, so ``--resume`` continues where it stopped.

Every weighter returns ``w_t ⊙ ℓ_t``-like terms that are *linear* in the local losses ℓ_t, with any statistics
read from ``reduced`` (the losses averaged over the DDP processes, detached). So the all-reduced gradient of the
weighted losses equals the single-process gradient on the concatenated batch, and the weights agree on every
process. These are our own implementations (torchjd's scalarizers keep Python state that checkpoints cannot hold).
"""
from typing import Callable, List, Optional

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor

from mmdtme.registry import LOSS_WEIGHTERS


class LossWeighter(nn.Module):
    """Base class. ``forward(losses, reduced)`` -> weighted per-task losses whose sum is minimised.

    Args:
        num_tasks: Number of tasks T (filled in by the optim wrapper).

    Attributes:
        needs_recompute: :meth:`after_update` needs the losses of the same batch after the step (one extra
            no-grad forward).
    """

    needs_recompute = False

    def __init__(self, num_tasks: int) -> None:
        super().__init__()
        if num_tasks < 1:
            raise ValueError(f'num_tasks must be >= 1, got {num_tasks}')
        self.num_tasks = num_tasks

    def forward(self, losses: Tensor, reduced: Tensor) -> Tensor:
        raise NotImplementedError

    def weights(self) -> Tensor:
        """The current weight of each task's loss (for logging)."""
        raise NotImplementedError

    def optimizer_parameters(self) -> List[nn.Parameter]:
        """Parameters learned by the model's optimizer (they join it as their own group)."""
        return []

    def after_update(self, reduced: Tensor, recompute: Optional[Callable[[], Tensor]] = None) -> None:
        """Called once per optimizer step with that step's reduced losses."""


@LOSS_WEIGHTERS.register_module()
class UW(LossWeighter):
    """Uncertainty weighting (Kendall et al., CVPR 2018): Σ_t ½ e^{-s_t} ℓ_t + ½ s_t, s_t = log σ_t².

    The log-variances s are learned by the model's optimizer (their own param group, no weight decay). This is the
    common form of the paper's regression / classification likelihoods (LibMTL, torchjd use it too).

    Args:
        num_tasks: Number of tasks T.
        init: Initial log-variance (0: σ² = 1, all weights ½; LibMTL uses -0.5).
    """

    def __init__(self, num_tasks: int, init: float = 0.0) -> None:
        super().__init__(num_tasks)
        self.log_vars = nn.Parameter(torch.full((num_tasks, ), float(init)))

    def forward(self, losses: Tensor, reduced: Tensor) -> Tensor:
        return 0.5 * torch.exp(-self.log_vars) * losses + 0.5 * self.log_vars

    def weights(self) -> Tensor:
        return 0.5 * torch.exp(-self.log_vars.detach())

    def optimizer_parameters(self) -> List[nn.Parameter]:
        return [self.log_vars]


@LOSS_WEIGHTERS.register_module()
class IMTLL(LossWeighter):
    """IMTL-L (Liu et al., ICLR 2021), the loss half of IMTL: Σ_t e^{s_t} ℓ_t - s_t, s learned by the optimizer.

    Args:
        num_tasks: Number of tasks T.
    """

    def __init__(self, num_tasks: int) -> None:
        super().__init__(num_tasks)
        self.log_scales = nn.Parameter(torch.zeros(num_tasks))

    def forward(self, losses: Tensor, reduced: Tensor) -> Tensor:
        return torch.exp(self.log_scales) * losses - self.log_scales

    def weights(self) -> Tensor:
        return torch.exp(self.log_scales.detach())

    def optimizer_parameters(self) -> List[nn.Parameter]:
        return [self.log_scales]


@LOSS_WEIGHTERS.register_module()
class DWA(LossWeighter):
    """Dynamic Weight Average (Liu et al., CVPR 2019): λ_t = T softmax_t(r_t / τ), r_t = L_t(k-1) / L_t(k-2).

    L_t(k) is task t's loss averaged over "epoch" k. For iteration-based training an epoch is ``interval``
    optimizer steps (set it to the iterations of one pass over the training set: 795 NYUD images / batch 4 ≈ 200);
    the losses averaged are the losses averaged over the processes. The weights are 1 until two epochs are done.

    Args:
        num_tasks: Number of tasks T.
        temperature: τ (2 in the paper).
        interval: Optimizer steps per "epoch".
    """

    def __init__(self, num_tasks: int, temperature: float = 2.0, interval: int = 200) -> None:
        super().__init__(num_tasks)
        if temperature <= 0:
            raise ValueError(f'DWA temperature must be > 0, got {temperature}')
        if interval < 1:
            raise ValueError(f'DWA interval (optimizer steps per epoch) must be >= 1, got {interval}')
        self.temperature = temperature
        self.interval = interval
        self.register_buffer('history', torch.ones(2, num_tasks))  # averages of epochs k-2 and k-1
        self.register_buffer('num_epochs', torch.zeros((), dtype=torch.long))
        self.register_buffer('running_sum', torch.zeros(num_tasks))
        self.register_buffer('running_steps', torch.zeros((), dtype=torch.long))

    def weights(self) -> Tensor:
        # Decided on the device (no host read per step): 1 until two epochs are done.
        ratios = self.history[1] / self.history[0]
        dynamic = self.num_tasks * F.softmax(ratios / self.temperature, dim=0)
        return torch.where(self.num_epochs < 2, torch.ones_like(dynamic), dynamic)

    def forward(self, losses: Tensor, reduced: Tensor) -> Tensor:
        return self.weights().to(losses) * losses

    def after_update(self, reduced: Tensor, recompute: Optional[Callable[[], Tensor]] = None) -> None:
        self.running_sum += reduced.detach().to(self.running_sum)
        self.running_steps += 1
        done = self.running_steps == self.interval  # an epoch ends: a device-side branch, no host read
        self.history.copy_(
            torch.where(done, torch.stack([self.history[1], self.running_sum / self.interval]), self.history))
        self.num_epochs += done.long()
        self.running_sum.mul_(~done)
        self.running_steps.mul_(~done)


@LOSS_WEIGHTERS.register_module()
class FAMO(LossWeighter):
    """FAMO (Liu et al., NeurIPS 2023), the practical Algorithm 2.

    The model gets c Σ_t z_t ∇ log(ℓ_t - b_t), z = softmax(ξ), c = (Σ_t z_t / (ℓ_t - b_t))⁻¹; here as the loss
    Σ_t w_t ℓ_t with w_t = c z_t / (ℓ_t - b_t) (ℓ the losses averaged over processes, w detached), which has that
    gradient. After the model step the losses of the same batch are computed again (one no-grad forward, as in the
    official code) and the logits take one step of their own Adam (lr β, weight decay γ) on the gradient
    (∂z/∂ξ)ᵀ δ, δ_t = log(ℓ_t - b_t) before - after. The logits are not in the model's optimizer; the Adam state is
    part of this module's state dict. With gradient accumulation, δ is measured on the last micro-batch.

    Args:
        num_tasks: Number of tasks T.
        lr: β, the logits' learning rate (0.025 in the paper).
        weight_decay: γ, the logits' regularisation (1e-3 in the paper's Algorithm 2; the official code 1e-5).
        min_losses: Lower bounds b_t of the losses (default 0: losses must stay positive).
        eps: Added to ℓ_t - b_t before the log.
    """

    needs_recompute = True

    def __init__(self,
                 num_tasks: int,
                 lr: float = 0.025,
                 weight_decay: float = 1e-3,
                 min_losses: Optional[List[float]] = None,
                 eps: float = 1e-8) -> None:
        super().__init__(num_tasks)
        self.logits = nn.Parameter(torch.zeros(num_tasks))
        bounds = torch.zeros(num_tasks) if min_losses is None else torch.tensor(list(min_losses), dtype=torch.float)
        if bounds.shape != (num_tasks, ):
            raise ValueError(f'FAMO min_losses needs one value per task ({num_tasks}), got {min_losses}')
        self.register_buffer('min_losses', bounds)
        self.eps = eps
        self.optimizer = torch.optim.Adam([self.logits], lr=lr, weight_decay=weight_decay)
        self._before: Optional[Tensor] = None

    def _shifted(self, reduced: Tensor) -> Tensor:
        return reduced.detach().to(self.min_losses) - self.min_losses + self.eps

    def weights(self) -> Tensor:
        return F.softmax(self.logits.detach(), dim=0)

    def forward(self, losses: Tensor, reduced: Tensor) -> Tensor:
        shifted = self._shifted(reduced)
        z = self.weights()
        c = 1.0 / (z / shifted).sum()
        self._before = shifted
        return (c * z / shifted).to(losses) * losses

    def after_update(self, reduced: Tensor, recompute: Optional[Callable[[], Tensor]] = None) -> None:
        if recompute is None or self._before is None:
            raise RuntimeError('FAMO updates its weights from the losses of the same batch after the step; the '
                               'optim wrapper must pass a recompute callable (use MultiTaskSegmentor.train_step)')
        delta = torch.log(self._before) - torch.log(self._shifted(recompute()))
        with torch.enable_grad():
            z = F.softmax(self.logits, dim=0)
            (grad, ) = torch.autograd.grad(z, self.logits, grad_outputs=delta)
        self.logits.grad = grad
        self.optimizer.step()
        self.logits.grad = None
        self._before = None

    def get_extra_state(self) -> dict:
        return self.optimizer.state_dict()

    def set_extra_state(self, state: dict) -> None:
        self.optimizer.load_state_dict(state)
