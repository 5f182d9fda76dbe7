"""Loading of Taskonomy targets: the stored format of each task and its decoding (see the dataset's module).

What each task's file holds (``v``: a stored value) and the ``float32`` target decoded from it; ``IGNORE`` (255.0,
the task table's pad value) replaces the target where the file marks a pixel invalid, if ``mask_invalid``:

- ``depth_euclidean``, ``depth_zbuffer``: 16-bit grey in 1/512 m (≤ 128 m) -> log(1 + v) / log(2^16); v = 65535
  is invalid.
- ``edge_occlusion``: 16-bit grey -> 2 v / 409.6 − 1 (not clipped), blurred with a Gaussian of σ = 4 px at
  256×256 (σ = 8 on the 512×512 files).
- ``edge_texture``, ``keypoints2d``, ``keypoints3d``: 16-bit grey -> 2 min(v, m) / m − 1 with m = 5242.88
  (0.08 · 2^16), 327.68 (0.005 · 2^16), 65536.
- ``normal``: 8-bit RGB, 127/128-centred -> 2 v / 255 − 1 (3 channels); grey (length < 0.5) is invalid and becomes
  the zero vector, the ignore value of this task (it survives the sign flip of a mirrored normal).
- ``principal_curvature``: 8-bit RGB with the two curvatures in R, G (127 = 0) -> ((R, G) − (123.572, 120.1)) /
  (31.922, 21.658); R = G = 0 is invalid.
- ``reshading``: 8-bit grey or RGB (equal channels) -> 2 mean_c(v) / 255 − 1, one channel.
- ``segment_unsup2d``, ``segment_unsup25d``: 8-bit grey superpixel ids -> 2 v / 255 − 1, regressed as in the source.

Sources:

- Formats: ``data/README.md`` of StanfordVL/taskonomy (units, centring, curvature channels, split partitions),
  the omnidata README (bit depth per task), and omnidata's ``omnidata_tools/torch/dataloader/task_configs.py`` /
  ``masks.py`` / ``transforms.py`` (invalid markers: depth 1.0 · 65535, normals 0.502 · 255, curvature 0).
"""
import io
from functools import partial
from typing import Optional, Tuple

import mmcv
import numpy as np
from mmengine import fileio
from PIL import Image
from scipy.ndimage import gaussian_filter

from mmdtme.registry import TRANSFORMS
from .loading import LoadMultiTaskAnnotations, register_annotation_loader

TASKONOMY_TASKS = ('depth_euclidean', 'depth_zbuffer', 'edge_occlusion', 'edge_texture', 'keypoints2d', 'keypoints3d',
                   'normal', 'principal_curvature', 'reshading', 'segment_unsup2d', 'segment_unsup25d')

IGNORE = 255.0  # the task table's pad value of the Taskonomy float maps: "no target here"
INVALID_DEPTH = 65535
EDGE_OCCLUSION_SIGMA_AT_256 = 4.0
CURVATURE_MEAN = np.array([123.572, 120.1])
CURVATURE_STD = np.array([31.922, 21.658])


# ----------------------------------------------------------------------------------------------------------------
# Readers: the stored values of one PNG, checked against the format the task is stored in.
# ----------------------------------------------------------------------------------------------------------------
def _open_png(path: str) -> Image.Image:
    image = Image.open(io.BytesIO(fileio.get(path)))
    image.load()  # decode now, so a truncated file fails here
    return image


def read_16bit(path: str) -> np.ndarray:
    """Stored values of a 16-bit single-channel PNG as ``float64`` H×W."""
    image = _open_png(path)
    if image.mode not in ('I;16', 'I;16B', 'I;16L', 'I'):
        raise ValueError(f'it is a {image.mode!r} image; Taskonomy stores this task as a 16-bit single-channel PNG')
    return np.asarray(image).astype(np.float64)


def read_8bit(path: str, channels: Tuple[int, ...]) -> np.ndarray:
    """Stored values of an 8-bit PNG as ``float64`` H×W (1 channel) or H×W×C; ``channels`` lists the accepted C."""
    image = _open_png(path)
    stored = {'L': 1, 'RGB': 3, 'RGBA': 3}.get(image.mode)
    if stored not in channels:
        expected = ' or '.join({1: 'grey', 3: 'RGB'}[c] for c in channels)
        raise ValueError(f'it is a {image.mode!r} image; Taskonomy stores this task as an 8-bit {expected} PNG')
    array = np.asarray(image.convert('RGB') if image.mode == 'RGBA' else image)
    return array.astype(np.float64)


