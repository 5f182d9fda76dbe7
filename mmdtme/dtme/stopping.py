"""When an adaptive analysis has read enough batches (docs/design.md §1.7).

Two rules, one per pass of :func:`mmdtme.dtme.analyze` with ``stop='adaptive'``:

- the covariance pass is settled when the token spaces estimated from two disjoint halves of what was read (even
  and odd batches) agree: per layer, the split dimensions k differ by at most ``k_tolerance`` (relative, or by 1)
  and each half's range space explains the other half's tokens nearly as well as that half's own does
  (:func:`variance_leak` at most ``leak_tolerance``). Two halves that agree say the sampling noise of the estimate is
  below that level, and the merged estimate is better than either half;
- the conflict pass is settled when, for every pair of a selected and an unselected layer, the per-batch
  difference of their conflict fractions either separates them (mean > ``separation`` × its standard error, in the
  selection's direction) or ties them (|mean| + ``separation`` × standard error < ``tie_margin``, an equivalence
  test). The layers of tied pairs are reported: the rule keeps the current estimate's order for them, and a full
  pass would decide them by noise as well.

Everything here is plain torch on small tensors; the callers own the data.
"""
import math
import statistics
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from torch import Tensor

from .selection import _top, num_selected
from .spaces import TokenSpaces


@dataclass
class StoppingRule:
    """Settings of the adaptive analysis.

    Args:
        min_batches: Batches read by each pass before its first check (at least 2 are needed for a spread;
            the covariance halves need one batch each).
        check_every: Check every this many batches (each check of the covariance pass eigen-decomposes 2·L
            covariances).
        patience: Consecutive settled checks before a pass stops; the conflict pass also needs the same selection
            at each of them.
        k_tolerance: Largest relative difference of the halves' k, |k_a - k_b| / max(k_a, k_b) (1 always passes).
        leak_tolerance: Largest :func:`variance_leak` between the halves, in units of the null space's share of
            the variance (1 - τ): at 0.3, the halves disagree on less than a third of what the null space holds.
        separation: z, the multiple of a difference's standard error that separates two layers.
        tie_margin: Two layers whose conflict fractions differ by less than this (with z standard errors) tie.
        max_cached_batches: Batches of the covariance pass kept for the conflict pass, which starts with them and
            then reads batches not read yet (each batch is loaded and prepared once).
    """

    min_batches: int = 4
    check_every: int = 1
    patience: int = 2
    k_tolerance: float = 0.1
    leak_tolerance: float = 0.3
    separation: float = 2.0
    tie_margin: float = 0.02
    max_cached_batches: int = 32

    def __post_init__(self) -> None:
        if self.min_batches < 2 or self.check_every < 1 or self.patience < 1:
            raise ValueError(f'StoppingRule needs min_batches >= 2, check_every >= 1 and patience >= 1, got '
                             f'{self.min_batches}, {self.check_every}, {self.patience}')
        for name in ('k_tolerance', 'leak_tolerance', 'separation', 'tie_margin', 'max_cached_batches'):
            if getattr(self, name) < 0:
                raise ValueError(f'StoppingRule.{name} must be >= 0, got {getattr(self, name)}')

    def due(self, batches_read: int) -> bool:
        """Whether to check after ``batches_read`` batches."""
        return batches_read >= self.min_batches and batches_read % self.check_every == 0

    def batches_to_decide(self, difference_sd: float) -> float:
        """The fewest batches before a pair whose fractions differ by half the tie margin can pass either test.

        With a per-batch standard deviation s of the difference, the standard error after n batches is s / sqrt(n);
        at a mean of m / 2 both "separated" (m / 2 > z s / sqrt(n)) and "tied" (m / 2 + z s / sqrt(n) < m) need
        n > (2 z s / m)². It is the cost floor of the conflict pass when blocks differ by about the tie margin: a
        rule that stops earlier decides such pairs by noise.
        """
        if self.tie_margin == 0:
            return math.inf
        return math.ceil((2 * self.separation * difference_sd / self.tie_margin)**2)


def variance_leak(range_basis: Tensor, covariance: Tensor, own_share: float) -> float:
    """How much less of a covariance's variance a range space explains than its own range space does, relative to
    its null space's share: (own - tr(U_rᵀ S U_r) / tr(S)) / (1 - own), 0 for a range space as good as its own.

    Args:
        range_basis: (C, k) orthonormal basis of the range space under test (from the other half).
        covariance: (C, C) covariance S of the half being explained.
        own_share: The share of tr(S) its own range space explains (``TokenSpaces.explained_variance``).
    """
    basis = range_basis.to(covariance)
    explained = ((basis.T @ covariance @ basis).trace() / covariance.trace()).item()
    return max(0.0, own_share - explained) / max(1.0 - own_share, 1e-12)


