import pickle
from typing import Any

import numpy as np
import torch
from mmengine.logging.history_buffer import HistoryBuffer


def _history_buffer_getattr(owner: Any, name: str) -> Any:
    """The only ``getattr`` a checkpoint may call: fetching a ``HistoryBuffer`` statistics method.

    mmengine pickles ``HistoryBuffer._statistics_methods`` (functions such as ``HistoryBuffer.mean``) as
    ``getattr(HistoryBuffer, 'mean')``; a general ``getattr`` would let a crafted file reach arbitrary code.
    """
    if owner is HistoryBuffer and name in ('min', 'max', 'current', 'mean') + tuple(HistoryBuffer._statistics_methods):
        return getattr(owner, name)
    raise pickle.UnpicklingError(f'checkpoint asks for getattr({owner!r}, {name!r}), which mmdtme does not allow')


def allow_mmengine_checkpoints() -> None:
    """Let ``torch.load``'s default weights-only unpickler read mmengine's own checkpoints.

    Since torch 2.6 ``torch.load`` defaults to ``weights_only=True`` and mmengine's resume / ``load_from``
    call it without the argument, so they fail on the message-hub state of their own checkpoints. Rather
    than unpickling arbitrary objects, this allow-lists exactly what mmengine writes there: its
    ``HistoryBuffer`` (with a ``getattr`` limited to its statistics methods) and numpy arrays, dtypes
    and scalars.
    """
    numpy_core = getattr(np, '_core', None) or np.core
    safe = [
        HistoryBuffer, np.ndarray, np.dtype, numpy_core.multiarray._reconstruct, numpy_core.multiarray.scalar,
        (_history_buffer_getattr, 'builtins.getattr')
    ]
    safe += [cls for cls in vars(np.dtypes).values() if isinstance(cls, type) and issubclass(cls, np.dtype)]
    torch.serialization.add_safe_globals(safe)
