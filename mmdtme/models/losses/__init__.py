from .balanced_bce_loss import BalancedBCELoss, balanced_bce
from .cross_entropy_loss import PixelCrossEntropyLoss, pixel_cross_entropy
from .l1_loss import MaskedL1Loss, NormalL1Loss, ignored_pixels, masked_l1

__all__ = [
    'BalancedBCELoss', 'MaskedL1Loss', 'NormalL1Loss', 'PixelCrossEntropyLoss', 'balanced_bce', 'ignored_pixels',
    'masked_l1', 'pixel_cross_entropy'
]
