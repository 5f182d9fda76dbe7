from .multi_task_data_sample import MultiTaskDataSample
from .tasks import TASK_SPECS, TaskSpec, get_task_specs

__all__ = ['MultiTaskDataSample', 'TASK_SPECS', 'TaskSpec', 'get_task_specs']
