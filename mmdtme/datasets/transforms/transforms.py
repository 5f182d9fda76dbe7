import numpy as np
from mmcv.transforms import BaseTransform
from mmseg.datasets.transforms import RandomFlip

from mmdtme.registry import TRANSFORMS
from .pascal_loading import IGNORE_INDEX


@TRANSFORMS.register_module()
class MultiTaskRandomFlip(RandomFlip):
    """mmseg's ``RandomFlip`` that also keeps surface normals consistent with the flipped image.

    Flipping the image left-right mirrors the scene, so a normal's x component changes sign (and the y
    component for an up-down flip); mmseg's flip only moves the pixels. Every map in ``seg_fields`` is
    flipped, with the same arguments as mmseg's ``RandomFlip``.
    """

    NEGATED_AXIS = dict(horizontal=(0, ), vertical=(1, ), diagonal=(0, 1))

    def _flip(self, results: dict) -> None:
        super()._flip(results)
        normals = results.get('gt_normal_map')
        if normals is not None:
            normals = normals.copy()
            for axis in self.NEGATED_AXIS[results['flip_direction']]:
                normals[..., axis] = -normals[..., axis]
            results['gt_normal_map'] = normals
        results['normals_flip_aware'] = True


@TRANSFORMS.register_module()
class IgnoreEmptyHumanParts(BaseTransform):
    """Set the human-parts map to 255 (ignore) when it holds no part pixel, e.g. after a crop that missed the person.

    The references apply this rule (``AddIgnoreRegions``) after their random crop, so a crop without any part is
    ignored rather than trained as all background. Place it after ``RandomCrop``; without a parts map it does
    nothing.
    """

    def transform(self, results: dict) -> dict:
        parts = results.get('gt_parts_map')
        if parts is not None and not ((parts != 0) & (parts != IGNORE_INDEX)).any():
            results['gt_parts_map'] = np.full_like(parts, IGNORE_INDEX)
        return results
