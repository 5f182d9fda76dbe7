from .dtme_vit import DTMEViT
from .pretrained_weights import PretrainedWeightsUnavailable, load_vit_checkpoint, resolve_timm_weights
from .task_prompter_vit import PromptLevel, TaskPrompterViT
from .timm_vit import TimmViT, evenly_spaced_blocks

__all__ = [
    'DTMEViT', 'PretrainedWeightsUnavailable', 'PromptLevel', 'TaskPrompterViT', 'TimmViT', 'evenly_spaced_blocks',
    'load_vit_checkpoint', 'resolve_timm_weights'
]
