import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdtme.registry import MODELS


def masked_l1(pred: torch.Tensor, target: torch.Tensor, valid: torch.Tensor) -> torch.Tensor:
    """Mean absolute error over the elements where ``valid`` is true (0 if none)."""
    valid = valid.expand_as(target)
    return (pred - target).abs().mul(valid).sum() / valid.sum().clamp(min=1)


def ignored_pixels(target: torch.Tensor, ignore_value: float, channel_dim: int = 1) -> torch.Tensor:
    """Pixels whose every channel equals ``ignore_value`` (the task's pad / invalid marker), keeping the channel dim."""
    return (target == ignore_value).all(dim=channel_dim, keepdim=True)


@MODELS.register_module()
class MaskedL1Loss(nn.Module):
    """Mean absolute error of a dense map over its valid pixels (all channels of each).

    A pixel is ignored when every channel of its target equals ``ignore_value``: missing depth in NYUD-v2 (0), or
    what the Taskonomy readers write where a file marks a pixel invalid (255, also the data preprocessor's pad
    value of those tasks; real targets lie in about [-7, 7]).

    Args:
        ignore_value: Target value marking a pixel to ignore (the task table's ``pad_value``).
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, ignore_value: float = 0.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f'MaskedL1Loss: prediction {tuple(pred.shape)} and target {tuple(target.shape)} '
                             'differ; the head needs as many output channels as the task has')
        valid = ~ignored_pixels(target, self.ignore_value)
        return self.loss_weight * masked_l1(pred, target, valid)

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
