"""The dense task-prompt decoder of a TaskPrompter-like model (Ye & Xu, "TaskPrompter: Spatial-Channel Multi-Task
Prompting for Dense Scene Understanding", ICLR 2023).

References: the paper and the authors' code (prismformore/Multi-Task-Transformer, ``TaskPrompter/models``); this is
a re-implementation, see :class:`TaskPrompterDecoder` for where it differs.
"""
from typing import Dict, List, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor

from mmdtme.models.backbones.task_prompter_vit import PromptLevel
from mmdtme.registry import MODELS

PromptFeatures = Union[List[PromptLevel], Dict[str, List[PromptLevel]]]


def spatial_prompt_weights(attention: Tensor, grid: Tuple[int, int]) -> Tensor:
    """Where a task's prompts look: (B, heads, L, h·w) logits -> B×heads×h×w weights with mean 1 per map.

    The softmax runs over the patches only, and the L prompt tokens of the task are averaged.
    """
    weights = attention.softmax(dim=-1).mean(dim=2) * attention.shape[-1]  # (B, heads, h·w)
    return weights.unflatten(-1, grid)


def channel_prompt_weights(x: Tensor,
                           spatial: Tensor,
                           prompt: Tensor,
                           windows: Tuple[int, int],
                           eps: float = 1e-6) -> Tensor:
    """Which channels a task's prompt selects, per window: B×C×gh×gw weights with mean 1 over the channels.

    Each window's patches are pooled with the task's spatial weights (a B×C descriptor per window); the channel
    logits are the product of the normalised descriptor and the normalised prompt, and a softmax over the C
    channels (times C) turns them into weights.

    Args:
        x: B×C×h×w patch features.
        spatial: B×1×h×w non-negative spatial weights of the task.
        prompt: (B, C) prompt of the task.
        windows: Windows (gh, gw) over the grid (adaptive pooling, so any grid size works).
    """
    C = x.shape[1]
    pooled = F.adaptive_avg_pool2d(x * spatial, windows) / (F.adaptive_avg_pool2d(spatial, windows) + eps)
    descriptor = F.layer_norm(pooled.permute(0, 2, 3, 1), (C, ))  # (B, gh, gw, C)
    query = F.layer_norm(prompt, (C, ))[:, None, None]  # (B, 1, 1, C)
    weights = (descriptor * query).softmax(dim=-1) * C
    return weights.permute(0, 3, 1, 2)


