from .hooks import ConflictMonitorHook, DTMEHook
from .optimizers import *  # noqa: F401,F403
from .runner import MultiTaskRunner

__all__ = ['ConflictMonitorHook', 'DTMEHook', 'MultiTaskRunner']
