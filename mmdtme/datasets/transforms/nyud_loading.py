"""Loading of NYUD-v2 annotations, also from copies that hold full 480x640 Kinect frames."""
from typing import Tuple

import numpy as np

from mmdtme.registry import TRANSFORMS
from .loading import LoadMultiTaskAnnotations

# NYUD-MT's frame is the part of the 480x640 Kinect frame inside its border, as cropped by Gupta et al.'s
# rgbd-utils (``cropIt.m``: ``I(46:470, 41:600, :)``, 1-based inclusive), whose data the NYUD-MT release derives
# from: rows 45..469 and columns 40..599, 0-based. It is not the "Eigen crop" [45:471, 41:601] (426x560) that
# depth papers evaluate in: that one would shift every map by one pixel against the released annotations.
KINECT_FRAME: Tuple[int, int] = (480, 640)
NYUD_MT_FRAME: Tuple[int, int] = (425, 560)
NYUD_MT_CROP = (slice(45, 470), slice(40, 600))
FRAMES = ('auto', '425x560', '480x640')


def crop_to_nyud_mt(array: np.ndarray) -> np.ndarray:
    """The NYUD-MT region (425x560) of a 480x640 Kinect-frame map (H×W or H×W×C)."""
    if tuple(array.shape[:2]) != KINECT_FRAME:
        raise ValueError(f'expected a 480x640 Kinect frame, got {array.shape[:2]}')
    return np.ascontiguousarray(array[NYUD_MT_CROP])


@TRANSFORMS.register_module()
class LoadNYUDAnnotations(LoadMultiTaskAnnotations):
    """``LoadMultiTaskAnnotations`` for NYUD-v2 copies that hold full 480x640 Kinect frames.

    The NYUD-MT release stores 425x560 images and maps; many copies hold 480x640 frames of the images and / or
    the maps instead. Every 480x640 file (image included) is cropped to the NYUD-MT region
    (``NYUD_MT_CROP``, rows 45:470 and columns 40:600), so all maps line up with each other and with published
    NYUD-MT numbers. Put it after the image loader, in place of ``LoadMultiTaskAnnotations``.

    Args:
        frame: Frame of the files on disk: ``'480x640'`` (all full frames: all are cropped), ``'425x560'`` (all
            NYUD-MT: nothing is cropped) or ``'auto'`` (each 480x640 file is cropped; files of any other equal
            size, e.g. the synthetic scenes, pass through). A file that fits none of these is an error that
            names it; nothing is resized.
        reduce_zero_label: Semantic labels are stored as class + 1 with 0 unlabelled (NYUD-MT).
    """

    def __init__(self, frame: str = 'auto', reduce_zero_label: bool = True) -> None:
        super().__init__(reduce_zero_label=reduce_zero_label)
        if frame not in FRAMES:
            raise ValueError(f'LoadNYUDAnnotations frame must be one of {FRAMES}, got {frame!r}')
        self.frame = frame

    def _fit(self, array: np.ndarray, what: str) -> np.ndarray:
        shape = tuple(array.shape[:2])
        if self.frame == '425x560' and shape != NYUD_MT_FRAME:
            raise ValueError(f'{what} is {shape[0]}x{shape[1]}, but frame=\'425x560\' expects NYUD-MT files of '
                             '425x560; use frame=\'auto\' for a mix with 480x640 Kinect frames')
        if self.frame == '480x640' and shape != KINECT_FRAME:
            raise ValueError(f'{what} is {shape[0]}x{shape[1]}, but frame=\'480x640\' expects full Kinect '
                             'frames; use frame=\'auto\' for a mix with 425x560 NYUD-MT files')
        return crop_to_nyud_mt(array) if shape == KINECT_FRAME else array

    def fit_image(self, results: dict) -> None:
        results['img'] = self._fit(results['img'], f'image {results.get("img_path")!r}')
        results['img_shape'] = results['ori_shape'] = tuple(results['img'].shape[:2])

    def fit_annotation(self, array: np.ndarray, task: str, path: str, results: dict) -> np.ndarray:
        stored_shape = tuple(array.shape[:2])
        array = self._fit(array, f'{task} ground truth {path!r}')
        if array.shape[:2] != results['img'].shape[:2]:
            height, width = results['img'].shape[:2]
            raise ValueError(
                f'{task} ground truth {path!r} is {stored_shape[0]}x{stored_shape[1]} but its image is '
                f'{height}x{width} (480x640 frames are cropped to 425x560 first): only 480x640 Kinect frames and '
                '425x560 NYUD-MT files can be matched (by cropping the former); other sizes must agree. Re-export '
                'the dataset (tools/dataset_converters/nyud.py) rather than resizing, which misaligns the maps.')
        return array

    def __repr__(self) -> str:
        return f'{type(self).__name__}(frame={self.frame!r}, reduce_zero_label={self.reduce_zero_label})'
