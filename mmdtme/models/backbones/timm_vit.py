from typing import List, Optional, Sequence, Tuple, Union

import timm
import torch
import torch.nn as nn
from mmengine.model import BaseModule
from torch.utils.checkpoint import checkpoint

from mmdtme.registry import MODELS
from .pretrained_weights import TIMM_WEIGHTS, describe_timm_weights, load_vit_checkpoint, resolve_timm_weights


def evenly_spaced_blocks(depth: int, num: int = 4) -> Tuple[int, ...]:
    """Indices of ``num`` evenly spaced blocks ending with the last, e.g. depth 12 → (2, 5, 8, 11)."""
    if depth < num:
        raise ValueError(f'cannot take {num} feature levels from a ViT with {depth} blocks')
    return tuple(depth * (level + 1) // num - 1 for level in range(num))


@MODELS.register_module()
class TimmViT(BaseModule):
    """Any timm Vision Transformer as a dense-prediction backbone.

    Returns the patch tokens of ``out_indices`` blocks as B×C×(H/p)×(W/p) maps.

    Args:
        model_name: timm model name, e.g. ``'vit_base_patch16_384'``.
        img_size: Training image size (H, W); inputs of other sizes also work (position embeddings are
            interpolated) as long as H and W are multiples of the patch size.
        out_indices: Blocks whose outputs are returned. Default: 4 evenly spaced blocks.
        pretrained: ``None`` (random weights), a local checkpoint file, or ``'timm'``: timm's published weights
            for ``model_name`` (ImageNet-21K pre-training for the ``vit_*_patch16_384`` names), cached or downloaded
            (:mod:`~mmdtme.models.backbones.pretrained_weights`). Loaded in ``init_weights``, i.e. when training
            starts, not when testing from a checkpoint.
        drop_path_rate: Stochastic depth rate.
        model_kwargs: Other ``timm.create_model`` arguments (``embed_dim``, ``depth``, ``patch_size``...).
        with_cp: Checkpoint every block while training (mmseg's name): its activations are recomputed in the
            backward pass instead of being kept (``torch.utils.checkpoint``, non-reentrant, RNG state kept, so drop
            path draws the same masks). With DTME's T task streams from the first modified block on, this keeps
            the memory of a run near Baseline MT's at the cost of one more forward per block.
    """

    def __init__(self,
                 model_name: str = 'vit_base_patch16_384',
                 img_size: Union[int, Sequence[int]] = (448, 576),
                 out_indices: Optional[Sequence[int]] = None,
                 pretrained: Optional[str] = None,
                 drop_path_rate: float = 0.0,
                 model_kwargs: Optional[dict] = None,
                 with_cp: bool = False,
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.vit = timm.create_model(
            model_name,
            pretrained=False,  # loaded in init_weights, so that testing from a checkpoint needs no download
            img_size=img_size,
            num_classes=0,
            global_pool='',
            dynamic_img_size=True,
            drop_path_rate=drop_path_rate,
            **(model_kwargs or {}))
        # Dense features are taken from intermediate blocks without the final norm; an unused norm would hold
        # parameters without gradients, which DDP rejects.
        self.vit.norm = nn.Identity()
        self.depth = len(self.vit.blocks)
        self.out_indices = tuple(out_indices) if out_indices is not None else evenly_spaced_blocks(self.depth)
        if not all(0 <= index < self.depth for index in self.out_indices):
            raise ValueError(f'out_indices {self.out_indices} outside the {self.depth} blocks of {model_name}')
        self.embed_dim = self.vit.embed_dim
        self.patch_size = self.vit.patch_embed.patch_size
        self.model_name = model_name
        self.pretrained = pretrained
        self.with_cp = with_cp

    @property
    def out_channels(self) -> List[int]:
        return [self.embed_dim] * len(self.out_indices)

    def init_weights(self) -> None:
        super().init_weights()
        if self.pretrained == TIMM_WEIGHTS:
            path = resolve_timm_weights(self.model_name)
            load_vit_checkpoint(self.vit, path, source=f'{describe_timm_weights(self.model_name)} ({path})')
        elif self.pretrained:
            load_vit_checkpoint(self.vit, self.pretrained)

    def embed(self, x: torch.Tensor) -> Tuple[torch.Tensor, Tuple[int, int]]:
        """Patch, class and position embeddings: B×3×H×W images -> (B, N, C) tokens and the (h, w) patch grid."""
        B, _, H, W = x.shape
        if H % self.patch_size[0] or W % self.patch_size[1]:
            raise ValueError(f'input of {H}x{W} is not a multiple of the patch size {self.patch_size}; '
                             'set data_preprocessor.size_divisor to the patch size')
        tokens = self.vit.norm_pre(self.vit.patch_drop(self.vit._pos_embed(self.vit.patch_embed(x))))
        return tokens, (H // self.patch_size[0], W // self.patch_size[1])

    def tokens_to_map(self, tokens: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
        """(B, N, C) tokens -> B×C×h×w map of the patch tokens (class and register tokens dropped)."""
        patches = tokens[:, self.vit.num_prefix_tokens:]
        return patches.unflatten(1, grid).permute(0, 3, 1, 2).contiguous()

    def run_block(self, block: nn.Module, tokens: torch.Tensor) -> torch.Tensor:
        """One transformer block, checkpointed with ``with_cp`` when a backward pass will follow."""
        if self.with_cp and self.training and torch.is_grad_enabled() and tokens.requires_grad:
            return checkpoint(block, tokens, use_reentrant=False)
        return block(tokens)

    def forward_with_block_outputs(self, x: torch.Tensor) -> Tuple[List[torch.Tensor], List[torch.Tensor]]:
        """The features of :meth:`forward` and the (B, N, C) output tokens of every block, kept in the graph."""
        tokens, grid = self.embed(x)
        block_outputs = []
        for block in self.vit.blocks:
            tokens = self.run_block(block, tokens)
            block_outputs.append(tokens)
        return [self.tokens_to_map(block_outputs[index], grid) for index in self.out_indices], block_outputs

    def forward(self, x: torch.Tensor) -> List[torch.Tensor]:
        tokens, grid = self.embed(x)
        features = []
        for index, block in enumerate(self.vit.blocks):
            tokens = self.run_block(block, tokens)
            if index in self.out_indices:
                features.append(self.tokens_to_map(tokens, grid))
        return features
