import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdtme.registry import MODELS


def masked_l1(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the elements where ``valid`` is true (0 if none)."""
    valid = valid.expand_as(target)
    return (pred - target).abs().mul(valid).sum() / valid.sum().clamp(min=1)


@MODELS.register_module()
class DepthL1Loss(nn.Module):
    """L1 on depth over valid pixels; ground truth of ``invalid_value`` (0 in NYUD) is missing depth.

    Args:
        invalid_value: Ground-truth value marking pixels without depth.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, invalid_value: float = 0.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.invalid_value = invalid_value
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * masked_l1(pred, target, target != self.invalid_value)

    @property
    def loss_name(self) -> str:
        return 'loss_l1'


@MODELS.register_module()
class NormalL1Loss(nn.Module):
    """L1 between the L2-normalised predicted normals and the ground truth, on pixels with a normal.

    A ground-truth normal of zero length (padding, missing data) is ignored.

    Args:
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        valid = target.abs().sum(dim=1, keepdim=True) > 0
        return self.loss_weight * masked_l1(F.normalize(pred, dim=1), target, valid)

    @property
    def loss_name(self) -> str:
        return 'loss_l1'
