"""mmdtme: DTME-MTL (Dynamic Token Modulation and Expansion) for multi-task dense prediction on OpenMMLab.

Importing the package registers its datasets, transforms, models and metrics in the ``mmdtme`` scope.
"""
from .utils import allow_mmengine_checkpoints
from .version import __version__

allow_mmengine_checkpoints()

from . import datasets, engine, evaluation, models, structures, visualization  # noqa: E402,F401

__all__ = ['__version__']
