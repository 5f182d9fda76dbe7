from .aggregators import (AGGREGATORS, IMTLG, MGDA, AlignedMTL, CAGrad, GradDrop, GradientAggregator, NashMTL, PCGrad,
                          Sum)
from .loss_weighters import DWA, FAMO, IMTLL, LOSS_WEIGHTERS, UW, LossWeighter
from .multi_task_optim_wrapper import (AmpMultiTaskOptimWrapper, MultiTaskOptimWrapper, MultiTaskOptimWrapperMixin,
                                       mean_over_processes)
from .multi_task_optim_wrapper_constructor import MultiTaskOptimWrapperConstructor

__all__ = [
    'AGGREGATORS', 'AlignedMTL', 'CAGrad', 'GradDrop', 'GradientAggregator', 'IMTLG', 'MGDA', 'NashMTL', 'PCGrad',
    'Sum', 'DWA', 'FAMO', 'IMTLL', 'LOSS_WEIGHTERS', 'LossWeighter', 'UW', 'AmpMultiTaskOptimWrapper',
    'MultiTaskOptimWrapper', 'MultiTaskOptimWrapperMixin', 'mean_over_processes', 'MultiTaskOptimWrapperConstructor'
]
