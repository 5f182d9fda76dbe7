"""BSDS-style edge evaluation: hand-computed cases, a brute-force matcher, pyEdgeEval agreement, the tool."""
import json
import math

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from mmdtme.evaluation import edge_eval
from mmdtme.evaluation.edge_eval import (edge_eval_stats, edge_eval_summary, evaluate_edges, gt_boundary,
                                         load_edge_pngs, make_thresholds, seg2bmap, thin_edges)

# 40×40 image: with max_dist 0.02 the radius is 0.02 * 56.57 = 1.13 px (a 1-pixel shift matches, 2 do not).
SIZE, MAX_DIST = 40, 0.02


def vertical_line(column: int, rows=slice(5, 35)) -> np.ndarray:
    gt = np.zeros((SIZE, SIZE), np.uint8)
    gt[rows, column] = 1
    return gt


def stats_of(prob, gt, thresholds=(0.5, ), **kwargs):
    kwargs = dict(dict(max_dist=MAX_DIST, gt_mode='as_is'), **kwargs)
    return {key: value.tolist() for key, value in edge_eval_stats(prob, gt, list(thresholds), **kwargs).items()}


def test_thinning_lookup_equals_skimage_on_random_maps():
    thin = pytest.importorskip('skimage.morphology').thin
    rng = np.random.default_rng(0)
    for _ in range(60):
        h, w = rng.integers(1, 30, 2)
        mask = ndimage.gaussian_filter(rng.random((h, w)), rng.uniform(0, 2)) > rng.uniform(0.3, 0.7)
        np.testing.assert_array_equal(thin_edges(mask), thin(mask))


def test_thinning_keeps_the_middle_of_a_bar_and_isolated_pixels():
    bar = np.zeros((9, 12), bool)
    bar[3:6, 1:11] = True
    thinned = thin_edges(bar)
    assert thinned[4, 2:10].all() and thinned.sum() == 8  # one row, the middle one, minus the two end pixels
    dots = np.zeros((5, 5), bool)
    dots[1, 1] = dots[3, 3] = True
    np.testing.assert_array_equal(thin_edges(dots), dots)


def test_perfect_prediction_scores_one():
    gt = vertical_line(10)
    assert stats_of(gt.astype(float), gt) == dict(cntR=[30], sumR=[30], cntP=[30], sumP=[30])
    summary = edge_eval_summary([edge_eval_stats(gt.astype(float), gt, [0.5], MAX_DIST, gt_mode='as_is')], [0.5])
    assert summary['odsF'] == summary['oisF'] == 100.0 and summary['threshold'] == 0.5


def test_shift_within_tolerance_matches_and_beyond_does_not():
    gt = vertical_line(10)
    assert stats_of(vertical_line(11).astype(float), gt)['cntR'] == [30]  # 1 px <= 1.13 px
    assert stats_of(vertical_line(12).astype(float), gt)['cntR'] == [0]  # 2 px > 1.13 px
    # a larger max_dist (radius 2.26 px) accepts the 2-pixel shift
    assert stats_of(vertical_line(12).astype(float), gt, max_dist=0.04)['cntR'] == [30]


def test_thick_prediction_is_thinned_before_matching():
    gt = vertical_line(10)
    band = np.zeros((SIZE, SIZE))
    band[5:35, 9:12] = 1.0  # 90 pixels, 3 wide
    # thinned to the middle column, 28 pixels (the ends shrink by one): precision 1, not 30 / 90
    assert stats_of(band, gt) == dict(cntR=[28], sumR=[30], cntP=[28], sumP=[28])


def test_matching_is_one_to_one():
    gt = np.zeros((SIZE, SIZE), np.uint8)
    gt[10, 10] = 1
    prob = np.zeros((SIZE, SIZE))
    prob[10, 9] = prob[10, 11] = 1.0  # both within 1 px of the single GT pixel
    stats = stats_of(prob, gt)
    assert stats == dict(cntR=[1], sumR=[1], cntP=[1], sumP=[2])
    summary = edge_eval_summary([edge_eval_stats(prob, gt, [0.5], MAX_DIST, gt_mode='as_is')], [0.5])
    assert math.isclose(summary['odsF'], 100 * 2 * 0.5 * 1.0 / 1.5)  # P = 1/2, R = 1
    # the fast mode's bound min(#GT near a prediction, #predictions near GT) = min(1, 2) gets this case right
    assert stats_of(prob, gt, mode='fast') == dict(cntR=[1], sumR=[1], cntP=[1], sumP=[2])


