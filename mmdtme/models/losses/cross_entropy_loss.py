import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdtme.registry import MODELS


def pixel_cross_entropy(logits: torch.Tensor, target: torch.Tensor, ignore_index: int = 255) -> torch.Tensor:
    """Mean cross entropy over the labelled pixels; 0 (with a gradient) when none is labelled.

    Args:
        logits: B×K×H×W class scores.
        target: B×1×H×W or B×H×W integer labels, ``ignore_index`` where unlabelled.
    """
    target = target.long().reshape(target.shape[0], *target.shape[-2:])
    loss = F.cross_entropy(logits, target, ignore_index=ignore_index, reduction='sum')
    return loss / (target != ignore_index).sum().clamp(min=1)


@MODELS.register_module()
class PixelCrossEntropyLoss(nn.Module):
    """Cross entropy for label maps (semantic segmentation, human parts), averaged over labelled pixels.

    Args:
        ignore_index: Label excluded from the loss.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, ignore_index: int = 255, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * pixel_cross_entropy(logits, target, self.ignore_index)

    @property
    def loss_name(self) -> str:
        return 'loss_ce'
