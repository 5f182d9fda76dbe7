from .multi_task_ddp import MultiTaskDDP, is_multi_task_optim_wrapper, multi_task_train_step

__all__ = ['MultiTaskDDP', 'is_multi_task_optim_wrapper', 'multi_task_train_step']