def test_ignore_label_removes_prediction_and_gt_pixels():
    gt = vertical_line(10)
    prob = vertical_line(10).astype(float)
    prob[20, 30] = 1.0  # a false positive ...
    assert stats_of(prob, gt) == dict(cntR=[30], sumR=[30], cntP=[30], sumP=[31])
    gt[15:40, 25:] = 255  # ... inside an unlabelled region (25 rows × 15 columns, away from the line)
    gt[30:35, 10] = 255  # and 5 unlabelled pixels of the line: their GT and predictions go
    assert stats_of(prob, gt) == dict(cntR=[25], sumR=[25], cntP=[25], sumP=[25])
    assert stats_of(prob, gt, ignore_index=None)['sumR'] == [25 + 5 + 25 * 15]  # 255 counts as edge without it


def _dots(points, shape=(60, 60), values=None):
    array = np.zeros(shape)
    for (y, x), value in zip(points, values if values is not None else [1] * len(points)):
        array[y, x] = value
    return array


def test_ods_and_ois_on_two_images_by_hand():
    grid = [(5 + 10 * (i // 5), 5 + 10 * (i % 5)) for i in range(25)]  # isolated pixels 10 px apart
    thresholds = [0.2, 0.5, 0.7]
    # image A: 4 GT pixels, 2 found at 0.9, 2 at 0.3, 2 false positives at 0.6 -> best at 0.2 (P 4/6, R 1, F .8)
    gt_a = _dots(grid[:4]).astype(np.uint8)
    prob_a = _dots(grid[:6], values=[0.9, 0.9, 0.3, 0.3, 0.6, 0.6])
    # image B: 4 GT pixels found at 0.9, 8 false positives at 0.3 -> best at 0.5 (F 1; 0.7 ties, the first wins)
    gt_b = _dots(grid[:4]).astype(np.uint8)
    prob_b = _dots(grid[:12], values=[0.9] * 4 + [0.3] * 8)
    stats = [edge_eval_stats(p, g, thresholds, 0.011, gt_mode='as_is') for p, g in ((prob_a, gt_a), (prob_b, gt_b))]
    assert {
        k: v.tolist()
        for k, v in stats[0].items()
    } == dict(
        cntR=[4, 2, 2], sumR=[4, 4, 4], cntP=[4, 2, 2], sumP=[6, 4, 2])
    summary = edge_eval_summary(stats, thresholds)
    # pooled: t=.2 P 8/18 R 1; t=.5 P 6/8 R 6/8; t=.7 P 6/6 R 6/8 -> ODS at 0.7, F = 2 * .75 / 1.75
    assert summary['threshold'] == 0.7
    assert math.isclose(summary['odsF'], 100 * 2 * 0.75 / 1.75)
    # OIS: A at 0.2 (4, 4, 4, 6) + B at 0.5 (4, 4, 4, 4): P 8/10, R 1
    assert math.isclose(summary['oisF'], 100 * 2 * 0.8 / 1.8)
    assert summary['oisF'] > summary['odsF']
    # AP (SEISM general_ap): recall levels .75 (first seen with P .75) and 1 (P 8/18), precision interpolated
    # linearly at recall .75, .76, ..., 1 and summed / 100
    grid = np.linspace(0.75, 1.0, 26)
    assert math.isclose(summary['AP'], 100 * np.interp(grid, [0.75, 1.0], [0.75, 8 / 18]).sum() / 100)


def test_seism_gt_mode_follows_seg2bmap_then_thinning():
    # seg2bmap marks a pixel whose east / south / south-east neighbour differs
    np.testing.assert_array_equal(seg2bmap(np.array([[0, 0, 1, 0, 0]] * 2)), [[0, 1, 1, 0, 0], [0, 1, 1, 0, 0]])
    line = gt_boundary(vertical_line(10), 'seism')
    assert line.sum() == 30 and np.unique(np.nonzero(line)[1]).tolist() == [9]  # one line, half a pixel over
    band = np.zeros((SIZE, SIZE), np.uint8)
    band[5:35, 9:12] = 1
    outlines = gt_boundary(band, 'seism')
    assert outlines[10].nonzero()[0].tolist() == [8, 11]  # a 3-pixel band becomes its two outlines
    with pytest.raises(ValueError, match='gt_mode'):
        gt_boundary(band, 'thick')


def _kuhn_matching_size(adjacency):
    """Reference maximum bipartite matching by simple augmenting paths (Kuhn), on a dict row -> columns."""
    match_of_col = {}

    def augment(row, seen):
        for col in adjacency[row]:
            if col not in seen:
                seen.add(col)
                if col not in match_of_col or augment(match_of_col[col], seen):
                    match_of_col[col] = row
                    return True
        return False

    return sum(augment(row, set()) for row in adjacency)


def test_exact_mode_equals_a_brute_force_matcher_on_random_maps():
    rng = np.random.default_rng(1)
    for trial in range(12):
        shape = tuple(rng.integers(8, 20, 2))
        prob = ndimage.gaussian_filter(rng.random(shape), 1.0)
        prob = (prob - prob.min()) / (prob.max() - prob.min())
        gt = (rng.random(shape) < 0.15).astype(np.uint8)
        max_dist = rng.uniform(0.05, 0.15)
        radius = max_dist * math.hypot(*shape)
        thresholds = [0.3, 0.5, 0.7]
        stats = edge_eval_stats(prob, gt, thresholds, max_dist, gt_mode='as_is')
        gt_points = np.argwhere(gt == 1)
        for k, t in enumerate(thresholds):
            pred_points = np.argwhere(thin_edges(prob > t))
            adjacency = {
                i: [j for j, q in enumerate(gt_points) if np.hypot(*(p - q)) <= radius]
                for i, p in enumerate(pred_points)
            }
            expected = _kuhn_matching_size(adjacency)
            assert stats['cntR'][k] == stats['cntP'][k] == expected, (trial, t)
            assert stats['sumP'][k] == len(pred_points) and stats['sumR'][k] == len(gt_points)


def _synthetic_pair(rng, height=96, width=128):
    gt = np.zeros((height, width), np.uint8)
    for _ in range(6):
        y0, y1 = rng.integers(0, height, 2)
        x0, x1 = rng.integers(0, width, 2)
        n = max(abs(y1 - y0), abs(x1 - x0)) + 1
        gt[np.linspace(y0, y1, n).round().astype(int), np.linspace(x0, x1, n).round().astype(int)] = 1
    kept = np.roll(gt * (ndimage.gaussian_filter(rng.random(gt.shape), 6) > 0.47), 1, axis=1).astype(float)
    prob = ndimage.gaussian_filter(kept, 1.2) * 4 + 0.3 * ndimage.gaussian_filter(rng.random(gt.shape), 3)
    return np.clip(prob + 0.05 * rng.random(gt.shape), 0, 1), gt


def test_agreement_with_pyedgeeval():
    module = pytest.importorskip('pyEdgeEval.common.binary_label.evaluate_boundaries')
    rng = np.random.default_rng(2)
    pairs = [_synthetic_pair(rng) for _ in range(2)]
    thresholds = np.array([0.15, 0.3, 0.45, 0.6, 0.75])
    ours = [edge_eval_stats(p, g, thresholds, 0.011, gt_mode='as_is') for p, g in pairs]
    theirs = []
    for prob, gt in pairs:
        counts = module.evaluate_boundaries_threshold(thresholds, prob, gt.astype(bool), max_dist=0.011)
        theirs.append(dict(zip(edge_eval.STAT_KEYS, (np.asarray(c) for c in counts))))
    for a, b in zip(ours, theirs):
        # pyEdgeEval's binary_thin stops when a second sub-iteration changes nothing, now and then leaving a pixel
        # that bwmorph / skimage (and we) delete; its CSA matcher now and then stops a match short of the maximum
        assert np.all(np.abs(a['sumP'] - b['sumP']) <= np.maximum(2, 0.002 * b['sumP']))
        assert np.all(np.abs(a['cntR'] - b['cntR']) <= np.maximum(2, 0.002 * b['cntR']))
    difference = edge_eval_summary(ours, thresholds)['odsF'] - edge_eval_summary(theirs, thresholds)['odsF']
    assert abs(difference) < 0.5  # points of %, i.e. 0.005 ODS


def test_fast_mode_uses_ridges_and_a_matching_bound():
    gt = vertical_line(10)
    band = np.zeros((SIZE, SIZE))
    band[5:35, 9:12] = 0.8  # a plateau 3 wide: one ridge pixel per row, plus one on its top end
    band[20, 30] = 0.6  # far from the GT
    stats = stats_of(band, gt, thresholds=(0.5, 0.7), mode='fast')
    assert stats == dict(cntR=[30, 30], sumR=[30, 30], cntP=[30, 30], sumP=[32, 31])
    # where the bound is not a matching: GT at x = 0, 10, 12 and predictions at x = -1, 1, 11 (radius 1.13):
    # every pixel has a partner within the radius (bound 3), but x = -1 and 1 compete for 0 and 11 serves one
    gt, prob = np.zeros((SIZE, SIZE), np.uint8), np.zeros((SIZE, SIZE))
    gt[20, [14, 24, 26]] = 1
    prob[20, [13, 15, 25]] = 1.0
    assert stats_of(prob, gt, mode='fast')['cntR'] == [3]
    assert stats_of(prob, gt)['cntR'] == [2]


def test_thresholds_and_bad_input():
    assert len(make_thresholds()) == 101 and make_thresholds()[0] == 0.001 and make_thresholds()[-1] == 0.999
    np.testing.assert_allclose(make_thresholds(99)[[0, 49, 98]], [0.01, 0.5, 0.99])
    with pytest.raises(ValueError, match='same shape'):
        edge_eval_stats(np.zeros((4, 5)), np.zeros((5, 4)))
    with pytest.raises(ValueError, match="'exact' or 'fast'"):
        edge_eval_stats(np.zeros((4, 4)), np.zeros((4, 4)), mode='nms')
    with pytest.raises(ValueError, match='thresholds'):
        edge_eval_summary([dict(cntR=[0], sumR=[0], cntP=[0], sumP=[0])], [0.1, 0.2])


def test_parallel_evaluation_of_png_folders_and_the_tool(tmp_path):
    import importlib.util
    import os.path as osp
    rng = np.random.default_rng(3)
    pred_dir, gt_dir = tmp_path / 'pred', tmp_path / 'gt'
    pred_dir.mkdir()
    gt_dir.mkdir()
    pairs = []
    for i in range(3):
        prob, gt = _synthetic_pair(rng, 48, 64)
        Image.fromarray((prob * 255).astype(np.uint8)).save(pred_dir / f'{i:03d}.png')
        Image.fromarray(gt * 255).save(gt_dir / f'{i:03d}.png')  # NYUD style: 255 = edge
        pairs.append((str(pred_dir / f'{i:03d}.png'), str(gt_dir / f'{i:03d}.png')))
    serial = evaluate_edges(pairs, thresholds=9, load_fn=load_edge_pngs, progress=False)
    parallel = evaluate_edges(pairs, thresholds=9, load_fn=load_edge_pngs, workers=2, progress=False)
    for a, b in zip(serial, parallel):
        for key in edge_eval.STAT_KEYS:
            np.testing.assert_array_equal(a[key], b[key])
    expected = edge_eval_summary(serial, 9)

    tool = osp.join(osp.dirname(__file__), '..', '..', 'tools', 'analysis_tools', 'eval_edges.py')
    spec = importlib.util.spec_from_file_location('eval_edges_tool', tool)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / 'result.json'
    module.main([str(pred_dir), str(gt_dir), '--thresholds', '9', '--out', str(out)])
    result = json.loads(out.read_text())
    assert math.isclose(result['odsF'], expected['odsF']) and math.isclose(result['oisF'], expected['oisF'])
    assert result['images'] == 3 and sorted(result['per_image']) == ['000', '001', '002']
    (gt_dir / '002.png').unlink()
    with pytest.raises(SystemExit, match='do not match'):
        module.main([str(pred_dir), str(gt_dir)])
