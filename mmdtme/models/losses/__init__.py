from .balanced_bce_loss import BalancedBCELoss, balanced_bce
from .cross_entropy_loss import PixelCrossEntropyLoss, pixel_cross_entropy
from .l1_loss import DepthL1Loss, NormalL1Loss, masked_l1
from .regression_l1_loss import RegressionL1Loss

__all__ = ['BalancedBCELoss', 'DepthL1Loss', 'NormalL1Loss', 'PixelCrossEntropyLoss', 'RegressionL1Loss',
           'balanced_bce', 'masked_l1', 'pixel_cross_entropy']
