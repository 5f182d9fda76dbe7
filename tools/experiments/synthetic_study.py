"""Reproduce the paper's findings on the synthetic scenes: every row × seed, then a markdown report with plots.

    python tools/experiments/synthetic_study.py --out docs/results/synthetic          # ≈ 2 h on 2 CPU cores
    python tools/experiments/synthetic_study.py --out docs/results/synthetic --full   # GPU scale
    python tools/experiments/synthetic_study.py --regime pretrained --out docs/results/synthetic_pretrained

``--regime pretrained`` first pretrains the study's ViT on other scenes with another objective (study_pretrain.py,
cached in the work dir), then fine-tunes every row from it on a smaller target set; seeds default to 0-4 there.

Runs go to ``work_dirs/synthetic_study/<scale>/runs/<row>/seed<k>/`` (``--work-dir`` to change); a stopped
study resumes where it stopped. The report is ``<out>.md`` and its plots are in ``<out>/``.
"""
import argparse
import json
import os.path as osp

# study_runner and study_report sit next to this script (its folder is the first entry of sys.path)
from study_runner import (CPU_SCALE, FULL_SCALE, PRETRAINED_SCALE, REPO_ROOT, collect_results, run_one, run_study,
                          study_rows)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='DTME-MTL study on the synthetic scenes')
    parser.add_argument('--out', default='docs/results/synthetic', help='report path without .md; plots go there')
    parser.add_argument('--work-dir', help='where the runs go (default: work_dirs/synthetic_study/<scale>)')
    parser.add_argument(
        '--regime',
        choices=('scratch', 'pretrained'),
        default='scratch',
        help='scratch: every row from random weights; pretrained: every row fine-tunes a backbone pretrained here')
    parser.add_argument('--seeds', type=int, nargs='+', help='default: 0 1 2 (scratch), 0 1 2 3 4 (pretrained)')
    parser.add_argument('--pretrain-iters', type=int, help='override the pretraining iterations (smoke tests)')
    parser.add_argument('--rows', nargs='+', help='only these rows (names as in the report, e.g. "TM+TE")')
    parser.add_argument(
        '--groups', nargs='+', help='only these groups: st pretraining main selection ratio expand_iter mto')
    parser.add_argument('--full', action='store_true', help='GPU scale (ViT-Tiny, 96x128, 2000 iterations)')
    parser.add_argument('--max-iters', type=int, help='override the scale\'s iterations (smoke tests)')
    parser.add_argument('--jobs', type=int, default=2, help='runs side by side (one core each on the CPU)')
    parser.add_argument('--report-only', action='store_true', help='write the report from finished runs only')
    parser.add_argument('--run-one', help=argparse.SUPPRESS)
    parser.add_argument('--result', help=argparse.SUPPRESS)
    return parser.parse_args()


def runs_wall_time(work_dir: str, rows, seeds) -> float:
    """Seconds during which at least one finished run was running, each from its config to its result file: runs
    side by side count once, and a pause between two calls of the study (a stop, a resume later) not at all."""
    spans = []
    for row in rows:
        for seed in seeds:
            run_dir = osp.join(work_dir, 'runs', row.slug, f'seed{seed}')
            config, result = osp.join(run_dir, 'config.py'), osp.join(run_dir, 'result.json')
            if osp.isfile(result):
                spans.append((osp.getmtime(config), osp.getmtime(result)))
    total, covered_until = 0.0, float('-inf')
    for start, end in sorted(spans):
        total += max(0.0, end - max(start, covered_until))
        covered_until = max(covered_until, end)
    return total


def pretrain_seconds(weights: str) -> float:
    with open(osp.join(osp.dirname(weights), 'pretrain.json')) as f:
        return json.load(f)['seconds']


def main() -> None:
    args = parse_args()
    if args.run_one:
        run_one(args.run_one, args.result)
        return
    from dataclasses import replace

    from study_report import write_report

    if args.full and args.regime == 'pretrained':
        raise SystemExit('--full is the scratch regime at GPU scale; the pretrained regime has one (CPU) scale')
    scale = FULL_SCALE if args.full else PRETRAINED_SCALE if args.regime == 'pretrained' else CPU_SCALE
    seeds = args.seeds or ([0, 1, 2, 3, 4] if args.regime == 'pretrained' else [0, 1, 2])
    if args.max_iters:
        scale = replace(scale, max_iters=args.max_iters, warmup_iters=min(scale.warmup_iters, args.max_iters // 2))
    rows = study_rows(args.regime)
    if args.groups:
        rows = [row for row in rows if row.group in args.groups]
    if args.rows:
        names = [row.name for row in study_rows(args.regime)]
        unknown = set(args.rows) - set(names)
        if unknown:
            raise SystemExit(f'unknown rows {sorted(unknown)}; rows are {names}')
        rows = [row for row in rows if row.name in args.rows]
    if not rows:
        raise SystemExit('no rows selected')
    work_dir = args.work_dir or osp.join(REPO_ROOT, 'work_dirs', 'synthetic_study', scale.name)
    pretrained, pretraining = None, ''
    if args.regime == 'pretrained':
        from study_pretrain import PretrainSettings, pretrain_backbone
        settings = PretrainSettings()
        if args.pretrain_iters:
            settings = replace(settings, iters=args.pretrain_iters)
        pretrained = pretrain_backbone(scale, work_dir, settings)
        pretraining = (f' The backbone is pretrained first ({settings.iters} iterations of masked-patch '
                       f'reconstruction, {settings.mask_ratio:.0%} of the patches masked, batch {settings.batch_size}, '
                       f'AdamW lr {settings.lr}, on {settings.num_scenes} other scenes (seed {settings.seed}) with '
                       f'colour jitter {settings.colour_jitter}, in {pretrain_seconds(pretrained) / 60:.0f} min; '
                       f'`{osp.relpath(pretrained, work_dir)}` in the work dir); every row but the "from scratch" '
                       f'ones (lr {scale.scratch_lr}) fine-tunes it.')
    if args.report_only:
        results = collect_results(work_dir, rows, seeds)
    else:
        results = run_study(work_dir, rows, seeds, scale, jobs=args.jobs, pretrained=pretrained)
    height, width = scale.image_size
    origin = 'fine-tuned' if pretrained else 'from scratch'
    setting = (f'scale `{scale.name}`: ViT (embed {scale.embed_dim}, depth {scale.depth}, {scale.num_heads} heads, '
               f'patch {scale.patch_size}) {origin} on {scale.num_train} / {scale.num_val} synthetic scenes of '
               f'{height}×{width}, batch {scale.batch_size}, {scale.max_iters} iterations (Adam, lr {scale.lr}), '
               f'DTME analysis on {scale.analysis_batches} batches; seeds {seeds}.{pretraining}')
    span = runs_wall_time(work_dir, rows, seeds)
    if span:
        setting += f' Wall time of the runs: {span / 60:.0f} min (--jobs {args.jobs}; while at least one ran).'

    out = osp.abspath(args.out)
    write_report(out + '.md', out, results, rows, setting)
    print(f'report: {out}.md')


if __name__ == '__main__':
    main()
