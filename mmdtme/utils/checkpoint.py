import glob
import os.path as osp
import pickle
import re
import zipfile
from typing import Any, Dict, Optional, Sequence

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


class CheckpointMismatchError(ValueError):
    """A checkpoint's weights do not fit the model they are loaded into."""


# Names that only a DTME-expanded model (TM / TE modules, task copies, a stored plan) has.
_DTME_MARKERS = ('token_modulation.', 'token_expansion.', 'dtme_plan')


def _listed(keys: Sequence[str], limit: int = 5) -> str:
    shown = ', '.join(keys[:limit])
    return shown + (f' and {len(keys) - limit} more' if len(keys) > limit else '')


def checkpoint_mismatch(model_state: Dict[str, torch.Tensor],
                        checkpoint_state: Dict[str, torch.Tensor],
                        allow_unexpanded: bool = True) -> Optional[str]:
    """Why ``checkpoint_state`` does not fit ``model_state`` (missing, unexpected, wrong-sized keys), or None.

    An empty ``backbone.dtme_plan`` buffer (an unexpanded DTME backbone) may be missing from a Baseline MT
    checkpoint when ``allow_unexpanded``: training can start from Baseline weights and expand later.
    """
    checkpoint_state = {
        key[len('module.'):] if key.startswith('module.') else key: value
        for key, value in checkpoint_state.items()
    }
    plan_keys = [key for key in model_state if key.endswith('dtme_plan')]
    missing = [key for key in model_state if key not in checkpoint_state]
    unexpected = [key for key in checkpoint_state if key not in model_state]
    resized = [
        key for key in model_state if key in checkpoint_state and not key.endswith('dtme_plan')
        and tuple(model_state[key].shape) != tuple(checkpoint_state[key].shape)
    ]
    unexpanded_only = missing and set(missing) <= set(plan_keys) and not unexpected and not resized
    if not missing and not unexpected and not resized or (unexpanded_only and allow_unexpanded):
        return None
    if unexpanded_only:
        cause = ('the checkpoint holds a model without DTME (a Baseline checkpoint), and this config builds a DTME '
                 'backbone, which would be evaluated unexpanded: use the config the checkpoint was trained with')
    elif any(marker in key for key in unexpected for marker in _DTME_MARKERS):
        cause = ('the checkpoint holds a DTME-expanded model (TM / TE weights and a plan) and this config builds a '
                 'backbone without DTME: use the DTME config the checkpoint was trained with')
    elif resized:
        key = resized[0]
        cause = (f'weights of another size: {key} is {tuple(checkpoint_state[key].shape)} in the checkpoint and '
                 f'{tuple(model_state[key].shape)} in the model (another backbone size, e.g. ViT-T weights into a '
                 'ViT-S model, or another number of classes)')
    else:
        cause = 'the checkpoint was written by another model than this config builds'
    details = [
        f'{name} ({len(keys)}): {_listed(keys)}'
        for name, keys in (('missing', missing), ('unexpected', unexpected), ('wrong size', resized)) if keys
    ]
    return (f'{cause}. Keys {"; ".join(details)}. To load only what fits on purpose, pass '
            '--cfg-options strict_load=False.')


def check_checkpoint_file(path: str) -> None:
    """Stop with one message when ``path`` is not a whole checkpoint, naming the older ones beside it.

    torch writes checkpoints as zip archives whose directory is at the end, so a file cut short by a crash or a
    full disk fails this check without being read.
    """
    if not osp.isfile(path):
        raise FileNotFoundError(f'checkpoint {path!r} does not exist')
    if zipfile.is_zipfile(path):
        return
    folder = osp.dirname(osp.abspath(path))

    def number(file: str) -> int:
        found = re.search(r'(\d+)\.pth$', file)
        return int(found.group(1)) if found else -1

    others = sorted((file for file in glob.glob(osp.join(folder, '*.pth')) if not osp.samefile(file, path)),
                    key=number,
                    reverse=True)
    hint = (f' Checkpoints beside it, newest first: {", ".join(osp.basename(file) for file in others[:5])}; resume '
            f'from one with --resume {others[0]}.' if others else ' No other checkpoint is beside it.')
    raise CheckpointMismatchError(f'checkpoint {path!r} is truncated or corrupt (not a complete torch archive of '
                                  f'{osp.getsize(path)} bytes).{hint}')
