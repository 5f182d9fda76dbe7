import pytest

from mmdtme.dtme import num_selected, select_layers

# 6 layers: range scores peak at 1, 4, 5; null scores peak at 0, 2, 3.
RANGE = [0.10, 0.90, 0.20, 0.30, 0.80, 0.70]
NULL = [0.60, 0.05, 0.90, 0.50, 0.10, 0.20]


def test_conflict_mode_takes_the_highest_scores():
    assert select_layers(RANGE, NULL, ratio=0.5) == ([1, 4, 5], [0, 2, 3])
    assert select_layers(RANGE, NULL, ratio=0.25) == ([1, 4], [0, 2])  # ceil(1.5) = 2


def test_a_layer_may_get_both():
    assert select_layers([0.9, 0.1, 0.2], [0.8, 0.3, 0.1], ratio=0.3) == ([0], [0])


def test_reverse_mode_takes_the_lowest_scores():
    assert select_layers(RANGE, NULL, ratio=0.5, mode='reverse') == ([0, 2, 3], [1, 4, 5])


def test_swap_exchanges_the_conflict_sets():
    tm, te = select_layers(RANGE, NULL, ratio=0.5, mode='conflict')
    assert select_layers(RANGE, NULL, ratio=0.5, mode='swap') == (te, tm)


def test_random_mode_is_seeded_with_the_right_counts():
    L = 24
    scores = [0.0] * L
    first = select_layers(scores, scores, ratio=0.25, mode='random', seed=3)
    assert first == select_layers(scores, scores, ratio=0.25, mode='random', seed=3)
    assert first != select_layers(scores, scores, ratio=0.25, mode='random', seed=4)
    tm, te = first
    assert len(tm) == len(te) == 6 and len(set(tm)) == 6 and len(set(te)) == 6
    assert tm == sorted(tm) and all(0 <= layer < L for layer in tm + te)
    assert tm != te  # independent draws


def test_variants():
    assert select_layers(RANGE, NULL, ratio=0.5, variant='tm') == ([1, 4, 5], [])
    assert select_layers(RANGE, NULL, ratio=0.5, variant='te') == ([], [0, 2, 3])
    assert select_layers(RANGE, NULL, ratio=0.5, mode='swap', variant='tm') == ([0, 2, 3], [])


def test_ratio_rounds_up_without_float_noise():
    assert [num_selected(ratio, 10) for ratio in (0.3, 0.7, 0.25, 0.01, 1.0)] == [3, 7, 3, 1, 10]
    assert num_selected(0.55, 100) == 55  # 0.55 * 100 = 55.00000000000001
    assert len(select_layers([0.0] * 100, [0.0] * 100, ratio=0.55)[0]) == 55
    assert len(select_layers([0.0] * 12, [0.0] * 12, ratio=0.5)[1]) == 6


def test_ties_go_to_the_lower_layer():
    assert select_layers([0.5, 0.7, 0.5, 0.5], [0.1, 0.1, 0.1, 0.1], ratio=0.5) == ([0, 1], [0, 1])
    assert select_layers([0.5, 0.7, 0.5, 0.5], [0.1, 0.1, 0.1, 0.1], ratio=0.5, mode='reverse') == ([0, 2], [0, 1])


def test_selection_errors():
    with pytest.raises(ValueError, match=r'ratio must be in \(0, 1\], got 0'):
        select_layers(RANGE, NULL, ratio=0)
    with pytest.raises(ValueError, match='got 1.5'):
        select_layers(RANGE, NULL, ratio=1.5)
    with pytest.raises(ValueError, match="mode must be one of .* got 'best'"):
        select_layers(RANGE, NULL, mode='best')
    with pytest.raises(ValueError, match="variant must be one of .* got 'both'"):
        select_layers(RANGE, NULL, variant='both')
    with pytest.raises(ValueError, match='6 range scores but 5 null scores'):
        select_layers(RANGE, NULL[:5])
    with pytest.raises(ValueError, match=r'range scores of layers \[1\] are not finite'):
        select_layers([0.1, float('nan')], [0.1, 0.2])
