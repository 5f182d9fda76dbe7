"""Task-specific copies of shared modules on stacked task streams (Recon, Shi et al., ICLR 2023).

Recon turns the shared layers whose task gradients conflict most into task-specific ones: every task gets its own
copy, initialised from the shared weights. Here a copy acts on the stacked task streams (T·B, ..., C) of
:mod:`mmdtme.dtme.modules`: each parametrised module is replaced by a task-batched version that holds the T
copies of its parameters stacked along a new first axis, (T, ...), and applies copy t to rows t·B ... (t+1)·B - 1.
Everything without parameters (attention softmax, GELU, residuals) already acts per sample, so a transformer
block whose parametrised modules are task-batched computes exactly what T separate copies of it would, in one
call and without a Python loop over tasks.

- :class:`TaskLinear` and :class:`TaskLayerNorm` are batched matmuls / broadcasts (the modules of a ViT block);
- :class:`TaskBatched` covers any other parametrised module without buffers (e.g. timm's ``LayerScale``) with
  ``torch.func.vmap`` over the T copies;
- :func:`make_task_specific` replaces every parametrised module under a path and returns the new parameters
  (:func:`check_copyable` says beforehand whether it can).

State-dict keys keep the module's names; only the shapes gain the leading T axis.
"""
import copy
from typing import List

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch import Tensor
from torch.func import functional_call, vmap

from .modules import unstack_task_streams


def _stack(param: Tensor, num_tasks: int) -> nn.Parameter:
    """T copies of a parameter, (T, *shape), with the same values."""
    return nn.Parameter(param.detach().unsqueeze(0).repeat(num_tasks, *([1] * param.dim())).clone())


class TaskLinear(nn.Module):
    """T copies of a linear layer: y_t = x_t W_tᵀ + b_t for the rows of task stream t.

    Args:
        linear: The shared layer; its weights initialise every copy.
        num_tasks: Number of task streams T.
    """

    def __init__(self, linear: nn.Linear, num_tasks: int) -> None:
        super().__init__()
        self.num_tasks = num_tasks
        self.in_features, self.out_features = linear.in_features, linear.out_features
        self.weight = _stack(linear.weight, num_tasks)  # (T, out, in)
        self.bias = _stack(linear.bias, num_tasks) if linear.bias is not None else None  # (T, out)

    def forward(self, x: Tensor) -> Tensor:
        """(T·B, ..., in) -> (T·B, ..., out)."""
        streams = unstack_task_streams(x, self.num_tasks)  # (T, B, ..., in)
        flat = streams.reshape(self.num_tasks, -1, self.in_features)  # (T, M, in)
        if self.bias is None:
            out = torch.bmm(flat, self.weight.transpose(1, 2))
        else:
            out = torch.baddbmm(self.bias.unsqueeze(1), flat, self.weight.transpose(1, 2))  # (T, M, out)
        return out.reshape(*x.shape[:-1], self.out_features)

    def extra_repr(self) -> str:
        return (f'num_tasks={self.num_tasks}, in_features={self.in_features}, out_features={self.out_features}, '
                f'bias={self.bias is not None}')


class TaskLayerNorm(nn.Module):
    """T copies of a LayerNorm: the normalisation is shared arithmetic, the affine is per task.

    Args:
        norm: The shared LayerNorm; its weights initialise every copy.
        num_tasks: Number of task streams T.
    """

    def __init__(self, norm: nn.LayerNorm, num_tasks: int) -> None:
        super().__init__()
        self.num_tasks = num_tasks
        self.normalized_shape = tuple(norm.normalized_shape)
        self.eps = norm.eps
        self.weight = _stack(norm.weight, num_tasks) if norm.weight is not None else None  # (T, *shape)
        self.bias = _stack(norm.bias, num_tasks) if norm.bias is not None else None

    def _per_task(self, param: Tensor, dims: int) -> Tensor:
        """(T, *shape) -> (T, 1, ..., 1, *shape) broadcasting over (T, B, ..., *shape) of ``dims`` dims."""
        middle = dims - 1 - len(self.normalized_shape)
        return param.reshape(self.num_tasks, *([1] * middle), *self.normalized_shape)

    def forward(self, x: Tensor) -> Tensor:
        """(T·B, ..., C) -> (T·B, ..., C)."""
        x = unstack_task_streams(F.layer_norm(x, self.normalized_shape, None, None, self.eps), self.num_tasks)
        if self.weight is not None:
            x = x * self._per_task(self.weight, x.dim())
        if self.bias is not None:
            x = x + self._per_task(self.bias, x.dim())
        return x.flatten(0, 1)

    def extra_repr(self) -> str:
        return f'num_tasks={self.num_tasks}, normalized_shape={self.normalized_shape}, eps={self.eps}'


