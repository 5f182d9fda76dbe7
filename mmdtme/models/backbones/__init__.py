from .dtme_vit import DTMEViT
from .task_prompter_vit import PromptLevel, TaskPrompterViT
from .timm_vit import TimmViT, evenly_spaced_blocks, load_vit_checkpoint

__all__ = ['DTMEViT', 'PromptLevel', 'TaskPrompterViT', 'TimmViT', 'evenly_spaced_blocks', 'load_vit_checkpoint']
