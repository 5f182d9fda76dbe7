from .conflict_monitor_hook import ConflictMonitorHook
from .dtme_hook import DTMEHook
from .recon_hook import ReconHook
from .visualization_hook import MultiTaskVisualizationHook

__all__ = ['ConflictMonitorHook', 'DTMEHook', 'MultiTaskVisualizationHook', 'ReconHook']
