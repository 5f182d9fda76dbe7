"""Builds a multi-task optim wrapper: mmengine's default constructor plus the model's task names."""
import torch.nn as nn
from mmengine.optim import DefaultOptimWrapperConstructor, OptimWrapper

from mmdtme.registry import OPTIM_WRAPPER_CONSTRUCTORS


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MultiTaskOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """``DefaultOptimWrapperConstructor`` (``paramwise_cfg`` and all) that passes ``model.tasks`` to the wrapper.

    The loss weighter's parameters (UW, IMTL-L) must be in the optimizer before a resumed optimizer state loads,
    so the wrapper needs the number of tasks when it is built; this constructor supplies it. Use it as
    ``optim_wrapper=dict(type='MultiTaskOptimWrapper', constructor='MultiTaskOptimWrapperConstructor', ...)``.
    mmengine's ``OptimWrapper`` / ``AmpOptimWrapper`` types (``tools/train.py --amp`` sets the latter) become their
    multi-task versions.
    """

    MULTI_TASK_TYPES = {'OptimWrapper': 'MultiTaskOptimWrapper', 'AmpOptimWrapper': 'AmpMultiTaskOptimWrapper'}

    def __call__(self, model: nn.Module) -> OptimWrapper:
        module = model.module if hasattr(model, 'module') else model
        tasks = getattr(module, 'tasks', None)
        if not tasks:
            raise TypeError(f'{type(self).__name__} needs a multi-task model with a `tasks` attribute '
                            f'(MultiTaskSegmentor); got {type(module).__name__}')
        cfg = dict(self.optim_wrapper_cfg, tasks=list(tasks))
        # tools/train.py --amp sets type='AmpOptimWrapper' (and a plain type may be inherited): keep the MTO logic.
        cfg['type'] = self.MULTI_TASK_TYPES.get(cfg.get('type', 'OptimWrapper'), cfg.get('type'))
        self.optim_wrapper_cfg = cfg
        return super().__call__(model)
