"""Time mmdtme's BSDS-style edge evaluator against pyEdgeEval, in one process, on the same synthetic images.

    python tools/analysis_tools/benchmark_edge_eval.py [--height 425 --width 560] [--compare-images 3]
        [--compare-thresholds 9] [--timing-images 5] [--thresholds 99] [--max-dist 0.011] [--out FILE.json]

Prints and (with --out) writes:
- per image-threshold seconds of our exact mode and of pyEdgeEval 0.2.8 (``evaluate_boundaries_threshold``: thinning
  + correspondPixels, no NMS), on ``--compare-images`` images × ``--compare-thresholds`` thresholds, and their ratio;
- agreement: odsF / oisF computed (by our summary, no interpolation) from both tools' counts, their difference,
  and pyEdgeEval's own interpolated ODS;
- our time per 100 images of HEIGHT×WIDTH with ``--thresholds`` thresholds, exact and fast mode, one process,
  measured on ``--timing-images`` images and scaled to 100.
pyEdgeEval is optional (GPL-2.0 matcher): without it only our timings are printed.
Both tools get the same GT boundary (``gt_mode='as_is'`` on 1-pixel lines) and continuous probabilities, so
pyEdgeEval's ``>=`` and our ``>`` select the same pixels.
"""
import argparse
import json
import platform
import time
from typing import Tuple

import numpy as np
from scipy import ndimage

from mmdtme.evaluation.edge_eval import edge_eval_stats, edge_eval_summary, make_thresholds


def _random_segments(rng: np.random.Generator, height: int, width: int, count: int) -> np.ndarray:
    canvas = np.zeros((height, width), np.uint8)
    for _ in range(count):
        y0, y1 = rng.integers(0, height, 2)
        x0, x1 = rng.integers(0, width, 2)
        n = max(abs(y1 - y0), abs(x1 - x0)) + 1
        canvas[np.linspace(y0, y1, n).round().astype(int), np.linspace(x0, x1, n).round().astype(int)] = 1
    return canvas


def synthetic_edge_pair(rng: np.random.Generator,
                        height: int,
                        width: int,
                        lines: int = 25) -> Tuple[np.ndarray, np.ndarray]:
    """A GT of random 1-pixel segments and a network-like prediction: part of the GT (shifted by up to a pixel)
    and some false segments, blurred, with varying strength, smooth background clutter and pixel noise."""
    gt = _random_segments(rng, height, width, lines)
    kept = gt * (ndimage.gaussian_filter(rng.random((height, width)), 4) > 0.5)
    shifted = np.roll(kept, tuple(rng.integers(-1, 2, 2)), axis=(0, 1)).astype(float)
    strength = 0.3 + 0.7 * ndimage.gaussian_filter(rng.random((height, width)), 6) * 2
    false_edges = 0.6 * _random_segments(rng, height, width, lines // 3)
    prob = ndimage.gaussian_filter((shifted + false_edges) * strength, 1.5) * 4
    clutter = ndimage.gaussian_filter(rng.random((height, width)), 4)
    prob += np.clip((clutter - 0.5) * 8, 0, 1) * 0.6 + 0.08 * rng.random((height, width))
    return np.clip(prob, 0.0, 1.0), gt


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='edge evaluator speed and agreement vs pyEdgeEval')
    parser.add_argument('--height', type=int, default=425)
    parser.add_argument('--width', type=int, default=560)
    parser.add_argument('--max-dist', type=float, default=0.011)
    parser.add_argument('--compare-images', type=int, default=3, help='images timed with both tools')
    parser.add_argument('--compare-thresholds', type=int, default=9, help='thresholds timed with both tools')
    parser.add_argument('--timing-images', type=int, default=5, help='images for the per-100-images timing')
    parser.add_argument('--thresholds', type=int, default=99, help='thresholds for the per-100-images timing')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--out', help='write the results to this JSON file')
    return parser.parse_args()


