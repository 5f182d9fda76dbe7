from .timm_vit import TimmViT, evenly_spaced_blocks, load_vit_checkpoint

__all__ = ['TimmViT', 'evenly_spaced_blocks', 'load_vit_checkpoint']
