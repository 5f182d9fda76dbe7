"""An InvPT-like multi-task decoder (Ye & Xu, "Inverted Pyramid Multi-task Transformer for Dense Scene
Understanding", ECCV 2022).

References: the paper and the authors' code (prismformore/Multi-Task-Transformer, ``InvPT/models/transformers``);
this is a re-implementation, see :class:`InvPTDecoder` for where it differs.
"""
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmcv.cnn import ConvModule, build_norm_layer
from mmengine.model import BaseModule
from timm.layers import DropPath, Mlp, trunc_normal_

from mmdtme.registry import MODELS
from mmdtme.structures import TASK_SPECS

Features = Union[List[torch.Tensor], Dict[str, List[torch.Tensor]]]
# Attention scores of a stage and the (h, w) grid of its queries, passed on to the next stage.
Message = Tuple[torch.Tensor, Tuple[int, int]]


def resize(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """Bilinear resize of a B×C×h×w map to ``size``; a map already of that size is returned as is."""
    if tuple(x.shape[-2:]) == tuple(size):
        return x
    return F.interpolate(x, tuple(size), mode='bilinear', align_corners=False)


def flatten_tokens(x: torch.Tensor) -> torch.Tensor:
    """B×C×h×w -> (B, h·w, C)."""
    return x.flatten(2).transpose(1, 2)


class JointTaskAttention(nn.Module):
    """Self-attention over the tokens of all T tasks at once, with convolutional queries and pooled keys / values.

    Task t's map gives its queries through its own depth-wise convolution + norm (stride ``q_stride``) and its
    keys / values through average pooling (``kv_pool``). The T query sets and T key sets are concatenated, so
    every query attends to the pooled tokens of every task. With ``message=True`` the previous (coarser) stage's
    attention scores are resized along the query grid and fused with this stage's scores by a 1×1 convolution
    over the heads (InvPT's attention message passing); the key set must then have the same size in both stages.

    Shapes: T maps B×C×h×w -> T maps B×C×⌈h/q⌉×⌈w/q⌉ and scores (B, heads, T·Nq, T·Nk).

    Args:
        dim: Channels C of every task's map.
        num_tasks: Number of tasks T.
        num_heads: Attention heads.
        q_stride: Stride of the query convolution.
        q_kernel: Kernel size of the query convolution.
        kv_pool: Kernel and stride of the key / value average pooling.
        qkv_bias: Bias of the query / key / value projections.
        message: Fuse the previous stage's attention scores.
        norm_cfg: Normalisation after the query convolution.
    """

    def __init__(self,
                 dim: int,
                 num_tasks: int,
                 num_heads: int = 2,
                 q_stride: int = 2,
                 q_kernel: int = 3,
                 kv_pool: int = 2,
                 qkv_bias: bool = True,
                 message: bool = False,
                 norm_cfg: dict = dict(type='BN')) -> None:
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'attention width {dim} is not divisible by num_heads={num_heads}')
        self.num_tasks = num_tasks
        self.num_heads = num_heads
        self.scale = (dim // num_heads)**-0.5
        self.q_conv = nn.ModuleList(
            nn.Sequential(
                nn.Conv2d(dim, dim, q_kernel, stride=q_stride, padding=q_kernel // 2, groups=dim, bias=False),
                build_norm_layer(norm_cfg, dim)[1]) for _ in range(num_tasks))
        self.kv_pool = nn.AvgPool2d(kv_pool, stride=kv_pool, ceil_mode=True)
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.k = nn.Linear(dim, dim, bias=qkv_bias)
        self.v = nn.Linear(dim, dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim)
        self.message_fuse = nn.Conv2d(2 * num_heads, num_heads, 1) if message else None

    def _split_heads(self, tokens: torch.Tensor) -> torch.Tensor:
        """(B, N, C) -> (B, heads, N, C / heads)."""
        return tokens.unflatten(2, (self.num_heads, -1)).transpose(1, 2)

    def _resize_message(self, message: Message, grid: Tuple[int, int], num_keys: int) -> torch.Tensor:
        """Previous scores (B, heads, T·h'w', K) resized per task along the query grid to (B, heads, T·hw, K)."""
        scores, (h, w) = message
        B, H, _, K = scores.shape
        if K != num_keys:
            raise ValueError(f'attention message has {K} keys but this stage has {num_keys}; with attention '
                             'message passing kv_pool must double from stage to stage (e.g. (2, 4, 8))')
        T = self.num_tasks
        maps = scores.reshape(B, H, T, h, w, K).permute(0, 1, 2, 5, 3, 4).reshape(B * H * T, K, h, w)
        maps = resize(maps, grid).reshape(B, H, T, K, *grid)
        return maps.permute(0, 1, 2, 4, 5, 3).reshape(B, H, T * grid[0] * grid[1], K)

    def forward(self,
                maps: List[torch.Tensor],
                message: Optional[Message] = None) -> Tuple[List[torch.Tensor], Message]:
        queries = [conv(x) for conv, x in zip(self.q_conv, maps)]
        pooled = torch.cat([flatten_tokens(self.kv_pool(x)) for x in maps], dim=1)  # (B, T·Nk, C)
        B, C, hq, wq = queries[0].shape
        q = self._split_heads(self.q(torch.cat([flatten_tokens(x) for x in queries], dim=1)))
        k = self._split_heads(self.k(pooled))
        v = self._split_heads(self.v(pooled))
        scores = (q @ k.transpose(-2, -1)) * self.scale  # (B, heads, T·Nq, T·Nk)
        if self.message_fuse is not None:
            if message is None:
                raise ValueError('this attention fuses the previous stage\'s scores but got no message')
            previous = self._resize_message(message, (hq, wq), scores.shape[-1])
            scores = self.message_fuse(torch.cat([scores, previous], dim=1))
        out = self.proj((scores.softmax(dim=-1) @ v).transpose(1, 2).flatten(2))  # (B, T·Nq, C)
        out = out.unflatten(1, (self.num_tasks, hq, wq)).permute(1, 0, 4, 2, 3)  # (T, B, C, hq, wq)
        return list(out.unbind(0)), (scores, (hq, wq))


class UPTransformerBlock(nn.Module):
    """Pre-norm transformer block over all tasks' maps: joint attention (at the query stride, then upsampled
    back to h×w) and an MLP, each with a residual connection. T maps B×C×h×w -> T maps B×C×h×w.

    Args:
        dim: Channels of every task's map.
        num_tasks: Number of tasks.
        mlp_ratio: Hidden width of the MLP relative to ``dim``.
        drop_path: Stochastic depth rate.
        **attn_kwargs: :class:`JointTaskAttention` arguments.
    """

    def __init__(self, dim: int, num_tasks: int, mlp_ratio: float = 4.0, drop_path: float = 0.0, **attn_kwargs) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(dim)
        self.attn = JointTaskAttention(dim, num_tasks, **attn_kwargs)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = Mlp(dim, int(dim * mlp_ratio))
        self.drop_path = DropPath(drop_path) if drop_path > 0 else nn.Identity()

    def forward(self,
                maps: List[torch.Tensor],
                message: Optional[Message] = None) -> Tuple[List[torch.Tensor], Message]:
        h, w = maps[0].shape[-2:]
        tokens = torch.stack(maps, dim=1).permute(0, 1, 3, 4, 2)  # (B, T, h, w, C)
        normed = self.norm1(tokens).permute(0, 1, 4, 2, 3)
        attended, message = self.attn(list(normed.unbind(1)), message)
        attended = torch.stack([resize(x, (h, w)) for x in attended], dim=1).permute(0, 1, 3, 4, 2)
        tokens = tokens + self.drop_path(attended)
        tokens = tokens + self.drop_path(self.mlp(self.norm2(tokens)))
        return list(tokens.permute(0, 1, 4, 2, 3).unbind(1)), message


class UpsampleEmbed(nn.Sequential):
    """×2 bilinear upsampling and two dilated 3×3 Conv-BN-ReLUs: B×C_in×h×w -> B×C_out×2h×2w."""

    def __init__(self, in_channels: int, out_channels: int, norm_cfg: dict = dict(type='BN')) -> None:
        conv = dict(kernel_size=3, padding=2, dilation=2, bias=False, norm_cfg=norm_cfg)
        super().__init__(
            nn.Upsample(scale_factor=2, mode='bilinear', align_corners=False),
            ConvModule(in_channels, out_channels, **conv), ConvModule(out_channels, out_channels, **conv))


class InvPTStage(nn.Module):
    """One UP-Transformer stage: per-task upsampling (except in the first stage), the backbone skip, one
    :class:`UPTransformerBlock`; :meth:`task_outputs` gives each task's normalised output for the fusion.

    Args:
        in_dim: Channels of the previous stage (or of the mixed preliminary features).
        dim: Channels of this stage.
        out_channels: Channels of each task's output for the multi-scale fusion.
        num_tasks: Number of tasks.
        upsample: Upsample ×2 with a per-task :class:`UpsampleEmbed`.
        skip_channels: Channels of the backbone level added after upsampling; ``None``: no skip.
        skip_upsample: Project the skip with a stride-2 transposed convolution (the stage is finer than the
            backbone grid) instead of a 3×3 convolution.
        norm_cfg: Normalisation of the convolutions.
        **block_kwargs: :class:`UPTransformerBlock` arguments.
    """

    def __init__(self,
                 in_dim: int,
                 dim: int,
                 out_channels: int,
                 num_tasks: int,
                 upsample: bool,
                 skip_channels: Optional[int] = None,
                 skip_upsample: bool = False,
                 norm_cfg: dict = dict(type='BN'),
                 **block_kwargs) -> None:
        super().__init__()
        if not upsample and in_dim != dim:
            raise ValueError(f'a stage without upsampling keeps its width: got in_dim={in_dim}, dim={dim}')
        self.num_tasks = num_tasks
        self.up = nn.ModuleList(UpsampleEmbed(in_dim, dim, norm_cfg) for _ in range(num_tasks)) if upsample else None
        self.skip = None
        if skip_channels is not None:
            self.skip = (
                nn.ConvTranspose2d(skip_channels, dim, 3, stride=2, padding=1, output_padding=1)
                if skip_upsample else nn.Conv2d(skip_channels, dim, 3, padding=1))
        self.block = UPTransformerBlock(dim, num_tasks, norm_cfg=norm_cfg, **block_kwargs)
        # One LayerNorm over the channels of all tasks together, as in the reference code.
        self.norm = nn.LayerNorm(num_tasks * dim)
        self.out_proj = nn.ModuleList(nn.Conv2d(dim, out_channels, 1)
                                      for _ in range(num_tasks)) if dim != out_channels else None

    def forward(self,
                maps: List[torch.Tensor],
                skips: Optional[List[torch.Tensor]] = None,
                message: Optional[Message] = None) -> Tuple[List[torch.Tensor], Message]:
        if self.up is not None:
            maps = [up(x) for up, x in zip(self.up, maps)]
        if skips is not None:
            maps = [x + resize(skip, x.shape[-2:]) for x, skip in zip(maps, skips)]
        return self.block(maps, message)

    def task_outputs(self, maps: List[torch.Tensor]) -> List[torch.Tensor]:
        joint = self.norm(torch.cat(maps, dim=1).permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        outputs = joint.chunk(self.num_tasks, dim=1)
        if self.out_proj is not None:
            outputs = [proj(x) for proj, x in zip(self.out_proj, outputs)]
        return list(outputs)


def default_pred_channels(task: str) -> int:
    """Output channels of a task's prediction from the task table (class count for label outputs)."""
    spec = TASK_SPECS.get(task)
    if spec is None or (spec.output_type == 'label' and spec.num_classes is None):
        raise ValueError(f'the InvPT decoder needs the output channels of task {task!r}: set '
                         f'neck.pred_channels[{task!r}] (e.g. the class count, as the head\'s out_channels)')
    return spec.num_classes if spec.output_type == 'label' else spec.channels


@MODELS.register_module()
class InvPTDecoder(BaseModule):
    """The InvPT multi-task decoder as an ``MultiTaskSegmentor`` neck.

    For a ViT with patch 16 (all levels at H/16)::

        last level ─resize to H/32─> per task: 2× Conv-BN-ReLU -> task feature ─1×1─> preliminary prediction
        [feature, prediction] ─1×1─> stage 0 (H/32): joint attention over all tasks' tokens
          -> stage 1: per task ×2 upsampling (H/16) + level 1 (3×3 conv), joint attention + message from stage 0
          -> stage 2: per task ×2 upsampling (H/8) + level 0 (stride-2 transposed conv), attention + message
        each stage: joint LayerNorm, per task 1×1 conv to ``embed_dims[0]``, resize to H/4, summed over stages

    It returns ``({task: [B×embed_dims[0]×H/4×W/4]}, {task: preliminary prediction at H/32})``; a
    ``TaskConvHead`` with ``channels=embed_dims[0]`` then is InvPT's per-task 3×3 Conv-BN-ReLU and 1×1 predictor.
    Sizes are relative to the backbone grid (stage 0 at half of it), so a patch-8 ViT ends at H/2.

    With task streams (``{task: levels}`` from an expanded ``DTMEViT``) task t's preliminary decoder and skips
    read stream t; shared levels are projected once.

    Differences from the reference code: the backbone's last level is the last block without the final
    LayerNorm; the reference's projection of level 2 (built but never added) is not built; attention scores are
    scaled by head width^-1/2 (the reference uses the full width); heads fuse no unused message at stage 0.

    Args:
        in_channels: Channels of each backbone level (set by the segmentor).
        tasks: Task names, in the order of the heads (set by the segmentor).
        pred_channels: Output channels of each task's preliminary prediction. Default: from the task table;
            label tasks without a known class count (semseg) must be given.
        task_channels: Channels of the preliminary decoders' task features (InvPT's ``embed_dim``, 512).
        pred_embed_channels: Extra width of the first stage (InvPT's ``PRED_OUT_NUM_CONSTANT``, 64).
        embed_dims: Width of each stage. Default: ``c, c/2, c/4`` with ``c = task_channels + pred_embed_channels``.
        num_heads: Attention heads per stage.
        mlp_ratio: MLP width of the blocks relative to their width.
        q_stride: Stride of the query convolutions.
        kv_pool: Key / value pooling per stage; with ``attention_message`` it must double stage by stage.
        qkv_bias: Bias of the query / key / value projections.
        drop_path_rate: Stochastic depth of every block.
        attention_message: Pass attention scores from stage to stage.
        input_level: Backbone level read by the preliminary decoders.
        skip_levels: Backbone level added to each stage after its upsampling (``None``: none).
        norm_cfg: Normalisation of the convolutions (``SyncBN`` for multi-GPU training, as the reference).
    """

    def __init__(self,
                 in_channels: Sequence[int],
                 tasks: Sequence[str],
                 pred_channels: Optional[Dict[str, int]] = None,
                 task_channels: int = 512,
                 pred_embed_channels: int = 64,
                 embed_dims: Optional[Sequence[int]] = None,
                 num_heads: Sequence[int] = (2, 2, 2),
                 mlp_ratio: float = 4.0,
                 q_stride: int = 2,
                 kv_pool: Sequence[int] = (2, 4, 8),
                 qkv_bias: bool = True,
                 drop_path_rate: float = 0.15,
                 attention_message: bool = True,
                 input_level: int = -1,
                 skip_levels: Sequence[Optional[int]] = (None, 1, 0),
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.tasks = tuple(tasks)
        self.in_channels = list(in_channels)
        if embed_dims is None:
            width = task_channels + pred_embed_channels
            embed_dims = [width // 2**stage for stage in range(len(num_heads))]
        self.embed_dims = list(embed_dims)
        num_stages = len(self.embed_dims)
        for name, values in (('num_heads', num_heads), ('kv_pool', kv_pool), ('skip_levels', skip_levels)):
            if len(values) != num_stages:
                raise ValueError(f'neck.{name} has {len(values)} entries but there are {num_stages} stages '
                                 f'(embed_dims={self.embed_dims}); give one per stage')
        levels = [input_level] + [level for level in skip_levels if level is not None]
        if any(not -len(self.in_channels) <= level < len(self.in_channels) for level in levels):
            raise ValueError(f'neck input_level={input_level} / skip_levels={list(skip_levels)} refer to levels the '
                             f'backbone does not return (it returns {len(self.in_channels)}); set '
                             'backbone.out_indices or the levels')
        if attention_message and any(pool != kv_pool[0] * 2**stage for stage, pool in enumerate(kv_pool)):
            raise ValueError(f'attention message passing needs the same number of keys in every stage, so kv_pool '
                             f'must double stage by stage (e.g. (2, 4, 8)); got {list(kv_pool)}')
        if attention_message and len(set(num_heads)) > 1:
            raise ValueError(f'attention message passing needs the same num_heads in every stage, got {num_heads}')
        pred_channels = dict(pred_channels or {})
        self.pred_channels = {task: pred_channels.get(task) or default_pred_channels(task) for task in self.tasks}
        self.input_level = input_level
        self.skip_levels = list(skip_levels)

        in_ch = self.in_channels[input_level]
        conv = dict(kernel_size=3, padding=1, bias=False, norm_cfg=norm_cfg)
        self.preliminary = nn.ModuleDict({
            task:
            nn.Sequential(ConvModule(in_ch, in_ch, **conv), ConvModule(in_ch, task_channels, **conv))
            for task in self.tasks
        })
        self.preliminary_pred = nn.ModuleDict(
            {task: nn.Conv2d(task_channels, self.pred_channels[task], 1)
             for task in self.tasks})
        self.mix = nn.ModuleDict(
            {task: nn.Conv2d(task_channels + self.pred_channels[task], self.embed_dims[0], 1)
             for task in self.tasks})
        self.stages = nn.ModuleList()
        for stage, dim in enumerate(self.embed_dims):
            level = skip_levels[stage]
            self.stages.append(
                InvPTStage(
                    self.embed_dims[max(stage - 1, 0)],
                    dim,
                    self.embed_dims[0],
                    len(self.tasks),
                    upsample=stage > 0,
                    skip_channels=None if level is None else self.in_channels[level],
                    skip_upsample=stage >= 2,
                    norm_cfg=norm_cfg,
                    mlp_ratio=mlp_ratio,
                    drop_path=drop_path_rate,
                    num_heads=num_heads[stage],
                    q_stride=q_stride,
                    kv_pool=kv_pool[stage],
                    qkv_bias=qkv_bias,
                    message=attention_message and stage > 0))
        for module in self.stages.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, std=0.02)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)

    @property
    def out_channels(self) -> List[int]:
        return [self.embed_dims[0]]

    def _task_levels(self, features: Features) -> Dict[str, List[torch.Tensor]]:
        if isinstance(features, dict):
            missing = [task for task in self.tasks if task not in features]
            if missing:
                raise KeyError(f'the backbone returned streams for {sorted(features)} but the decoder needs {missing}')
            levels = {task: features[task] for task in self.tasks}
        else:
            levels = {task: features for task in self.tasks}
        for task, task_levels in levels.items():
            if len(task_levels) != len(self.in_channels):
                raise ValueError(f'the decoder was built for {len(self.in_channels)} backbone levels but got '
                                 f'{len(task_levels)} for task {task!r}')
        return levels

    def forward(self, features: Features) -> Tuple[Dict[str, List[torch.Tensor]], Dict[str, torch.Tensor]]:
        levels = self._task_levels(features)
        h, w = levels[self.tasks[0]][self.input_level].shape[-2:]
        size = (max(h // 2, 1), max(w // 2, 1))  # stage 0 works at half the backbone grid
        maps, preliminary = [], {}
        for task in self.tasks:
            feature = self.preliminary[task](resize(levels[task][self.input_level], size))
            preliminary[task] = self.preliminary_pred[task](feature)
            maps.append(self.mix[task](torch.cat([feature, preliminary[task]], dim=1)))

        out_size = (size[0] * 2**len(self.stages), size[1] * 2**len(self.stages))
        fused: List[Optional[torch.Tensor]] = [None] * len(self.tasks)
        message = None
        for stage, level in zip(self.stages, self.skip_levels):
            projected: Dict[int, torch.Tensor] = {}  # a level shared by all tasks (one tensor) is projected once
            skips = None
            if level is not None:
                skips = []
                for task in self.tasks:
                    x = levels[task][level]
                    if id(x) not in projected:
                        projected[id(x)] = stage.skip(x)
                    skips.append(projected[id(x)])
            maps, message = stage(maps, skips, message)
            for t, output in enumerate(stage.task_outputs(maps)):
                output = resize(output, out_size)
                fused[t] = output if fused[t] is None else fused[t] + output
        return {task: [fused[t]] for t, task in enumerate(self.tasks)}, preliminary
