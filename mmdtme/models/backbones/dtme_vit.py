from typing import Dict, List, Optional, Sequence, Union

import torch
import torch.nn as nn

from mmdtme.dtme import (BNTokenModulation, Plan, TokenExpansion, TokenModulation, check_copyable, make_task_specific,
                         stack_task_streams)
from mmdtme.registry import MODELS
from .timm_vit import TimmViT

Features = Union[List[torch.Tensor], Dict[str, List[torch.Tensor]]]


@MODELS.register_module()
class DTMEViT(TimmViT):
    """A timm ViT that DTME-MTL can expand with Token Modulation and Token Expansion (Jeong & Yoon, ICCV 2025).

    Before :meth:`expand` it is :class:`TimmViT` and returns one list of feature maps shared by all tasks. After
    it, every task has its own token stream from the first modified layer on. The T streams are stacked as one
    (T·B, N, C) batch, so each later block runs once for all tasks; at a TE layer each task's ``num_tokens``
    learnable tokens are appended after the N tokens before the block and dropped after it, and at a TM layer
    the block's output tokens of task t become W_t ⊙ x + b_t. The forward then returns ``{task: feature maps}``.

    A plan may also list ``copied_modules`` (Recon): every task then gets its own copy of those modules, initialised
    from the shared weights. The copies are stored stacked, (T, ...) under the module's own state-dict keys, and
    act on the stacked streams in one call (:func:`mmdtme.dtme.make_task_specific`), so a block with copies runs
    once for all tasks like any other block.

    The plan is stored in the module state (buffer ``dtme_plan``, JSON bytes), so loading an expanded checkpoint
    into a freshly built model expands it first; a plan that does not fit the model is an error.

    Args:
        tasks: Task names, in the order of the model's heads; set by ``MultiTaskSegmentor``.
        **kwargs: :class:`TimmViT` arguments.
    """

    def __init__(self, tasks: Optional[Sequence[str]] = None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.tasks = list(tasks) if tasks is not None else None
        self.plan: Optional[Plan] = None
        self.token_modulation = nn.ModuleDict()
        self.token_expansion = nn.ModuleDict()
        self.register_buffer('dtme_plan', torch.zeros(0, dtype=torch.uint8))

    @property
    def is_expanded(self) -> bool:
        return self.plan is not None

    def expand(self, plan: Plan) -> List[nn.Parameter]:
        """Add the plan's TM / TE modules (identity TM at insertion) and task-specific copies (initialised from the
        shared weights) and return their new parameters.

        Expanding again with an equal plan does nothing and returns no parameter.
        """
        plan.validate()
        plan.check_compatible(self.tasks if self.tasks is not None else plan.tasks, self.depth, self.embed_dim)
        if self.plan is not None:
            if self.plan.to_dict() == plan.to_dict():
                return []
            raise ValueError('this backbone was already expanded with another DTME plan; build a fresh model '
                             'to apply a different one')
        for path in plan.copied_modules:  # fail before changing anything
            check_copyable(self.vit.blocks, path)
        T, C = len(plan.tasks), self.embed_dim
        modulator = TokenModulation if plan.modulator == 'affine' else BNTokenModulation
        for layer in plan.tm_layers:
            self.token_modulation[str(layer)] = modulator(T, C)
        for layer in plan.te_layers:
            self.token_expansion[str(layer)] = TokenExpansion(T, C, plan.num_tokens)
        reference = next(self.vit.parameters())
        self.token_modulation.to(device=reference.device, dtype=reference.dtype)
        self.token_expansion.to(device=reference.device, dtype=reference.dtype)
        # The copies replace the shared parameters in the blocks (same device and dtype); the replaced ones stay
        # in whatever optimizer holds them but no longer receive gradients.
        copies = [param for path in plan.copied_modules for param in make_task_specific(self.vit.blocks, path, T)]
        self.plan = plan
        self.dtme_plan = plan.to_tensor().to(reference.device)
        return [*self.token_modulation.parameters(), *self.token_expansion.parameters(), *copies]

    def _load_from_state_dict(self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                              error_msgs) -> None:
        # Runs before the children load, so the TM / TE modules exist when their weights arrive.
        stored = state_dict.get(prefix + 'dtme_plan')
        if stored is not None and stored.numel() > 0:
            self.expand(Plan.from_tensor(stored))
        elif stored is not None and self.plan is not None:
            raise ValueError('the checkpoint holds an unexpanded model but this backbone was expanded with a DTME '
                             'plan; load it into a model built from the config without expansion')
        super()._load_from_state_dict(state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys,
                                      error_msgs)

    def _run_streams(self, x: torch.Tensor):
        """Blocks with task streams; yields (block index, tokens after TE / TM, whether tokens are stacked)."""
        tokens, grid = self.embed(x)
        T = len(self.plan.tasks)
        first = self.plan.first_modified_layer
        stacked = False
        for index, block in enumerate(self.vit.blocks):
            if index == first:
                tokens, stacked = stack_task_streams(tokens, T), True  # (B, N, C) -> (T·B, N, C)
            key = str(index)
            if key in self.token_expansion:
                tokens = self.token_expansion[key].expand(tokens)
            tokens = self.run_block(block, tokens)
            if key in self.token_expansion:
                tokens = self.token_expansion[key].drop(tokens)
            if key in self.token_modulation:
                tokens = self.token_modulation[key](tokens)
            yield index, tokens, stacked, grid

    def _split_levels(self, levels: list, batch_size: int) -> Dict[str, List[torch.Tensor]]:
        B = batch_size
        return {
            task: [level[t * B:(t + 1) * B] if is_stacked else level for level, is_stacked in levels]
            for t, task in enumerate(self.plan.tasks)
        }

    def forward_with_block_outputs(self, x: torch.Tensor):
        """Features and every block's output tokens: (B, N, C) while shared, (T·B, N, C) once stacked."""
        if self.plan is None:
            return super().forward_with_block_outputs(x)
        levels, block_outputs = [], []
        for index, tokens, stacked, grid in self._run_streams(x):
            block_outputs.append(tokens)
            if index in self.out_indices:
                levels.append((self.tokens_to_map(tokens, grid), stacked))
        return self._split_levels(levels, x.shape[0]), block_outputs

    def forward(self, x: torch.Tensor) -> Features:
        if self.plan is None:
            return super().forward(x)
        levels = [(self.tokens_to_map(tokens, grid), stacked) for index, tokens, stacked, grid in self._run_streams(x)
                  if index in self.out_indices]
        return self._split_levels(levels, x.shape[0])
