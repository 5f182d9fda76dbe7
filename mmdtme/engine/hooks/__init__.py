from .checkpoint_fit_hook import CheckpointFitHook
from .conflict_monitor_hook import ConflictMonitorHook
from .dtme_hook import DTMEHook
from .expansion_hook import ExpansionHook
from .recon_hook import ReconHook
from .visualization_hook import MultiTaskVisualizationHook

__all__ = [
    'CheckpointFitHook', 'ConflictMonitorHook', 'DTMEHook', 'ExpansionHook', 'MultiTaskVisualizationHook', 'ReconHook'
]
