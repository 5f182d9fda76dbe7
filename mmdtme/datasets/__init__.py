from .nyud import NYUDMultiTaskDataset
from .pascal_context import PascalContextMultiTaskDataset
from .synthetic_nyud import SyntheticNYUDDataset
from .taskonomy import LoadTaskonomyAnnotations, TaskonomyMultiTaskDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['NYUDMultiTaskDataset', 'PascalContextMultiTaskDataset', 'SyntheticNYUDDataset',
           'LoadTaskonomyAnnotations', 'TaskonomyMultiTaskDataset']
