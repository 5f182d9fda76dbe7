"""The multi-task train step, and the DDP wrapper that runs it (per-task losses reach the optim wrapper)."""
from typing import Dict, Union

import torch
import torch.nn as nn
from mmengine.model import MMDistributedDataParallel
from mmengine.registry import MODEL_WRAPPERS as MMENGINE_MODEL_WRAPPERS
from torch import Tensor

from mmdtme.registry import MODEL_WRAPPERS


def is_multi_task_optim_wrapper(optim_wrapper) -> bool:
    """Whether the optim wrapper takes per-task losses (``MultiTaskOptimWrapper``); duck-typed, so that the models
    package does not import the engine."""
    return hasattr(optim_wrapper, 'update_task_params')


def multi_task_train_step(runner_model: nn.Module,
                          module: nn.Module,
                          data: Union[dict, tuple, list],
                          optim_wrapper,
                          synced_by_ddp: bool = False) -> Dict[str, Tensor]:
    """mmengine's train step with the task losses handed to ``optim_wrapper.update_task_params``.

    Args:
        runner_model: What runs the forward: the model itself, or its DDP wrapper.
        module: The ``MultiTaskSegmentor`` (its ``parse_losses`` / ``task_losses`` and parameter names).
        data: The data batch.
        optim_wrapper: A multi-task optim wrapper.
        synced_by_ddp: ``runner_model`` is a DDP wrapper whose backward averages the gradients.
    """
    with optim_wrapper.optim_context(runner_model):
        data = module.data_preprocessor(data, training=True)
        losses = runner_model._run_forward(data, mode='loss')
    _, log_vars = module.parse_losses(losses)  # finiteness check and the logged (process-averaged) values
    task_losses = module.task_losses(losses)

    def recompute() -> Dict[str, Tensor]:
        # The same batch after the step (FAMO), under the training forward's autocast, so both losses have the
        # same precision; the module itself: no DDP bookkeeping for a no-grad forward.
        with torch.no_grad(), optim_wrapper.optim_context(module):
            return module.task_losses(module._run_forward(data, mode='loss'))

    log_vars.update(optim_wrapper.update_task_params(task_losses, module, recompute, synced_by_ddp))
    return log_vars


# Also in mmengine's root registry: Runner.wrap_model resolves model_wrapper_cfg.type there with a bare
# ``MODEL_WRAPPERS.get`` that does not look into the mmdtme scope.
@MMENGINE_MODEL_WRAPPERS.register_module()
@MODEL_WRAPPERS.register_module()
class MultiTaskDDP(MMDistributedDataParallel):
    """``MMDistributedDataParallel`` whose train step hands per-task losses to a multi-task optim wrapper.

    With a multi-task optim wrapper that aggregates per-task gradients the forward runs under ``no_sync()``: DDP's
    reducer is not used, and the optim wrapper averages the per-task gradients over the processes itself before
    aggregating them (see ``mmdtme.engine.optimizers.multi_task_optim_wrapper``). Without an aggregator (GD and the
    loss weightings) DDP syncs the one backward as usual. With a plain ``OptimWrapper`` it is
    ``MMDistributedDataParallel``. Set it with ``model_wrapper_cfg=dict(type='MultiTaskDDP')``; the DTME hook
    re-wraps with the same config after expansion.

    Args:
        module: The model.
        broadcast_buffers: Broadcast rank 0's buffers (BN statistics) at each forward, so all processes evaluate
            the same model. Default: True, as DDP's and as ``setup_runtime`` sets for every wrapper.
        **kwargs: ``MMDistributedDataParallel`` / ``DistributedDataParallel`` arguments.
    """

    def __init__(self, module: nn.Module, broadcast_buffers: bool = True, **kwargs) -> None:
        super().__init__(module=module, broadcast_buffers=broadcast_buffers, **kwargs)

    def train_step(self, data: Union[dict, tuple, list], optim_wrapper) -> Dict[str, Tensor]:
        if not is_multi_task_optim_wrapper(optim_wrapper):
            return super().train_step(data, optim_wrapper)
        if not optim_wrapper.needs_jacobian:
            return multi_task_train_step(self, self.module, data, optim_wrapper, synced_by_ddp=True)
        with self.no_sync():
            return multi_task_train_step(self, self.module, data, optim_wrapper)
