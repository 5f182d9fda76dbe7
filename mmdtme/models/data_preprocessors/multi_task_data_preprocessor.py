import math
from typing import Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmengine.model import BaseDataPreprocessor
from mmengine.structures import PixelData

from mmdtme.registry import MODELS
from mmdtme.structures import TASK_SPECS


@MODELS.register_module()
class MultiTaskDataPreProcessor(BaseDataPreprocessor):
    """Normalise images and stack a batch, padding every task map with a value its loss ignores.

    mmseg's ``SegDataPreProcessor`` pads every map with the segmentation pad value (255), which would
    read as 255 m of depth or a bogus normal. Here each task is padded with ``TaskSpec.pad_value``
    (255 for label maps, 0 for depth and normals, both ignored by their losses and metrics).
    Ground-truth maps are padded only in training, where they are stacked; at test time predictions
    are cropped back to each sample's ``img_shape`` instead.

    Args:
        mean: Per-channel mean subtracted from the image (after ``bgr_to_rgb``).
        std: Per-channel standard deviation the image is divided by.
        bgr_to_rgb: Reverse the channel order (images are loaded BGR, ImageNet statistics are RGB).
        size: Pad the batch to this (H, W); ``None`` pads to the largest image of the batch.
        size_divisor: Round the padded size up to a multiple of this (e.g. the ViT patch size).
        pad_value: Image padding value, applied after normalisation.
    """

    def __init__(self,
                 mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None,
                 bgr_to_rgb: bool = False,
                 size: Optional[Tuple[int, int]] = None,
                 size_divisor: Optional[int] = None,
                 pad_value: float = 0.0,
                 non_blocking: bool = False) -> None:
        super().__init__(non_blocking)
        if (mean is None) != (std is None):
            raise ValueError('give both mean and std, or neither')
        self.normalize = mean is not None
        if self.normalize:
            self.register_buffer('mean', torch.tensor(mean, dtype=torch.float32).view(-1, 1, 1), False)
            self.register_buffer('std', torch.tensor(std, dtype=torch.float32).view(-1, 1, 1), False)
        self.bgr_to_rgb = bgr_to_rgb
        self.size = tuple(size) if size is not None else None
        self.size_divisor = size_divisor
        self.pad_value = pad_value

    def _padded_shape(self, shapes: Sequence[Tuple[int, int]]) -> Tuple[int, int]:
        height, width = max(h for h, _ in shapes), max(w for _, w in shapes)
        if self.size is not None:
            if height > self.size[0] or width > self.size[1]:
                raise ValueError(f'an image of {height}x{width} does not fit the pad size {self.size}; '
                                 'crop or resize it in the pipeline, or raise data_preprocessor.size')
            height, width = self.size
        if self.size_divisor:
            height = math.ceil(height / self.size_divisor) * self.size_divisor
            width = math.ceil(width / self.size_divisor) * self.size_divisor
        return height, width

    @staticmethod
    def _pad(tensor: torch.Tensor, shape: Tuple[int, int], value: float) -> torch.Tensor:
        return F.pad(tensor, (0, shape[1] - tensor.shape[-1], 0, shape[0] - tensor.shape[-2]), value=value)

    def forward(self, data: dict, training: bool = False) -> dict:
        data = self.cast_data(data)
        images = []
        for image in data['inputs']:
            image = image.float()
            if self.bgr_to_rgb:
                image = image.flip(0)
            if self.normalize:
                image = (image - self.mean) / self.std
            images.append(image)
        shape = self._padded_shape([image.shape[-2:] for image in images])
        inputs = torch.stack([self._pad(image, shape, self.pad_value) for image in images])

        data_samples = data.get('data_samples')
        if data_samples is not None:
            for image, sample in zip(images, data_samples):
                sample.set_metainfo(dict(img_shape=tuple(image.shape[-2:]), pad_shape=shape, batch_input_shape=shape))
                if not training:
                    continue
                for spec in TASK_SPECS.values():
                    if hasattr(sample, f'_{spec.gt_field}'):
                        padded = self._pad(getattr(sample, spec.gt_field).data, shape, spec.pad_value)
                        setattr(sample, spec.gt_field, PixelData(data=padded))
        return dict(inputs=inputs, data_samples=data_samples)
