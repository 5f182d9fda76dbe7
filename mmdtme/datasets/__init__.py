from .nyud import NYUDMultiTaskDataset
from .synthetic_nyud import SyntheticNYUDDataset
from .transforms import *  # noqa: F401,F403

__all__ = ['NYUDMultiTaskDataset', 'SyntheticNYUDDataset']
