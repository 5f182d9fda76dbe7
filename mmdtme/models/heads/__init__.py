from .task_conv_head import TaskConvHead

__all__ = ['TaskConvHead']
