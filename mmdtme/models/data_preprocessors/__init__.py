from .multi_task_data_preprocessor import MultiTaskDataPreProcessor

__all__ = ['MultiTaskDataPreProcessor']
