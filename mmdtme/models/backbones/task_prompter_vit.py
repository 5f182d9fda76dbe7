"""A TaskPrompter-like ViT backbone (Ye & Xu, ICLR 2023) that DTME-MTL can expand.

TaskPrompter prepends learnable task prompts to the image tokens of a ViT: every block attends over
``[prompts | image tokens]`` with its own weights, so the prompts are updated block by block (and interact with each
other and with the image), and the image tokens see the prompts. At the feature levels the decoder
(:class:`~mmdtme.models.necks.TaskPrompterDecoder`) reads, per task, the prompt-to-patch attention of the block and
the prompt tokens.

Token order and DTME (see also docs/design.md §1.4):

- Sequence of one stream entering block l: ``[prompts (T·L) | class token(s) | patches (h·w) | TE tokens (n)]``.
  Prompts come first (task t's L prompts at rows t·L ... (t+1)·L - 1), the N image tokens keep DTMEViT's layout
  and the TE tokens of a TE layer are appended last and dropped after the block, as in :class:`DTMEViT`.
- From the plan's first modified block on, the whole sequence is replicated into T streams stacked as one (T·B, ...)
  batch, and **every stream carries all T·L prompts**. Stream t is then exactly the unexpanded model plus task t's
  TE tokens and TM, so a TM-only expansion leaves every output unchanged when it is inserted; task t's decoder reads
  stream t (its patches and its own prompts' attention), the other tasks' prompts in stream t only take part in the
  attention.
- Token Modulation acts on the N image tokens only; the prompts are task-specific already and are not modulated.
- DTME's analysis (``forward_with_block_outputs``) sees each block's N image tokens (class + patches, as for
  DTMEViT), never the prompts or TE tokens; the conflicts are measured on those tokens.
"""
from typing import Dict, Iterator, List, NamedTuple, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
from torch import Tensor

from mmdtme.dtme import stack_task_streams
from mmdtme.registry import MODELS
from .dtme_vit import DTMEViT


class PromptLevel(NamedTuple):
    """What the decoder needs from one feature level of :class:`TaskPrompterViT`.

    Args:
        features: B×C×h×w map of the block's output patch tokens.
        prompts: (B, T·L, C) prompt tokens after the block; task t's are rows t·L ... (t+1)·L - 1.
        attention: (B, heads, T·L, h·w) scaled prompt-to-patch attention logits of the block (before the softmax,
            which in the block also runs over the prompts, class token and TE tokens).
    """

    features: Tensor
    prompts: Tensor
    attention: Tensor


PromptFeatures = Union[List[PromptLevel], Dict[str, List[PromptLevel]]]


