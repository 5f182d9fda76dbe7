from .dtme_hook import DTMEHook

__all__ = ['DTMEHook']
