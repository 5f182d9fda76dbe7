import torch
import torch.nn as nn

from mmdtme.registry import MODELS
from .l1_loss import masked_l1


def ignored_pixels(target: torch.Tensor, ignore_value: float, channel_dim: int = 1) -> torch.Tensor:
    """Pixels whose every channel equals ``ignore_value`` (the task's pad / invalid marker), keeping the channel dim."""
    return (target == ignore_value).all(dim=channel_dim, keepdim=True)


@MODELS.register_module()
class RegressionL1Loss(nn.Module):
    """Mean absolute error of a dense float map over its valid pixels (all channels of each).

    A pixel is ignored when every channel of its target equals ``ignore_value``: the Taskonomy readers write it
    where the file marks the pixel invalid, and the data preprocessor pads with it. Real targets never reach it
    (they lie in about [-7, 7]).

    Args:
        ignore_value: Target value marking a pixel to ignore.
        loss_weight: Multiplier of the loss.
    """

    def __init__(self, ignore_value: float = 255.0, loss_weight: float = 1.0) -> None:
        super().__init__()
        self.ignore_value = ignore_value
        self.loss_weight = loss_weight

    def forward(self, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if pred.shape != target.shape:
            raise ValueError(f'RegressionL1Loss: prediction {tuple(pred.shape)} and target {tuple(target.shape)} '
                             'differ; the head needs as many output channels as the task has')
        valid = ~ignored_pixels(target, self.ignore_value)
        return self.loss_weight * masked_l1(pred, target, valid)

    @property
    def loss_name(self) -> str:
        return 'loss_l1'
