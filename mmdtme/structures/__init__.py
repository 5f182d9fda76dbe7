from .multi_task_data_sample import MultiTaskDataSample
from .tasks import LOWER_IS_BETTER, MAIN_METRICS, TASK_SPECS, TaskSpec, get_task_specs

__all__ = ['LOWER_IS_BETTER', 'MAIN_METRICS', 'MultiTaskDataSample', 'TASK_SPECS', 'TaskSpec', 'get_task_specs']
