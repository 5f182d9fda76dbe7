from typing import Optional

import torch
import torch.nn as nn
import torch.nn.functional as F

from mmdtme.registry import MODELS


def balanced_bce(logits: torch.Tensor,
                 target: torch.Tensor,
                 pos_weight: Optional[float] = None,
                 ignore_index: int = 255) -> torch.Tensor:
    """Class-balanced binary cross entropy (HED) over labelled pixels.

    Positives are weighted by ``w`` and negatives by ``1 - w``, where ``w`` is ``pos_weight`` or, if
    ``None``, the fraction of negative pixels in the batch.

    Args:
        logits: B×1×H×W edge logits.
        target: B×1×H×W labels in {0, 1}, ``ignore_index`` where unlabelled.
    """
    valid = target != ignore_index
    labels = (target == 1).float()
    if pos_weight is None:  # on the device, no host read: 0.5 when nothing is labelled
        count = valid.sum()
        positive_share = (labels * valid).sum() / count.clamp(min=1)
        pos_weight = torch.where(count > 0, 1.0 - positive_share, 0.5)
    pos_weight = torch.as_tensor(pos_weight, dtype=logits.dtype, device=logits.device)
    weights = torch.where(labels > 0, pos_weight, 1.0 - pos_weight)
    loss = F.binary_cross_entropy_with_logits(logits, labels, weight=weights * valid, reduction='sum')
    return loss / valid.sum().clamp(min=1)


@MODELS.register_module()
class BalancedBCELoss(nn.Module):
    """Class-balanced binary cross entropy for edges.

    Args:
        pos_weight: Weight of edge pixels (non-edge pixels get ``1 - pos_weight``); ``None`` balances
            by the batch's label frequencies. InvPT uses 0.95 on NYUD and PASCAL.
        ignore_index: Label excluded from the loss.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, pos_weight: Optional[float] = 0.95, ignore_index: int = 255, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.pos_weight = pos_weight
        self.ignore_index = ignore_index
        self.loss_weight = loss_weight

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        return self.loss_weight * balanced_bce(logits, target, self.pos_weight, self.ignore_index)

    @property
    def loss_name(self) -> str:
        return 'loss_bce'
