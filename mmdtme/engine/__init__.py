from .hooks import DTMEHook

__all__ = ['DTMEHook']