@MODELS.register_module()
class TaskPrompterViT(DTMEViT):
    """ViT with learnable task prompts in every block; expandable with DTME plans like :class:`DTMEViT`.

    Returns a list of :class:`PromptLevel` (one per ``out_indices`` block) before a DTME expansion and
    ``{task: levels}`` after it; :class:`~mmdtme.models.necks.TaskPrompterDecoder` turns either into per-task
    features. See the module docstring for the token order with DTME.

    Args:
        tasks: Task names, one prompt set each, in the order of the model's heads; set by ``MultiTaskSegmentor``.
        prompt_length: Prompt tokens L per task. Default: 1 (TaskPrompter's setting).
        prompt_init_std: Standard deviation of the prompts' truncated-normal init (cut at ±2 std). Default: 0.02.
        **kwargs: :class:`TimmViT` arguments (``model_name``, ``img_size``, ``out_indices``, ``model_kwargs``...);
            ``model_kwargs['embed_dim']`` sets the prompt (= token) width.
    """

    def __init__(self,
                 tasks: Optional[Sequence[str]] = None,
                 prompt_length: int = 1,
                 prompt_init_std: float = 0.02,
                 **kwargs) -> None:
        super().__init__(tasks=tasks, **kwargs)
        if not self.tasks:
            raise ValueError('TaskPrompterViT needs the task list (one prompt set per task): build it inside '
                             'MultiTaskSegmentor, which passes model.tasks, or pass tasks=[...]')
        if prompt_length < 1:
            raise ValueError(f'prompt_length must be >= 1, got {prompt_length}')
        for index, block in enumerate(self.vit.blocks):
            attn = getattr(block, 'attn', None)
            if not hasattr(block, 'norm1') or not all(hasattr(attn, name) for name in ('qkv', 'num_heads', 'scale')):
                raise TypeError(f'block {index} of {type(self.vit).__name__} is not a pre-norm timm Block with a '
                                'qkv Attention; TaskPrompterViT reads its prompt-to-patch attention from those')
        self.prompt_length = prompt_length
        self.num_prompts = len(self.tasks) * prompt_length
        self.task_prompts = nn.Parameter(torch.empty(self.num_prompts, self.embed_dim))  # (T·L, C)
        nn.init.trunc_normal_(self.task_prompts, std=prompt_init_std, a=-2 * prompt_init_std, b=2 * prompt_init_std)

    def prompt_attention(self, block: nn.Module, tokens: Tensor, grid: Tuple[int, int]) -> Tensor:
        """Scaled prompt-to-patch logits of ``block`` on its input ``tokens``: (B', heads, T·L, h·w).

        Recomputes the block's own queries (of the prompts) and keys (of the patches), so the fused attention
        kernel stays in use inside the block.
        """
        attn = block.attn
        x = block.norm1(tokens)
        start = self.num_prompts + self.vit.num_prefix_tokens
        prompts, patches = x[:, :self.num_prompts], x[:, start:start + grid[0] * grid[1]]
        B, P, _ = prompts.shape
        heads = attn.num_heads
        q = attn.qkv(prompts).reshape(B, P, 3, heads, -1)[:, :, 0].transpose(1, 2)  # (B, heads, P, d)
        k = attn.qkv(patches).reshape(B, patches.shape[1], 3, heads, -1)[:, :, 1].transpose(1, 2)  # (B, heads, hw, d)
        q, k = attn.q_norm(q), attn.k_norm(k)
        return (q * attn.scale) @ k.transpose(-2, -1)

    def _run_prompted_streams(self, x: Tensor) -> Iterator[tuple]:
        """Blocks on ``[prompts | image tokens]``; yields (index, prompts, image tokens, attention or None, stacked,
        grid) after each block, the image tokens after TE / TM."""
        image, grid = self.embed(x)  # (B, N, C): class token(s) + patches
        prompts = self.task_prompts.to(image.dtype).unsqueeze(0).expand(image.shape[0], -1, -1)  # (B, T·L, C)
        first = self.plan.first_modified_layer if self.plan is not None else None
        T, P = len(self.tasks), self.num_prompts
        stacked = False
        for index, block in enumerate(self.vit.blocks):
            if index == first:
                # Each stream carries every prompt, so a stream is the unexpanded model until TE / TM act on it.
                prompts, image, stacked = stack_task_streams(prompts, T), stack_task_streams(image, T), True
            key = str(index)
            tokens = torch.cat([prompts, image], dim=1)
            if key in self.token_expansion:
                tokens = self.token_expansion[key].expand(tokens)  # TE tokens go after the patches
            attention = self.prompt_attention(block, tokens, grid) if index in self.out_indices else None
            tokens = self.run_block(block, tokens)
            if key in self.token_expansion:
                tokens = self.token_expansion[key].drop(tokens)
            # Split (not slice a copy that stays unused): the next block reads these very tensors, so the analysis'
            # gradients with respect to the image tokens are the ones that reach the losses.
            prompts, image = tokens[:, :P], tokens[:, P:]
            if key in self.token_modulation:
                image = self.token_modulation[key](image)
            yield index, prompts, image, attention, stacked, grid

    def _run_streams(self, x: Tensor):
        """DTMEViT's view of the blocks: (index, image tokens after TE / TM, stacked, grid), prompts left out."""
        for index, _, image, _, stacked, grid in self._run_prompted_streams(x):
            yield index, image, stacked, grid

    def _split_prompt_levels(self, levels: list, batch_size: int) -> PromptFeatures:
        if self.plan is None:
            return [level for level, _ in levels]
        B = batch_size
        return {
            task: [
                PromptLevel(*(part[t * B:(t + 1) * B] for part in level)) if stacked else level
                for level, stacked in levels
            ]
            for t, task in enumerate(self.plan.tasks)
        }

    def _levels(self, x: Tensor, block_outputs: Optional[list] = None) -> PromptFeatures:
        levels = []
        for index, prompts, image, attention, stacked, grid in self._run_prompted_streams(x):
            if block_outputs is not None:
                block_outputs.append(image)
            if index in self.out_indices:
                levels.append((PromptLevel(self.tokens_to_map(image, grid), prompts, attention), stacked))
        return self._split_prompt_levels(levels, x.shape[0])

    def forward_with_block_outputs(self, x: Tensor) -> Tuple[PromptFeatures, List[Tensor]]:
        """Features and every block's N image tokens ((B, N, C), or (T·B, N, C) once stacked), prompts excluded."""
        block_outputs: List[Tensor] = []
        return self._levels(x, block_outputs), block_outputs

    def forward(self, x: Tensor) -> PromptFeatures:
        return self._levels(x)
