"""Streaming uncentered token covariance per layer (DTME-MTL §3.1, docs/design.md §1.1)."""
from typing import List, Optional, Sequence, Union

import torch
from torch import Tensor


class CovarianceAccumulator:
    """Uncentered covariance S_l = (1/M) Σ x xᵀ of the output tokens of every layer, fed batch by batch.

    Every token x ∈ R^C of every sample counts once (the class token included). Each batch's Gram matrix xᵀx is
    computed on the tokens' device in their own precision (float32: half and bfloat16 are raised to it), the
    GPU's fast path, and added to float64 running sums, so long analysis sets do not lose precision and no
    float64 matmul runs. Nothing is read back to the host per batch: non-finite tokens are counted on the device
    and reported when the covariance is read. Under DDP, all-reduce (SUM) the tensors of :meth:`state_tensors`
    before reading :meth:`covariance`.

    Example::

        acc = CovarianceAccumulator(num_layers=12, channels=768)
        for images in loader:
            for layer, tokens in enumerate(block_outputs(images)):   # each (B, N, C)
                acc.update(layer, tokens)
        cov = acc.covariance(5)                                        # (C, C) float64

    Args:
        num_layers: Number of layers L.
        channels: Token width C.
        device: Where the sums live. Default: the device of the first tokens (set when they arrive).
    """

    def __init__(self, num_layers: int, channels: int, device: Optional[Union[str, torch.device]] = None) -> None:
        if num_layers < 1:
            raise ValueError(f'num_layers must be >= 1, got {num_layers}')
        if channels < 1:
            raise ValueError(f'channels must be >= 1, got {channels}')
        self.num_layers = num_layers
        self.channels = channels
        self._placed = device is not None
        self.sums = torch.zeros(num_layers, channels, channels, dtype=torch.float64, device=device)  # (L, C, C)
        self.counts = torch.zeros(num_layers, dtype=torch.float64, device=device)  # (L,)
        self.nonfinite = torch.zeros(num_layers, dtype=torch.float64, device=device)  # (L,) batches with NaN/inf

    def _check_layer(self, layer: int) -> None:
        if not 0 <= layer < self.num_layers:
            raise IndexError(f'layer {layer} is out of range for {self.num_layers} layers')

    @torch.no_grad()
    def update(self, layer: int, tokens: Tensor) -> None:
        """Add the tokens of one batch to layer ``layer``.

        Args:
            layer: Layer index in [0, L).
            tokens: (..., C) tokens of any float dtype, e.g. (B, N, C); every leading index is one token.
        """
        self._check_layer(layer)
        C = self.channels
        if tokens.shape[-1] != C:
            raise ValueError(f'tokens of layer {layer} have {tokens.shape[-1]} channels (shape '
                             f'{tuple(tokens.shape)}), expected {C}')
        if not self._placed:  # the statistics follow the tokens: no per-batch copy to another device
            self.sums, self.counts, self.nonfinite = (t.to(tokens.device) for t in self.state_tensors())
            self._placed = True
        x = tokens.detach().reshape(-1, C).to(self.sums.device)  # (M_batch, C)
        if x.dtype in (torch.float16, torch.bfloat16):
            x = x.float()  # a Gram of thousands of half-precision tokens would overflow
        gram = x.T @ x  # (C, C) in the tokens' precision
        self.nonfinite[layer] += ~torch.isfinite(gram).all()  # checked when read: no host sync per batch
        self.sums[layer] += gram  # accumulated in float64
        self.counts[layer] += x.shape[0]

    def merge(self, other: 'CovarianceAccumulator') -> 'CovarianceAccumulator':
        """Add the statistics of another accumulator of the same shape into this one; returns ``self``."""
        if (other.num_layers, other.channels) != (self.num_layers, self.channels):
            raise ValueError(f'cannot merge an accumulator of {other.num_layers} layers x {other.channels} '
                             f'channels into one of {self.num_layers} layers x {self.channels} channels')
        self.sums += other.sums.to(self.sums.device)
        self.counts += other.counts.to(self.counts.device)
        self.nonfinite += other.nonfinite.to(self.nonfinite.device)
        return self

    def state_tensors(self) -> List[Tensor]:
        """The raw statistics ``[sums (L, C, C), counts (L,), nonfinite (L,)]``, float64.

        These are the accumulator's own tensors, so an in-place ``dist.all_reduce(t, op=SUM)`` on each of them
        combines the ranks' statistics directly.
        """
        return [self.sums, self.counts, self.nonfinite]

    def load_state_tensors(self, tensors: Sequence[Tensor]) -> None:
        """Replace the statistics with ``[sums, counts, nonfinite]`` as returned by :meth:`state_tensors`."""
        if len(tensors) != 3:
            raise ValueError(f'expected [sums, counts, nonfinite], got {len(tensors)} tensors')
        sums, counts, nonfinite = tensors
        if tuple(sums.shape) != tuple(self.sums.shape) or tuple(counts.shape) != tuple(self.counts.shape):
            raise ValueError(f'state tensors of shapes {tuple(sums.shape)}, {tuple(counts.shape)} do not match '
                             f'{tuple(self.sums.shape)}, {tuple(self.counts.shape)}')
        self.sums = sums.detach().to(device=self.sums.device, dtype=torch.float64).clone()
        self.counts = counts.detach().to(device=self.counts.device, dtype=torch.float64).clone()
        self.nonfinite = nonfinite.detach().to(device=self.nonfinite.device, dtype=torch.float64).clone()

    def count(self, layer: int) -> int:
        """Number of tokens M seen at ``layer``."""
        self._check_layer(layer)
        return int(self.counts[layer].item())

    def covariance(self, layer: int) -> Tensor:
        """S_l = (1/M) Σ x xᵀ, a (C, C) float64 tensor on the accumulator's device.

        Raises:
            ValueError: If no token reached ``layer``.
        """
        M = self.count(layer)
        if self.nonfinite[layer].item() > 0:
            raise ValueError(f'non-finite tokens at layer {layer}; the forward pass produced NaN/inf')
        if M == 0:
            raise ValueError(f'no tokens were accumulated for layer {layer}: the analysis set was empty. '
                             'Feed at least one batch through update() (check the analysis dataloader and, '
                             'under DDP, that the statistics were all-reduced before reading them)')
        return self.sums[layer] / M
