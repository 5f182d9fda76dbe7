from .formatting import PackMultiTaskInputs
from .loading import LoadImageWithCheck, LoadMultiTaskAnnotations
from .transforms import MultiTaskRandomFlip

__all__ = ['LoadImageWithCheck', 'LoadMultiTaskAnnotations', 'MultiTaskRandomFlip', 'PackMultiTaskInputs']
