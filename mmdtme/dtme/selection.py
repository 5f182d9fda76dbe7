"""Which layers get Token Modulation and Token Expansion (DTME-MTL §3.3, docs/design.md §1.3)."""
import math
from typing import List, Sequence, Tuple

import torch

MODES = ('conflict', 'reverse', 'random', 'swap')
VARIANTS = ('tm', 'te', 'tm+te')


def num_selected(ratio: float, num_layers: int) -> int:
    """⌈ratio · L⌉, robust to float noise (0.3 · 10 is 3, not 4), and at least 1."""
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f'ratio must be in (0, 1], got {ratio}')
    return max(1, math.ceil(round(ratio * num_layers, 9)))


def _top(scores: Sequence[float], n: int, highest: bool) -> List[int]:
    """Indices of the n highest (or lowest) scores; ties go to the lower layer index."""
    sign = -1.0 if highest else 1.0
    order = sorted(range(len(scores)), key=lambda layer: (sign * scores[layer], layer))
    return sorted(order[:n])


def _check_scores(name: str, scores: Sequence[float]) -> List[float]:
    values = [float(score) for score in scores]
    bad = [layer for layer, value in enumerate(values) if not math.isfinite(value)]
    if bad:
        raise ValueError(f'{name} scores of layers {bad} are not finite ({[values[b] for b in bad]}); '
                         'those layers received no conflict statistics')
    return values


def select_layers(range_scores: Sequence[float],
                  null_scores: Sequence[float],
                  ratio: float = 0.5,
                  mode: str = 'conflict',
                  variant: str = 'tm+te',
                  seed: int = 0) -> Tuple[List[int], List[int]]:
    """Choose the TM and TE layers from per-layer range / null conflict scores.

    n = ⌈ratio · L⌉ layers are chosen for each mechanism:

    - ``conflict``: TM on the n highest range scores, TE on the n highest null scores (a layer may get both);
    - ``reverse``: the same with the n lowest scores;
    - ``random``: n layers for TM and n for TE, drawn independently from a ``torch.Generator`` seeded with
      ``seed`` (the scores are only used for L);
    - ``swap``: TE on the layers ``conflict`` gives TM (highest range scores) and TM on those it gives TE.

    ``variant`` keeps TM only (``tm``), TE only (``te``) or both (``tm+te``). Ties go to the lower layer index.

    Args:
        range_scores: L range conflict scores.
        null_scores: L null conflict scores.
        ratio: ρ in (0, 1]. Default: 0.5.
        mode: One of ``conflict``, ``reverse``, ``random``, ``swap``. Default: ``conflict``.
        variant: One of ``tm``, ``te``, ``tm+te``. Default: ``tm+te``.
        seed: Seed of the ``random`` mode. Default: 0.

    Returns:
        ``(tm_layers, te_layers)``, each sorted.
    """
    if mode not in MODES:
        raise ValueError(f'mode must be one of {MODES}, got {mode!r}')
    if variant not in VARIANTS:
        raise ValueError(f'variant must be one of {VARIANTS}, got {variant!r}')
    L = len(range_scores)
    if L != len(null_scores):
        raise ValueError(f'got {L} range scores but {len(null_scores)} null scores; need one of each per layer')
    if L == 0:
        raise ValueError('no layer scores given')
    n = num_selected(ratio, L)
    if mode == 'random':
        generator = torch.Generator().manual_seed(seed)
        tm_layers = sorted(torch.randperm(L, generator=generator)[:n].tolist())
        te_layers = sorted(torch.randperm(L, generator=generator)[:n].tolist())
    else:
        range_values = _check_scores('range', range_scores)
        null_values = _check_scores('null', null_scores)
        highest = mode != 'reverse'
        tm_layers = _top(range_values, n, highest)
        te_layers = _top(null_values, n, highest)
        if mode == 'swap':
            tm_layers, te_layers = te_layers, tm_layers
    if variant == 'tm':
        te_layers = []
    elif variant == 'te':
        tm_layers = []
    return tm_layers, te_layers
