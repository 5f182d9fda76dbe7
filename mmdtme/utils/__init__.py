from .checkpoint import allow_mmengine_checkpoints
from .runtime import setup_runtime

__all__ = ['allow_mmengine_checkpoints', 'setup_runtime']
