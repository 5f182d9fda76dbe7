from .nyud import NYUDMultiTaskDataset
from .pascal_context import PascalContextMultiTaskDataset
from .synthetic.dataset import SyntheticNYUDDataset
from .taskonomy import TaskonomyMultiTaskDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['NYUDMultiTaskDataset', 'PascalContextMultiTaskDataset', 'SyntheticNYUDDataset', 'TaskonomyMultiTaskDataset']
