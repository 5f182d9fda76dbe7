from .formatting import PackMultiTaskInputs
from .loading import ANNOTATION_LOADERS, LoadImageWithCheck, LoadMultiTaskAnnotations, register_annotation_loader
from .transforms import MultiTaskRandomFlip

__all__ = ['ANNOTATION_LOADERS', 'LoadImageWithCheck', 'LoadMultiTaskAnnotations', 'MultiTaskRandomFlip',
           'PackMultiTaskInputs', 'register_annotation_loader']
