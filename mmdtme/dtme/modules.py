"""Task streams, Token Modulation and Token Expansion (DTME-MTL §3.4, docs/design.md §1.4).

After the first modified layer the T task streams are stacked task-major along the batch axis, (T·B, N, C):
rows t·B ... (t+1)·B - 1 belong to task t. Every block runs once on the stacked batch; TM and TE act per task
by broadcasting over the task axis, without a Python loop over tasks.
"""
import torch
import torch.nn as nn
from torch import Tensor


def stack_task_streams(x: Tensor, num_tasks: int) -> Tensor:
    """Replicate one shared stream (B, N, C) into T task streams stacked as (T·B, N, C)."""
    if num_tasks < 1:
        raise ValueError(f'num_tasks must be >= 1, got {num_tasks}')
    return x.unsqueeze(0).expand(num_tasks, *x.shape).reshape(num_tasks * x.shape[0], *x.shape[1:])


def unstack_task_streams(x: Tensor, num_tasks: int) -> Tensor:
    """Split stacked streams (T·B, ...) into (T, B, ...); task t's stream is ``out[t]``."""
    if num_tasks < 1 or x.shape[0] % num_tasks:
        raise ValueError(f'a stacked batch of {x.shape[0]} rows cannot hold {num_tasks} task streams')
    return x.unflatten(0, (num_tasks, x.shape[0] // num_tasks))


def _check_channels(x: Tensor, channels: int) -> None:
    if x.dim() != 3 or x.shape[-1] != channels:
        raise ValueError(f'expected stacked task streams (T*B, N, C={channels}), got shape {tuple(x.shape)}')


class TokenModulation(nn.Module):
    """Per-task channel affine on the tokens: x_t ← W_t ⊙ x_t + b_t.

    W starts at 1 and b at 0, so the network function is unchanged when the module is inserted.

    Args:
        num_tasks: Number of task streams T.
        channels: Token width C.
    """

    def __init__(self, num_tasks: int, channels: int) -> None:
        super().__init__()
        self.num_tasks = num_tasks
        self.channels = channels
        self.weight = nn.Parameter(torch.ones(num_tasks, 1, 1, channels))  # (T, 1, 1, C)
        self.bias = nn.Parameter(torch.zeros(num_tasks, 1, 1, channels))  # (T, 1, 1, C)

    def forward(self, x: Tensor) -> Tensor:
        """(T·B, N, C) -> (T·B, N, C)."""
        _check_channels(x, self.channels)
        x = unstack_task_streams(x, self.num_tasks)  # (T, B, N, C)
        return (x * self.weight + self.bias).flatten(0, 1)

    def extra_repr(self) -> str:
        return f'num_tasks={self.num_tasks}, channels={self.channels}'


class BNTokenModulation(nn.Module):
    """The BN-style modulator of the ablation: per-task BatchNorm over the tokens.

    Each task stream is normalised per channel over its (B, N) tokens (batch statistics in training, running
    statistics in eval), then scaled and shifted by a per-task affine. Unlike :class:`TokenModulation`, it is not
    the identity at insertion time in training mode; that is the point of the ablation.

    Args:
        num_tasks: Number of task streams T.
        channels: Token width C.
        eps: Added to the variance. Default: 1e-5.
        momentum: Update rate of the running statistics. Default: 0.1.
    """

    def __init__(self, num_tasks: int, channels: int, eps: float = 1e-5, momentum: float = 0.1) -> None:
        super().__init__()
        self.num_tasks = num_tasks
        self.channels = channels
        self.eps = eps
        self.momentum = momentum
        self.weight = nn.Parameter(torch.ones(num_tasks, 1, 1, channels))  # (T, 1, 1, C)
        self.bias = nn.Parameter(torch.zeros(num_tasks, 1, 1, channels))
        self.register_buffer('running_mean', torch.zeros(num_tasks, 1, 1, channels))
        self.register_buffer('running_var', torch.ones(num_tasks, 1, 1, channels))

    def forward(self, x: Tensor) -> Tensor:
        """(T·B, N, C) -> (T·B, N, C)."""
        _check_channels(x, self.channels)
        x = unstack_task_streams(x, self.num_tasks)  # (T, B, N, C)
        if self.training:
            var, mean = torch.var_mean(x, dim=(1, 2), keepdim=True, correction=0)  # (T, 1, 1, C)
            with torch.no_grad():
                M = x.shape[1] * x.shape[2]
                unbiased = var * (M / max(M - 1, 1))
                self.running_mean.lerp_(mean.to(self.running_mean.dtype), self.momentum)
                self.running_var.lerp_(unbiased.to(self.running_var.dtype), self.momentum)
        else:
            mean, var = self.running_mean, self.running_var
        x = (x - mean) * torch.rsqrt(var + self.eps)
        return (x * self.weight + self.bias).flatten(0, 1)

    def extra_repr(self) -> str:
        return f'num_tasks={self.num_tasks}, channels={self.channels}, eps={self.eps}, momentum={self.momentum}'


class TokenExpansion(nn.Module):
    """Per-task learnable tokens appended to a block's input and dropped from its output.

    Task t's n tokens E_t ∈ R^{n×C} go AFTER the sequence, so token indices 0 ... N-1 (class token included) keep
    their positions; :meth:`drop` removes the last n outputs, so the token count stays N.

    Args:
        num_tasks: Number of task streams T.
        channels: Token width C.
        num_tokens: Tokens n per task. Default: 6.
        init_std: Standard deviation of the truncated-normal init (cut at ±2 std). Default: 0.02.
    """

    def __init__(self, num_tasks: int, channels: int, num_tokens: int = 6, init_std: float = 0.02) -> None:
        super().__init__()
        if num_tokens < 1:
            raise ValueError(f'num_tokens must be >= 1, got {num_tokens}')
        self.num_tasks = num_tasks
        self.channels = channels
        self.num_tokens = num_tokens
        self.tokens = nn.Parameter(torch.empty(num_tasks, num_tokens, channels))  # (T, n, C)
        nn.init.trunc_normal_(self.tokens, std=init_std, a=-2 * init_std, b=2 * init_std)

    def expand(self, x: Tensor) -> Tensor:
        """(T·B, N, C) -> (T·B, N + n, C), task t's tokens appended to every sample of stream t."""
        _check_channels(x, self.channels)
        x = unstack_task_streams(x, self.num_tasks)  # (T, B, N, C)
        T, B, N, C = x.shape
        tokens = self.tokens.to(x.dtype).unsqueeze(1).expand(T, B, self.num_tokens, C)  # (T, B, n, C)
        return torch.cat([x, tokens], dim=2).flatten(0, 1)

    def drop(self, x: Tensor) -> Tensor:
        """(T·B, N + n, C) -> (T·B, N, C): remove the expansion tokens' outputs."""
        if x.shape[1] <= self.num_tokens:
            raise ValueError(f'cannot drop {self.num_tokens} expansion tokens from {x.shape[1]} tokens')
        return x[:, :x.shape[1] - self.num_tokens]

    def extra_repr(self) -> str:
        return f'num_tasks={self.num_tasks}, channels={self.channels}, num_tokens={self.num_tokens}'
