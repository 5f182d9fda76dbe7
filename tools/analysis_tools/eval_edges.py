"""BSDS-style odsF / oisF / AP of a folder of predicted edge maps against a folder of ground-truth edge maps.

    python tools/analysis_tools/eval_edges.py PRED_DIR GT_DIR [--max-dist 0.011] [--thresholds seism|K|t1,t2,...]
        [--mode exact|fast] [--gt-format binary|labels] [--gt-mode seism|as_is] [--workers N] [--out FILE.json]

Predictions are grey PNGs (``uint8(255 * sigmoid)``, as InvPT / ATRC save them, or 16-bit), matched to GT PNGs by
file name (stem); a prediction without a GT, or a GT without a prediction, stops the run with the names.
``--max-dist``: 0.011 for NYUD-v2, 0.0075 for PASCAL-Context (fraction of the image diagonal).
See ``mmdtme/evaluation/edge_eval.py`` for how the numbers relate to SEISM.
"""
import argparse
import glob
import json
import os
import os.path as osp
import time
from functools import partial

from mmdtme.evaluation.edge_eval import edge_eval_summary, evaluate_edges, load_edge_pngs, make_thresholds


def parse_thresholds(text: str):
    """'seism' -> SEISM's 101 thresholds; 'K' -> K evenly spaced; 't1,t2,...' -> those."""
    if text == 'seism':
        return None
    if ',' not in text and text.isdigit():
        return int(text)
    try:
        return [float(value) for value in text.split(',')]
    except ValueError:
        raise argparse.ArgumentTypeError(f"--thresholds takes 'seism', a count or a comma list, got {text!r}")


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='BSDS-style edge evaluation (odsF / oisF / AP) of PNG folders')
    parser.add_argument('pred_dir', help='folder of predicted edge PNGs')
    parser.add_argument('gt_dir', help='folder of ground-truth edge PNGs (same file names)')
    parser.add_argument(
        '--max-dist',
        type=float,
        default=0.011,
        help='match radius / image diagonal: 0.011 NYUD-v2, 0.0075 PASCAL-Context (default: 0.011)')
    parser.add_argument(
        '--thresholds',
        type=parse_thresholds,
        default=None,
        help="'seism' (default: SEISM's 101), a count K, or a comma-separated list")
    parser.add_argument(
        '--mode',
        choices=('exact', 'fast'),
        default='exact',
        help='exact: thinning + one-to-one matching (BSDS); fast: approximate (default: exact)')
    parser.add_argument(
        '--gt-format',
        choices=('binary', 'labels'),
        default='binary',
        help='binary: non-zero = edge (NYUD edge/*.png); labels: 0/1 with --ignore-index unlabelled')
    parser.add_argument('--ignore-index', type=int, default=255, help='unlabelled GT value for --gt-format labels')
    parser.add_argument(
        '--gt-mode',
        choices=('seism', 'as_is'),
        default='seism',
        help="seism: thin(seg2bmap(gt)) as SEISM does; as_is: GT edge pixels unchanged")
    parser.add_argument('--workers', type=int, default=1, help='processes (default: 1)')
    parser.add_argument('--out', help='JSON file for the results (default: PRED_DIR/edge_eval.json)')
    return parser.parse_args(argv)


def matched_pairs(pred_dir: str, gt_dir: str):

    def by_stem(directory):
        files = sorted(glob.glob(osp.join(directory, '*.png')))
        return {osp.splitext(osp.basename(f))[0]: f for f in files}

    preds, gts = by_stem(pred_dir), by_stem(gt_dir)
    if not preds:
        raise SystemExit(f'no PNG predictions in {pred_dir}')
    missing_gt = sorted(set(preds) - set(gts))
    missing_pred = sorted(set(gts) - set(preds))
    if missing_gt or missing_pred:
        raise SystemExit(f'pred and GT folders do not match: {len(missing_gt)} predictions without GT '
                         f'{missing_gt[:5]}, {len(missing_pred)} GTs without prediction {missing_pred[:5]}')
    names = sorted(preds)
    return names, [(preds[name], gts[name]) for name in names]


def main(argv=None) -> dict:
    args = parse_args(argv)
    names, pairs = matched_pairs(args.pred_dir, args.gt_dir)
    ignore_index = args.ignore_index if args.gt_format == 'labels' else None
    thresholds = make_thresholds(args.thresholds)
    start = time.perf_counter()
    stats = evaluate_edges(
        pairs,
        thresholds=thresholds,
        max_dist=args.max_dist,
        mode=args.mode,
        ignore_index=ignore_index,
        gt_mode=args.gt_mode,
        load_fn=partial(load_edge_pngs, gt_format=args.gt_format, ignore_index=ignore_index),
        workers=args.workers)
    summary = edge_eval_summary(stats, thresholds)
    seconds = time.perf_counter() - start
    print(f"odsF {summary['odsF']:.2f}  oisF {summary['oisF']:.2f}  AP {summary['AP']:.2f}  "
          f"(ODS threshold {summary['threshold']:.3f}, P {summary['odsP']:.2f}, R {summary['odsR']:.2f}; "
          f'{len(names)} images, mode {args.mode}, max_dist {args.max_dist}, {seconds:.1f} s)')
    result = dict(
        summary,
        images=len(names),
        mode=args.mode,
        max_dist=args.max_dist,
        gt_mode=args.gt_mode,
        thresholds=[float(t) for t in thresholds],
        seconds=seconds,
        per_image={
            name: {
                key: value.tolist()
                for key, value in s.items()
            }
            for name, s in zip(names, stats)
        })
    out = args.out or osp.join(args.pred_dir, 'edge_eval.json')
    os.makedirs(osp.dirname(osp.abspath(out)), exist_ok=True)
    with open(out, 'w') as f:
        json.dump(result, f, indent=1)
    print(f'wrote {out}')
    return result


if __name__ == '__main__':
    main()