class TaskBatched(nn.Module):
    """T copies of any module whose parameters are its own (no child holds any) and that has no buffers.

    The copies' parameters are registered under the module's own names with a leading T axis; the forward maps
    the module over the T streams with ``torch.func.vmap`` (different random numbers per copy, as T separate
    modules would draw).

    Args:
        module: The shared module; its weights initialise every copy.
        num_tasks: Number of task streams T.
    """

    def __init__(self, module: nn.Module, num_tasks: int) -> None:
        super().__init__()
        if any(True for _ in module.buffers()) or any(True for child in module.children() for _ in child.parameters()):
            raise ValueError(f'cannot make task-specific copies of {type(module).__name__}: it has buffers or '
                             'children with parameters; copy its parametrised children instead')
        self.num_tasks = num_tasks
        for name, param in module.named_parameters(recurse=False):
            self.register_parameter(name, _stack(param, num_tasks))
        # The template only supplies the forward; its parameters are swapped for one copy's in each call. Kept out
        # of the module tree so that its own (shared, stale) parameters are neither saved nor trained.
        self._template = [copy.deepcopy(module).requires_grad_(False)]
        self.wrapped = type(module).__name__

    def forward(self, x: Tensor) -> Tensor:
        """(T·B, ...) -> (T·B, ...)."""
        template = self._template[0]
        params = dict(self.named_parameters(recurse=False))

        def one_copy(copy_params, stream):
            return functional_call(template, copy_params, (stream, ))

        out = vmap(one_copy, randomness='different')(params, unstack_task_streams(x, self.num_tasks))
        return out.flatten(0, 1)

    def extra_repr(self) -> str:
        return f'num_tasks={self.num_tasks}, wrapped={self.wrapped}'


_TASK_BATCHED = (TaskLinear, TaskLayerNorm, TaskBatched)


def task_batched(module: nn.Module, num_tasks: int) -> nn.Module:
    """The task-batched version of one parametrised module (T copies with its current weights)."""
    if num_tasks < 1:
        raise ValueError(f'num_tasks must be >= 1, got {num_tasks}')
    if isinstance(module, nn.Linear):
        return TaskLinear(module, num_tasks)
    if isinstance(module, nn.LayerNorm):
        return TaskLayerNorm(module, num_tasks)
    return TaskBatched(module, num_tasks)


def check_copyable(root: nn.Module, path: str) -> nn.Module:
    """The sub-module ``path`` of ``root`` if it can be made task-specific; else a ValueError saying why."""
    try:
        target = root.get_submodule(path)
    except AttributeError as err:
        raise ValueError(f'cannot copy {path!r}: the backbone has no such module below its blocks ({err}); use '
                         'a block index such as \'3\' or a path such as \'3.attn\'') from None
    if isinstance(target, _TASK_BATCHED) or any(isinstance(module, _TASK_BATCHED) for module in target.modules()):
        raise ValueError(f'{path!r} is already task-specific (in part)')
    if not any(True for _ in target.parameters()):
        raise ValueError(f'cannot copy {path!r}: it holds no parameters')
    for name, module in target.named_modules():
        if any(True for _ in module.parameters(recurse=False)) and not isinstance(module, (nn.Linear, nn.LayerNorm)):
            if any(True for _ in module.buffers()) or any(True for child in module.children()
                                                          for _ in child.parameters()):
                raise ValueError(f'cannot make task-specific copies of {path!r}: its module {name or path!r} '
                                 f'({type(module).__name__}) has buffers or children with parameters')
    return target


def make_task_specific(root: nn.Module, path: str, num_tasks: int) -> List[nn.Parameter]:
    """Give every task its own copy of ``root``'s sub-module ``path``, in place; returns the copies' parameters.

    Every module under ``path`` (itself included) that holds parameters is replaced by its task-batched version;
    afterwards the sub-module must be called on stacked task streams (T·B, ...). The network function on
    replicated streams is unchanged at this point, since every copy starts from the shared weights.

    Args:
        root: The module the path is relative to, e.g. a ViT's ``blocks``.
        path: Dotted sub-module path, e.g. ``'3'`` or ``'3.attn'``.
        num_tasks: Number of task streams T.
    """
    target = check_copyable(root, path)
    parametrised = [
        name for name, module in target.named_modules() if any(True for _ in module.parameters(recurse=False))
    ]
    new_params = []
    # Deepest first, so a parametrised module's children are replaced before the module itself is inspected.
    for name in sorted(parametrised, key=lambda name: -name.count('.') if name else 1):
        full = f'{path}.{name}' if name else path
        parent_path, _, attribute = full.rpartition('.')
        parent = root.get_submodule(parent_path) if parent_path else root
        replacement = task_batched(root.get_submodule(full), num_tasks)
        parent.register_module(attribute, replacement)
        new_params.extend(replacement.parameters())
    return new_params
