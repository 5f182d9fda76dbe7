from .hooks import ConflictMonitorHook, DTMEHook
from .optimizers import *  # noqa: F401,F403

__all__ = ['ConflictMonitorHook', 'DTMEHook']