# ----------------------------------------------------------------------------------------------------------------
# Decoders: stored values -> float32 target (see the module docstring), IGNORE where invalid if ``mask_invalid``.
# ----------------------------------------------------------------------------------------------------------------
def decode_depth(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    target = np.log1p(stored) / np.log(2.0**16)
    if mask_invalid:
        target[stored == INVALID_DEPTH] = IGNORE
    return target.astype(np.float32)


def _to_unit_range(stored: np.ndarray, high: float, clip: bool = True) -> np.ndarray:
    """``[0, high]`` -> ``[-1, 1]``, values above ``high`` clipped first if ``clip``."""
    value = np.clip(stored, 0.0, high) if clip else stored
    return (2.0 * value / high - 1.0).astype(np.float32)


def decode_edge_occlusion(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    # The source blurs the rescaled map at 256x256 with sigma 4; scale sigma with the stored width.
    sigma = EDGE_OCCLUSION_SIGMA_AT_256 * stored.shape[1] / 256.0
    return gaussian_filter(
        _to_unit_range(stored, 0.00625 * 2**16, clip=False).astype(np.float64), sigma=sigma).astype(np.float32)


def decode_normal(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    target = (2.0 * stored / 255.0 - 1.0).astype(np.float32)
    if mask_invalid:
        # Unit normals quantised to 8 bits keep a length near 1; background is stored grey (length ~0).
        target[np.linalg.norm(target, axis=-1) < 0.5] = 0.0
    return target


def decode_principal_curvature(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    curvatures = stored[..., :2]
    target = ((curvatures - CURVATURE_MEAN) / CURVATURE_STD).astype(np.float32)
    if mask_invalid:
        target[(curvatures == 0).all(axis=-1)] = IGNORE
    return target


def decode_reshading(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    grey = stored.mean(axis=-1) if stored.ndim == 3 else stored
    return _to_unit_range(grey, 255.0)


def decode_edge_texture(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    return _to_unit_range(stored, 0.08 * 2**16)


def decode_keypoints2d(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    return _to_unit_range(stored, 0.005 * 2**16)


def decode_keypoints3d(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    return _to_unit_range(stored, 2.0**16)


def decode_8bit_unit(stored: np.ndarray, mask_invalid: bool = True) -> np.ndarray:
    return _to_unit_range(stored, 255.0)


_read_rgb = partial(read_8bit, channels=(3, ))
_read_grey = partial(read_8bit, channels=(1, ))
# task -> (reader of the stored values, decoder)
TASK_CODECS = {
    'depth_euclidean': (read_16bit, decode_depth),
    'depth_zbuffer': (read_16bit, decode_depth),
    'edge_occlusion': (read_16bit, decode_edge_occlusion),
    'edge_texture': (read_16bit, decode_edge_texture),
    'keypoints2d': (read_16bit, decode_keypoints2d),
    'keypoints3d': (read_16bit, decode_keypoints3d),
    'normal': (_read_rgb, decode_normal),
    'principal_curvature': (_read_rgb, decode_principal_curvature),
    'reshading': (partial(read_8bit, channels=(1, 3)), decode_reshading),
    'segment_unsup2d': (_read_grey, decode_8bit_unit),
    'segment_unsup25d': (_read_grey, decode_8bit_unit),
}


def load_taskonomy_target(path: str, task: str, mask_invalid: bool = True) -> np.ndarray:
    """The ``float32`` target (H×W, or H×W×C) of ``task`` stored in ``path``."""
    read, decode = TASK_CODECS[task]
    return decode(read(path), mask_invalid=mask_invalid)


def annotation_format(task: str, mask_invalid: bool = True) -> str:
    """Name of the registered annotation reader of ``task`` (see ``register_annotation_loader``)."""
    return f'taskonomy_{task}' + ('' if mask_invalid else '_unmasked')


for _task in TASKONOMY_TASKS:
    for _mask in (True, False):
        register_annotation_loader(annotation_format(_task, _mask))(
            partial(load_taskonomy_target, task=_task, mask_invalid=_mask))


@TRANSFORMS.register_module()
class LoadTaskonomyAnnotations(LoadMultiTaskAnnotations):
    """Load every task's Taskonomy target and bring the image and the targets to ``size``.

    Reads each task with the reader its sample names (``ann_formats``), checks that every map matches the image,
    then resizes the image (area) and the targets (nearest, so invalid markers stay exact) to ``size`` and makes
    that the sample's ``ori_shape``: predictions are evaluated at ``size``, as in the source protocol.

    Args:
        size: (H, W) of the image and targets, or None to keep the stored 512×512.
    """

    def __init__(self, size: Optional[Tuple[int, int]] = (256, 256)) -> None:
        super().__init__(reduce_zero_label=False)
        self.size = tuple(size) if size is not None else None

    def transform(self, results: dict) -> dict:
        results = super().transform(results)
        if self.size is not None and tuple(results['img'].shape[:2]) != self.size:
            height, width = self.size
            results['img'] = mmcv.imresize(results['img'], (width, height), interpolation='area')
            for key in results['seg_fields']:
                results[key] = mmcv.imresize(results[key], (width, height), interpolation='nearest')
        results['img_shape'] = results['ori_shape'] = tuple(results['img'].shape[:2])
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(size={self.size})'
