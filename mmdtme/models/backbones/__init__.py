from .dtme_vit import DTMEViT
from .timm_vit import TimmViT, evenly_spaced_blocks, load_vit_checkpoint

__all__ = ['DTMEViT', 'TimmViT', 'evenly_spaced_blocks', 'load_vit_checkpoint']