class PromptLevelDecoder(nn.Module):
    """Task-specific features of one task at one level from its prompts' spatial and channel attention.

    spatial branch: patch channels of head i scaled by (1 + where the task's prompts look in head i) -> 1×1 conv;
    channel branch: patch channels scaled by (1 + the prompt's per-window channel weights) -> 1×1 conv;
    fusion: concatenation -> 1×1 conv -> 3×3 Conv-BN-act -> 1×1 conv.

    Args:
        in_channels: Channels C of the patch features (divisible by the attention heads).
        channels: Channels of each branch.
        out_channels: Channels of the fused features.
        channel_windows: Windows (gh, gw) of the channel weights.
        norm_cfg: Normalisation of the 3×3 convolution.
        act_cfg: Activation of the 3×3 convolution.
    """

    def __init__(self, in_channels: int, channels: int, out_channels: int, channel_windows: Tuple[int, int],
                 norm_cfg: dict, act_cfg: dict) -> None:
        super().__init__()
        self.channel_windows = tuple(channel_windows)
        self.spatial_proj = nn.Conv2d(in_channels, channels, 1)
        self.channel_proj = nn.Conv2d(in_channels, channels, 1)
        self.fuse = nn.Sequential(
            nn.Conv2d(2 * channels, out_channels, 1),
            ConvModule(out_channels, out_channels, 3, padding=1, norm_cfg=norm_cfg, act_cfg=act_cfg),
            nn.Conv2d(out_channels, out_channels, 1))

    def forward(self, x: Tensor, attention: Tensor, prompts: Tensor) -> Tensor:
        """B×C×h×w patches, (B, heads, L, h·w) logits and (B, L, C) prompts of this task -> B×out×h×w."""
        C, h, w = x.shape[1:]
        heads = attention.shape[1]
        if C % heads:
            raise ValueError(f'{C} feature channels cannot be split among {heads} attention heads')
        spatial = spatial_prompt_weights(attention, (h, w))  # (B, heads, h, w)
        per_head = x.unflatten(1, (heads, C // heads)) * (1 + spatial.unsqueeze(2))
        spatial_features = self.spatial_proj(per_head.flatten(1, 2))
        channel = channel_prompt_weights(x, spatial.mean(dim=1, keepdim=True), prompts.mean(dim=1),
                                         self.channel_windows)
        channel = F.interpolate(channel, (h, w), mode='nearest')
        channel_features = self.channel_proj(x * (1 + channel))
        return self.fuse(torch.cat([spatial_features, channel_features], dim=1))


@MODELS.register_module()
class TaskPrompterDecoder(BaseModule):
    """Dense task-prompt decoding of a TaskPrompter-like model: per-task features from the prompts' attention.

    For every task and feature level of :class:`~mmdtme.models.backbones.TaskPrompterViT`, a
    :class:`PromptLevelDecoder` turns the patch map, the task's prompt-to-patch attention (spatial prompting) and the
    task's prompt tokens (channel prompting) into task features; the levels are summed (multi-level fusion) and
    upsampled by ``scale_factor`` for the task's head. Accepts the backbone's shared levels or, after a DTME
    expansion, ``{task: levels}`` (task t reads its own stream). Returns ``({task: [B×out_channels×H'×W']}, {})``.

    Differences from the authors' code: the channel interaction here is computed in the decoder from the prompt
    and the patches pooled per window (no prompt-to-pixel projection, so any input size works and the blocks stay
    timm's); the spatial weights are the softmax over the patches (mean 1) instead of raw logits; the block-wise
    channel update of the prompts and the optional cross-task reweighting are left out (the prompts of all tasks
    interact in every block's attention).

    Args:
        in_channels: Channels of each backbone level (filled in by ``MultiTaskSegmentor``).
        tasks: Task names, in the backbone's prompt order (filled in by ``MultiTaskSegmentor``).
        channels: Channels of the spatial and channel branches. Default: 768.
        out_channels: Channels of the fused task features handed to the heads. Default: 768.
        channel_windows: Windows (rows, cols) over which channel weights are computed. Default: (4, 4).
        scale_factor: Upsampling of the fused features (4: 1/16 to 1/4 of the input for patch 16). Default: 4.
        norm_cfg: Normalisation in the fusion. Default: BN.
        act_cfg: Activation in the fusion. Default: GELU.
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 tasks: Sequence[str],
                 channels: int = 768,
                 out_channels: int = 768,
                 channel_windows: Sequence[int] = (4, 4),
                 scale_factor: float = 4,
                 norm_cfg: dict = dict(type='BN'),
                 act_cfg: dict = dict(type='GELU'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.tasks = tuple(tasks)
        if not self.tasks:
            raise ValueError('TaskPrompterDecoder needs at least one task')
        if len(channel_windows) != 2 or min(channel_windows) < 1:
            raise ValueError(f'channel_windows must be (rows, cols) >= 1, got {channel_windows}')
        self.in_channels = list(in_channels)
        self.scale_factor = scale_factor
        self.levels = nn.ModuleList(
            nn.ModuleDict({
                task:
                PromptLevelDecoder(level_channels, channels, out_channels, tuple(channel_windows), norm_cfg, act_cfg)
                for task in self.tasks
            }) for level_channels in self.in_channels)
        self.out_channels = [out_channels]

    def forward(self, features: PromptFeatures) -> Tuple[Dict[str, List[Tensor]], Dict[str, Tensor]]:
        T = len(self.tasks)
        task_features = {}
        for t, task in enumerate(self.tasks):
            levels = features[task] if isinstance(features, dict) else features
            if len(levels) != len(self.levels) or not all(isinstance(level, PromptLevel) for level in levels):
                raise TypeError(f'TaskPrompterDecoder expects {len(self.levels)} PromptLevel levels per task from '
                                'a TaskPrompterViT backbone; set model.backbone.type=\'TaskPrompterViT\'')
            fused = None
            for decoders, level in zip(self.levels, levels):
                if level.prompts.shape[1] % T:
                    raise ValueError(f'{level.prompts.shape[1]} prompt tokens cannot be split among {T} tasks; the '
                                     'backbone and the decoder must be built with the same model.tasks')
                L = level.prompts.shape[1] // T
                rows = slice(t * L, (t + 1) * L)  # task t's prompts
                out = decoders[task](level.features, level.attention[:, :, rows], level.prompts[:, rows])
                if fused is not None and out.shape[-2:] != fused.shape[-2:]:
                    out = F.interpolate(out, fused.shape[-2:], mode='bilinear', align_corners=False)
                fused = out if fused is None else fused + out
            if self.scale_factor != 1:
                fused = F.interpolate(fused, scale_factor=self.scale_factor, mode='bilinear', align_corners=False)
            task_features[task] = [fused]
        return task_features, {}
