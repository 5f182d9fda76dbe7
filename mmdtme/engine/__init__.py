from .hooks import ConflictMonitorHook, DTMEHook

__all__ = ['ConflictMonitorHook', 'DTMEHook']
