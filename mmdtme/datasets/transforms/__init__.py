from .formatting import PackMultiTaskInputs
from .loading import ANNOTATION_LOADERS, LoadImageWithCheck, LoadMultiTaskAnnotations, register_annotation_loader
from .nyud_loading import LoadNYUDAnnotations
from .pascal_loading import load_context_edge, load_human_parts, load_masked_normals, load_pascal_semseg, load_saliency
from .taskonomy_loading import LoadTaskonomyAnnotations, load_taskonomy_target
from .transforms import IgnoreEmptyHumanParts, MultiTaskRandomFlip

__all__ = [
    'ANNOTATION_LOADERS', 'IgnoreEmptyHumanParts', 'LoadImageWithCheck', 'LoadMultiTaskAnnotations',
    'LoadNYUDAnnotations', 'LoadTaskonomyAnnotations', 'MultiTaskRandomFlip', 'PackMultiTaskInputs',
    'load_context_edge', 'load_human_parts', 'load_masked_normals', 'load_pascal_semseg', 'load_saliency',
    'load_taskonomy_target', 'register_annotation_loader'
]
