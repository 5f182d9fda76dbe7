"""Range / null split of a layer's token space by explained variance (DTME-MTL §3.1, docs/design.md §1.1)."""
from dataclasses import dataclass

import torch
from torch import Tensor

# Relative slack on the cumulative variance ratio so that a split exactly at τ (e.g. [3, 1] with τ = 0.75) is
# not lost to rounding, and τ = 1 stops at the rank instead of at numerically-zero eigenvalues.
_RATIO_TOLERANCE = 1e-12
DEFAULT_R = 100  # the paper's choice for all its runs but Fig. 5's sweep


def range_variance_from_r(r: float) -> float:
    """The share τ of the variance kept in the range space for the paper's knob r: τ = r / (1 + r).

    The paper writes r = Σ_null λ / Σ_range λ (Eq. 3) and sweeps r over 1, 10, 100, 500 and 1000 (default 100,
    Fig. 5). Read literally, every one of those values puts at least half of the variance in the null space, and
    r = 1000 less than a thousandth in the range space: below the first eigenvalue of any token covariance, so
    k = 1 for most of the sweep, which could not show the differences Fig. 5 plots. Read as the inverse ratio,
    range : null = r : 1, the sweep spans τ = 0.5, 0.909, 0.990, 0.998 and 0.999, and the default r = 100 is
    τ = 0.990, the usual "99 % of the variance". This is that reading; docs/design.md §1.1 lists the values.
    """
    if r <= 0:
        raise ValueError(f'r (range_null_ratio) must be > 0, got {r}')
    return r / (1.0 + r)


DEFAULT_RANGE_VARIANCE = range_variance_from_r(DEFAULT_R)  # 100 / 101 = 0.990099...


@dataclass
class TokenSpaces:
    """Eigen-decomposition of a token covariance, split into a range and a null space.

    Args:
        eigenvalues: (C,) eigenvalues, descending, non-negative.
        eigenvectors: (C, C) orthonormal eigenvectors; column i belongs to ``eigenvalues[i]``.
        k: Dimension of the range space, in [1, C].
    """

    eigenvalues: Tensor
    eigenvectors: Tensor
    k: int

    @property
    def range_basis(self) -> Tensor:
        """U_r, the (C, k) eigenvectors of the k largest eigenvalues."""
        return self.eigenvectors[:, :self.k]

    @property
    def null_basis(self) -> Tensor:
        """U_n, the (C, C - k) remaining eigenvectors (empty when k = C)."""
        return self.eigenvectors[:, self.k:]

    @property
    def explained_variance(self) -> float:
        """Σ_{i<=k} λ_i / Σ λ_i, the share of token energy in the range space."""
        return float(self.eigenvalues[:self.k].sum() / self.eigenvalues.sum())


def split_token_space(covariance: Tensor, range_variance: float = DEFAULT_RANGE_VARIANCE) -> TokenSpaces:
    """Eigen-decompose a token covariance and split it at the smallest k explaining ``range_variance``.

    k is the smallest index with Σ_{i<=k} λ_i / Σ λ_i >= τ (up to a 1e-12 relative tolerance), so k is in
    [1, C] and τ = 1 gives the rank of the covariance. The paper's knob r maps to τ by
    :func:`range_variance_from_r`.

    Args:
        covariance: (C, C) symmetric positive semi-definite matrix, e.g. from
            :meth:`CovarianceAccumulator.covariance`. It is symmetrised and decomposed in float64.
        range_variance: τ in (0, 1]. Default: r = 100, τ = 100 / 101.

    Returns:
        The float64 :class:`TokenSpaces`; tiny negative eigenvalues from rounding are clamped to 0.
    """
    if not 0.0 < range_variance <= 1.0:
        raise ValueError(f'range_variance must be in (0, 1], got {range_variance}')
    if covariance.dim() != 2 or covariance.shape[0] != covariance.shape[1]:
        raise ValueError(f'covariance must be a square (C, C) matrix, got shape {tuple(covariance.shape)}')
    cov = covariance.detach().to(torch.float64)
    if not torch.isfinite(cov).all():
        raise ValueError('covariance has non-finite entries')
    cov = (cov + cov.T) / 2
    eigenvalues, eigenvectors = torch.linalg.eigh(cov)  # ascending
    eigenvalues = eigenvalues.flip(0).clamp_min(0.0)  # (C,) descending
    eigenvectors = eigenvectors.flip(1)  # (C, C)
    total = eigenvalues.sum()
    if total <= 0:
        raise ValueError('covariance is zero (all tokens were zero?); cannot split its token space')
    C = cov.shape[0]
    ratio = eigenvalues.cumsum(0) / total  # (C,), non-decreasing, ends at 1
    k = int((ratio < range_variance - _RATIO_TOLERANCE).sum().item()) + 1
    return TokenSpaces(eigenvalues=eigenvalues, eigenvectors=eigenvectors, k=min(k, C))
