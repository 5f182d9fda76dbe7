"""Reproduce the paper's findings on the synthetic scenes: every row × seed, then a markdown report with plots.

    python tools/experiments/synthetic_study.py --out docs/results/synthetic          # ≈ 2 h on 2 CPU cores
    python tools/experiments/synthetic_study.py --out docs/results/synthetic --full   # GPU scale

Runs go to ``work_dirs/synthetic_study/<scale>/runs/<row>/seed<k>/`` (``--work-dir`` to change); a stopped
study resumes where it stopped. The report is ``<out>.md`` and its plots are in ``<out>/``.
"""
import argparse
import os.path as osp

# study_runner and study_report sit next to this script (its folder is the first entry of sys.path)
from study_runner import CPU_SCALE, FULL_SCALE, REPO_ROOT, collect_results, run_one, run_study, study_rows


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='DTME-MTL study on the synthetic scenes')
    parser.add_argument('--out', default='docs/results/synthetic', help='report path without .md; plots go there')
    parser.add_argument('--work-dir', help='where the runs go (default: work_dirs/synthetic_study/<scale>)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--rows', nargs='+', help='only these rows (names as in the report, e.g. "TM+TE")')
    parser.add_argument('--groups', nargs='+', help='only these groups: st main selection ratio expand_iter mto')
    parser.add_argument('--full', action='store_true', help='GPU scale (ViT-Tiny, 96x128, 2000 iterations)')
    parser.add_argument('--max-iters', type=int, help='override the scale\'s iterations (smoke tests)')
    parser.add_argument('--jobs', type=int, default=2, help='runs side by side (one core each on the CPU)')
    parser.add_argument('--report-only', action='store_true', help='write the report from finished runs only')
    parser.add_argument('--run-one', help=argparse.SUPPRESS)
    parser.add_argument('--result', help=argparse.SUPPRESS)
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.run_one:
        run_one(args.run_one, args.result)
        return
    from dataclasses import replace

    from study_report import write_report

    scale = FULL_SCALE if args.full else CPU_SCALE
    if args.max_iters:
        scale = replace(scale, max_iters=args.max_iters, warmup_iters=min(scale.warmup_iters, args.max_iters // 2))
    rows = study_rows()
    if args.groups:
        rows = [row for row in rows if row.group in args.groups]
    if args.rows:
        unknown = set(args.rows) - {row.name for row in study_rows()}
        if unknown:
            raise SystemExit(f'unknown rows {sorted(unknown)}; rows are {[row.name for row in study_rows()]}')
        rows = [row for row in rows if row.name in args.rows]
    if not rows:
        raise SystemExit('no rows selected')
    work_dir = args.work_dir or osp.join(REPO_ROOT, 'work_dirs', 'synthetic_study', scale.name)
    if args.report_only:
        results = collect_results(work_dir, rows, args.seeds)
    else:
        results = run_study(work_dir, rows, args.seeds, scale, jobs=args.jobs)
    height, width = scale.image_size
    setting = (f'scale `{scale.name}`: ViT (embed {scale.embed_dim}, depth {scale.depth}, {scale.num_heads} heads, '
               f'patch {scale.patch_size}) from scratch on {scale.num_train} / {scale.num_val} synthetic scenes of '
               f'{height}×{width}, batch {scale.batch_size}, {scale.max_iters} iterations (Adam, lr {scale.lr}), '
               f'DTME analysis on {scale.analysis_batches} batches; seeds {args.seeds}.')
    out = osp.abspath(args.out)
    write_report(out + '.md', out, results, rows, setting)
    print(f'report: {out}.md')


if __name__ == '__main__':
    main()
