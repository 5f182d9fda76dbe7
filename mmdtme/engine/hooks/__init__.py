from .conflict_monitor_hook import ConflictMonitorHook
from .dtme_hook import DTMEHook
from .visualization_hook import MultiTaskVisualizationHook

__all__ = ['ConflictMonitorHook', 'DTMEHook', 'MultiTaskVisualizationHook']
