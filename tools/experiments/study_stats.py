"""Paired statistics of the study: rows compared seed by seed, intervals, verdicts on the paper's claims, and the
stability of a layer selection.

Seed s of every row shares its data order and initialisation with seed s of every other row, so two rows are
compared on their per-seed differences: the mean difference with a two-sided Student-t interval over the seeds
(a paired t-test at the interval's level: the difference is significant when the interval excludes 0).
"""
import math
from typing import Dict, Iterable, Mapping, Optional, Sequence

from scipy import stats


def paired_interval(differences: Sequence[float], confidence: float = 0.95) -> Dict[str, float]:
    """Mean of the per-seed ``differences`` and its two-sided Student-t interval (n - 1 degrees of freedom).

    With one difference the interval is unbounded (nothing can be said about the spread).
    """
    n = len(differences)
    if n == 0:
        raise ValueError('no paired difference')
    mean = sum(differences) / n
    if n == 1:
        return dict(n=1, mean=mean, low=-math.inf, high=math.inf, sd=math.nan)
    sd = math.sqrt(sum((d - mean)**2 for d in differences) / (n - 1))
    half = stats.t.ppf(0.5 + confidence / 2, n - 1) * sd / math.sqrt(n)
    return dict(n=n, mean=mean, low=mean - half, high=mean + half, sd=sd)


def verdict(interval: Mapping[str, float], expected_sign: int = 1) -> str:
    """``reproduced`` when the interval lies on the paper's side of 0, ``not reproduced`` when it lies on the
    other side (it excludes the paper's sign), ``undecided`` when it contains 0."""
    low, high = interval['low'] * expected_sign, interval['high'] * expected_sign
    low, high = min(low, high), max(low, high)
    if low > 0:
        return 'reproduced'
    if high < 0:
        return 'not reproduced'
    return 'undecided'


def paired_differences(first: Mapping[int, float], second: Mapping[int, float]) -> list:
    """``first[s] - second[s]`` for the seeds both have, in seed order."""
    return [first[seed] - second[seed] for seed in sorted(set(first) & set(second))]


def jaccard(first: Iterable, second: Iterable) -> float:
    """|A ∩ B| / |A ∪ B| of two selections (1 for two empty ones)."""
    first, second = set(first), set(second)
    union = first | second
    return len(first & second) / len(union) if union else 1.0


def mean_pairwise_jaccard(selections: Sequence[Iterable]) -> Optional[float]:
    """Mean Jaccard overlap over all pairs of ``selections`` (e.g. the TE layers chosen by each seed)."""
    pairs = [(a, b) for i, a in enumerate(selections) for b in selections[i + 1:]]
    return sum(jaccard(a, b) for a, b in pairs) / len(pairs) if pairs else None


def expected_random_jaccard(total: int, chosen: int) -> float:
    """Mean Jaccard overlap of two independent uniform draws of ``chosen`` of ``total`` items: what a selection
    that carries no signal scores (the overlap size is hypergeometric)."""
    if chosen == 0:
        return 1.0
    overlaps = range(max(0, 2 * chosen - total), chosen + 1)
    return sum(
        stats.hypergeom.pmf(overlap, total, chosen, chosen) * overlap / (2 * chosen - overlap) for overlap in overlaps)


def spread(values: Sequence[float]) -> float:
    """Max - min, e.g. of the per-block conflict fractions: how much the blocks differ at all."""
    return max(values) - min(values)