def spaces_agree(half_a: Sequence[TokenSpaces], covariances_a: Sequence[Tensor], half_b: Sequence[TokenSpaces],
                 covariances_b: Sequence[Tensor], rule: StoppingRule) -> Tuple[bool, str]:
    """Whether two halves' token spaces agree on every layer, and a sentence with the worst k and leak."""
    worst_k, worst_leak, settled = 0.0, 0.0, True
    for a, cov_a, b, cov_b in zip(half_a, covariances_a, half_b, covariances_b):
        k_change = abs(a.k - b.k) / max(a.k, b.k)
        leak = max(
            variance_leak(a.range_basis, cov_b, b.explained_variance),
            variance_leak(b.range_basis, cov_a, a.explained_variance))
        worst_k, worst_leak = max(worst_k, k_change), max(worst_leak, leak)
        settled &= (abs(a.k - b.k) <= 1 or k_change <= rule.k_tolerance) and leak <= rule.leak_tolerance
    return settled, (f'the halves\' k differ by at most {100 * worst_k:.0f} % and their range spaces leak at most '
                     f'{worst_leak:.2f} of the null variance (tolerances {100 * rule.k_tolerance:.0f} %, '
                     f'{rule.leak_tolerance})')


@dataclass
class BoundaryCheck:
    """The state of one mechanism's selection: which pairs across its boundary are separated, tied or undecided."""

    selected: List[int]
    tied: List[int]  # layers of tied pairs, both sides of the boundary
    undecided: List[Tuple[int, int]]  # (selected, unselected) pairs neither separated nor tied
    difference_sd: float = math.nan  # median over the compared pairs of the per-batch SD of their difference

    @property
    def settled(self) -> bool:
        return not self.undecided


def check_boundary(per_batch: Tensor, scores: Sequence[float], n: int, highest: bool,
                   rule: StoppingRule) -> BoundaryCheck:
    """Compare every selected layer with every unselected one on per-batch conflict fractions.

    Args:
        per_batch: (batches, L) conflict fraction of every layer in each batch.
        scores: L pooled fractions (what the selection uses).
        n: Layers selected.
        highest: Select the highest scores (``conflict``, ``swap``) or the lowest (``reverse``).
        rule: Separation multiple and tie margin.

    The difference of two layers is taken batch by batch (a paired comparison: what a batch does to both layers
    cancels), its standard error is std / sqrt(batches).
    """
    selected = _top(list(scores), n, highest)
    unselected = [layer for layer in range(len(scores)) if layer not in selected]
    count = per_batch.shape[0]
    sign = 1.0 if highest else -1.0
    tied, undecided, sds = set(), [], []
    for a in selected:
        for b in unselected:
            difference = sign * (per_batch[:, a] - per_batch[:, b]).double()  # (batches,) > 0 when a ranks above b
            mean = difference.mean().item()
            sd = difference.std().item() if count > 1 else math.inf
            sds.append(sd)
            error = sd / math.sqrt(count)
            if mean > rule.separation * error:
                continue
            if abs(mean) + rule.separation * error < rule.tie_margin:
                tied.update((a, b))
            else:
                undecided.append((a, b))
    return BoundaryCheck(
        selected=selected,
        tied=sorted(tied),
        undecided=undecided,
        difference_sd=statistics.median(sds) if sds else math.nan)


def check_selection(range_per_batch: Tensor, null_per_batch: Tensor, range_scores: Sequence[float],
                    null_scores: Sequence[float], ratio: float, mode: str, variant: str,
                    rule: StoppingRule) -> Dict[str, BoundaryCheck]:
    """:func:`check_boundary` for each mechanism the selection uses: ``{'tm': ..., 'te': ...}``.

    ``random`` selections do not depend on the scores, so they have no boundary to check.
    """
    if mode == 'random':
        return {}
    n = num_selected(ratio, len(range_scores))
    highest = mode != 'reverse'
    by_space = {'range': (range_per_batch, range_scores), 'null': (null_per_batch, null_scores)}
    spaces = {'tm': 'null', 'te': 'range'} if mode == 'swap' else {'tm': 'range', 'te': 'null'}
    mechanisms = {'tm': ('tm', ), 'te': ('te', ), 'tm+te': ('tm', 'te')}[variant]
    return {mechanism: check_boundary(*by_space[spaces[mechanism]], n, highest, rule) for mechanism in mechanisms}


def describe_checks(checks: Dict[str, BoundaryCheck], rule: Optional[StoppingRule] = None) -> str:
    """One sentence on the boundaries: settled, with which tied layers, or which pairs are still open; with
    ``rule``, also the per-batch noise of the compared differences and the batches it takes to decide a pair half
    a tie margin apart (:meth:`StoppingRule.batches_to_decide`)."""
    if not checks:
        return 'the selection does not depend on the conflicts (mode random)'
    parts = []
    for mechanism, check in checks.items():
        name = mechanism.upper()
        if check.undecided:
            more = ' ...' if len(check.undecided) > 4 else ''
            part = f'{name} undecided between layers {check.undecided[:4]}{more}'
        elif check.tied:
            part = f'{name} separated except tied layers {check.tied}'
        else:
            part = f'{name} separated'
        if rule is not None and math.isfinite(check.difference_sd):
            part += (f' (per-batch SD of the differences {check.difference_sd:.4f}: a pair half a tie margin apart '
                     f'needs {rule.batches_to_decide(check.difference_sd)} batches)')
        parts.append(part)
    return '; '.join(parts)
