from .balanced_bce_loss import BalancedBCELoss, balanced_bce
from .cross_entropy_loss import PixelCrossEntropyLoss, pixel_cross_entropy
from .l1_loss import DepthL1Loss, NormalL1Loss, masked_l1

__all__ = ['BalancedBCELoss', 'DepthL1Loss', 'NormalL1Loss', 'PixelCrossEntropyLoss', 'balanced_bce',
           'masked_l1', 'pixel_cross_entropy']
