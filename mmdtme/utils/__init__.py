from .checkpoint import allow_mmengine_checkpoints
from .runtime import load_config, setup_runtime

__all__ = ['allow_mmengine_checkpoints', 'load_config', 'setup_runtime']
