from .delta_m import delta_m
from .metrics import MultiTaskMetric

__all__ = ['MultiTaskMetric', 'delta_m']
