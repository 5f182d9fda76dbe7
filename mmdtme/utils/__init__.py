from .backbone_weights import prepare_backbone_weights
from .checkpoint import allow_mmengine_checkpoints
from .runtime import (add_runtime_arguments, build_runner, load_config, parse_tool_args, quietly, set_data_root,
                      setup_runtime, teardown_distributed)
from .synthetic_config import resize_synthetic_config

__all__ = [
    'allow_mmengine_checkpoints', 'add_runtime_arguments', 'build_runner', 'load_config', 'parse_tool_args',
    'prepare_backbone_weights', 'quietly', 'resize_synthetic_config', 'set_data_root', 'setup_runtime',
    'teardown_distributed'
]
