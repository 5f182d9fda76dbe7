from .multi_task_segmentor import MultiTaskSegmentor

__all__ = ['MultiTaskSegmentor']