def main() -> dict:
    args = parse_args()
    rng = np.random.default_rng(args.seed)
    H, W = args.height, args.width
    result = dict(size=[H, W], max_dist=args.max_dist, machine=platform.processor() or platform.machine())

    compare = [synthetic_edge_pair(rng, H, W) for _ in range(args.compare_images)]
    thresholds = make_thresholds(args.compare_thresholds)
    start = time.perf_counter()
    ours = [edge_eval_stats(p, g, thresholds, args.max_dist, gt_mode='as_is') for p, g in compare]
    ours_s = (time.perf_counter() - start) / (len(compare) * len(thresholds))
    ours_summary = edge_eval_summary(ours, thresholds)
    result.update(
        compare_images=len(compare),
        compare_thresholds=len(thresholds),
        ours_s_per_image_threshold=ours_s,
        ours_odsF=ours_summary['odsF'],
        ours_oisF=ours_summary['oisF'])
    print(f'ours (exact): {ours_s * 1e3:.1f} ms per image-threshold, odsF {ours_summary["odsF"]:.3f}, '
          f'oisF {ours_summary["oisF"]:.3f}')
    try:
        from pyEdgeEval.common.binary_label.evaluate_boundaries import evaluate_boundaries_threshold
    except ImportError as error:
        print(f'pyEdgeEval not importable ({error}): no comparison (pip install pyEdgeEval==0.2.8)')
        evaluate_boundaries_threshold = None
    if evaluate_boundaries_threshold is not None:
        from pyEdgeEval.common.metrics import interpolated_max_scores
        start = time.perf_counter()
        theirs = []
        for prob, gt in compare:
            counts = evaluate_boundaries_threshold(
                thresholds, prob, gt.astype(bool), max_dist=args.max_dist, apply_thinning=True, apply_nms=False)
            theirs.append(dict(zip(('cntR', 'sumR', 'cntP', 'sumP'), (np.asarray(c) for c in counts))))
        theirs_s = (time.perf_counter() - start) / (len(compare) * len(thresholds))
        theirs_summary = edge_eval_summary(theirs, thresholds)
        pooled = {key: sum(s[key] for s in theirs) for key in ('cntR', 'sumR', 'cntP', 'sumP')}
        recall = pooled['cntR'] / np.maximum(pooled['sumR'], 1)
        precision = pooled['cntP'] / np.maximum(pooled['sumP'], 1)
        interpolated = interpolated_max_scores(thresholds, recall, precision)[3]
        result.update(
            pyedgeeval_s_per_image_threshold=theirs_s,
            speed_ratio=theirs_s / ours_s,
            pyedgeeval_odsF=theirs_summary['odsF'],
            pyedgeeval_oisF=theirs_summary['oisF'],
            pyedgeeval_interpolated_odsF=100.0 * float(interpolated),
            odsF_difference=ours_summary['odsF'] - theirs_summary['odsF'],
            oisF_difference=ours_summary['oisF'] - theirs_summary['oisF'])
        print(f'pyEdgeEval:   {theirs_s * 1e3:.1f} ms per image-threshold, odsF {theirs_summary["odsF"]:.3f} '
              f'(its interpolated ODS {100 * interpolated:.3f}), oisF {theirs_summary["oisF"]:.3f}')
        print(f'speed ratio pyEdgeEval / ours: {theirs_s / ours_s:.1f}x;  odsF difference '
              f'{result["odsF_difference"]:+.3f} points, oisF difference {result["oisF_difference"]:+.3f} points')

    timing = [synthetic_edge_pair(rng, H, W) for _ in range(args.timing_images)]
    for mode in ('exact', 'fast'):
        start = time.perf_counter()
        for prob, gt in timing:
            edge_eval_stats(prob, gt, args.thresholds, args.max_dist, mode=mode, gt_mode='as_is')
        per_100 = (time.perf_counter() - start) / len(timing) * 100
        result[f'{mode}_s_per_100_images'] = per_100
        print(f'{mode}: {per_100:.1f} s per 100 images of {H}x{W} with {args.thresholds} thresholds '
              f'(1 process, measured on {len(timing)} images)')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(result, f, indent=1)
        print(f'wrote {args.out}')
    return result


if __name__ == '__main__':
    main()
