from .delta_m import delta_m
from .metrics import LOWER_IS_BETTER, MultiTaskMetric

__all__ = ['LOWER_IS_BETTER', 'MultiTaskMetric', 'delta_m']
