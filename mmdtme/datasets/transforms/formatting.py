import numpy as np
import torch
from mmcv.transforms import BaseTransform
from mmengine.structures import PixelData

from mmdtme.registry import TRANSFORMS
from mmdtme.structures import TASK_SPECS, MultiTaskDataSample


@TRANSFORMS.register_module()
class PackMultiTaskInputs(BaseTransform):
    """Pack an image and every task's ground truth into ``inputs`` and a :class:`MultiTaskDataSample`.

    Like mmseg's ``PackSegInputs``: the image becomes a C×H×W tensor, each task map a ``PixelData`` of
    shape C×H×W (``int64`` for label maps, ``float32`` otherwise) under the task's ``gt_field``.

    Args:
        meta_keys: Keys of ``results`` copied into the sample's metainfo.
    """

    def __init__(
        self,
        meta_keys=('img_path', 'name', 'ori_shape', 'img_shape', 'pad_shape', 'scale_factor', 'flip', 'flip_direction',
                   'reduce_zero_label', 'tasks')
    ) -> None:
        self.meta_keys = meta_keys

    def transform(self, results: dict) -> dict:
        if results.get('flip') and 'gt_normal_map' in results and not results.get('normals_flip_aware'):
            raise RuntimeError('the pipeline flipped the image with a flip that does not update surface '
                               "normals; use dict(type='MultiTaskRandomFlip') instead of 'RandomFlip'")
        img = results['img']
        if img.ndim == 2:
            img = img[..., None]
        packed = dict(inputs=torch.from_numpy(np.ascontiguousarray(img.transpose(2, 0, 1))))

        data_sample = MultiTaskDataSample()
        for spec in TASK_SPECS.values():
            if spec.map_key not in results:
                continue
            array = results[spec.map_key]
            array = array[None] if array.ndim == 2 else array.transpose(2, 0, 1)
            array = array.astype(np.int64 if spec.is_label else np.float32)
            setattr(data_sample, spec.gt_field, PixelData(data=torch.from_numpy(np.ascontiguousarray(array))))
        data_sample.set_metainfo({key: results[key] for key in self.meta_keys if key in results})
        packed['data_samples'] = data_sample
        return packed

    def __repr__(self) -> str:
        return f'{type(self).__name__}(meta_keys={self.meta_keys})'
