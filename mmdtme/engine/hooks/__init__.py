from .conflict_monitor_hook import ConflictMonitorHook
from .dtme_hook import DTMEHook

__all__ = ['ConflictMonitorHook', 'DTMEHook']
