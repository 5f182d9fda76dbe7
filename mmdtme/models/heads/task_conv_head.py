from typing import Dict, List, Optional, Tuple

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

from mmdtme.registry import MODELS
from mmdtme.structures import TASK_SPECS


@MODELS.register_module()
class TaskConvHead(BaseModule):
    """The Baseline MT head of DTME-MTL: one Conv-BN-ReLU over the concatenated backbone levels.

    All levels are resized to the first one's resolution, concatenated, fused by a 3×3 Conv-BN-ReLU and
    projected to ``out_channels`` by a 1×1 convolution; the output is upsampled to the input size.

    Args:
        task: Task this head predicts; picks the default loss and output activation.
        in_channels: Channels of each backbone level.
        out_channels: Output channels (classes for label tasks, 1 for depth and edge, 3 for normals).
        channels: Channels of the Conv-BN-ReLU.
        loss: Loss config (``loss_weight`` inside). Default: the task's default loss.
        output_type: ``'label'`` (argmax), ``'sigmoid'``, ``'normalize'`` (unit vectors) or ``'identity'``.
        norm_cfg: Normalisation layer of the Conv-BN-ReLU.
    """

    def __init__(self,
                 task: str,
                 in_channels: List[int],
                 out_channels: int,
                 channels: int = 256,
                 loss: Optional[dict] = None,
                 output_type: Optional[str] = None,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.task = task
        spec = TASK_SPECS.get(task)
        self.output_type = output_type or (spec.output_type if spec else None)
        if self.output_type not in ('label', 'sigmoid', 'normalize', 'identity'):
            raise ValueError(f'head of task {task!r}: output_type must be label/sigmoid/normalize/identity, '
                             f'got {self.output_type!r}')
        loss = loss or (dict(spec.loss) if spec else None)
        if loss is None:
            raise ValueError(f'head of task {task!r} needs a loss config')
        self.fuse = ConvModule(sum(in_channels), channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=dict(type='ReLU'))
        self.predictor = nn.Conv2d(channels, out_channels, 1)
        self.loss_fn = MODELS.build(loss)

    def forward(self, features: List[torch.Tensor]) -> torch.Tensor:
        size = features[0].shape[-2:]
        features = [
            f if f.shape[-2:] == size else F.interpolate(f, size, mode='bilinear', align_corners=False)
            for f in features
        ]
        return self.predictor(self.fuse(torch.cat(features, dim=1)))

    def loss(self, features: List[torch.Tensor], target: torch.Tensor) -> Dict[str, torch.Tensor]:
        """Loss of the prediction upsampled to the B×C×H×W ``target``."""
        output = F.interpolate(self(features), target.shape[-2:], mode='bilinear', align_corners=False)
        return {self.loss_fn.loss_name: self.loss_fn(output, target)}

    def predict(self, features: List[torch.Tensor], size: Tuple[int, int]) -> torch.Tensor:
        """Raw outputs upsampled to ``size``; :meth:`activate` turns them into predictions."""
        return F.interpolate(self(features), size, mode='bilinear', align_corners=False)

    def activate(self, output: torch.Tensor) -> torch.Tensor:
        """Labels B×1×H×W for label tasks, activated B×C×H×W maps otherwise."""
        if self.output_type == 'label':
            return output.argmax(dim=1, keepdim=True)
        if self.output_type == 'sigmoid':
            return output.sigmoid()
        if self.output_type == 'normalize':
            return F.normalize(output, dim=1)
        return output
