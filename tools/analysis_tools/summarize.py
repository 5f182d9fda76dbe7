"""Results of several runs as one markdown table, like the paper's Table 1.

    python tools/analysis_tools/summarize.py work_dirs/A work_dirs/B ... [--st-reference REF ...]
        [--reference-row NAME] [--metrics KEY ...] [--names NAME ...] [--no-flops] [--shape H W] [--out FILE.md]

One row per work dir (or metrics JSON): the main metric of every task (semseg mIoU ↑, depth RMSE ↓, normals mean ↓,
edge odsF / pixel_odsF ↑, human parts mIoU ↑, saliency maxF ↑; ``--metrics`` picks other 'task/metric' keys), Δm,
and the parameters (M) and FLOPs (G, multiply-adds) of the model built from the run's dumped config at its test
size (a DTME run is expanded with the work dir's ``dtme_plan.json``).

Metrics come from the work dir's newest ``test_<timestamp>/test_metrics.json`` (``tools/test.py``), else its newest
test log, else its last validation (see :func:`mmdtme.evaluation.delta_m.find_run_metrics`); the table's footnotes
name each file.

Δm is recomputed over the table's metric columns against ``--st-reference`` (ST work dirs / JSONs, each giving the
main metrics it has, or ``task=PATH`` for one task), or against the row named by ``--reference-row``; without either
it is the ``delta_m`` the run logged (its config's ``st_reference``), if any.
"""
import argparse
import glob
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence, Tuple

from mmengine.config import Config

from mmdtme.evaluation import delta_m
from mmdtme.evaluation.delta_m import collect_st_reference, find_run_metrics, main_metric
from mmdtme.structures import LOWER_IS_BETTER, TASK_SPECS


def run_name(path: str) -> str:
    """``work_dirs/baseline/vitt_synth`` -> ``baseline/vitt_synth``; otherwise the last path component."""
    parts = osp.normpath(path).split(osp.sep)
    if 'work_dirs' in parts[:-1]:
        return '/'.join(parts[len(parts) - parts[::-1].index('work_dirs'):])
    return osp.splitext(parts[-1])[0]


def run_config(work_dir: str, metrics_source: str) -> Optional[str]:
    """The config dumped by the run that wrote ``metrics_source``, else the newest one of the work dir."""
    run_dir = osp.dirname(metrics_source)
    if osp.basename(run_dir) == 'vis_data':
        run_dir = osp.dirname(run_dir)
    candidates = [osp.join(run_dir, 'vis_data', 'config.py')]
    candidates += sorted(glob.glob(osp.join(work_dir, '*', 'vis_data', 'config.py')), reverse=True)
    candidates += sorted(glob.glob(osp.join(work_dir, '*.py')))
    return next((path for path in candidates if osp.isfile(path)), None)


def metric_columns(rows: Sequence[Dict[str, float]], wanted: Optional[Sequence[str]] = None) -> List[str]:
    """The metric keys of the table: ``wanted``, or every task's main metric, tasks in task-table order."""
    if wanted:
        return list(wanted)
    tasks: List[str] = []
    for metrics in rows:
        for key in metrics:
            task = key.partition('/')[0]
            if '/' in key and task not in tasks:
                tasks.append(task)
    order = list(TASK_SPECS)
    tasks.sort(key=lambda task: (order.index(task) if task in order else len(order), task))
    columns = []
    for task in tasks:
        key = next((main_metric(task, metrics) for metrics in rows if main_metric(task, metrics)), None)
        if key is not None and key not in columns:
            columns.append(key)
    return columns


def parse_st_reference(entries: Sequence[str]) -> Dict[str, float]:
    """``--st-reference`` entries as ``{'task/metric': value}`` (see :func:`collect_st_reference`)."""
    try:
        return collect_st_reference(entries)
    except ValueError as error:
        raise SystemExit(str(error))


def row_delta_m(metrics: Dict[str, float], reference: Dict[str, float], columns: Sequence[str]) -> Optional[float]:
    """Δm of a row over the columns that it, the reference and ``LOWER_IS_BETTER`` all know (None if none)."""
    keys = [key for key in columns if key in metrics and key in reference and key in LOWER_IS_BETTER]
    if not keys:
        return None
    return delta_m(metrics, {key: reference[key] for key in keys}, LOWER_IS_BETTER)


def format_value(value: Optional[float]) -> str:
    if value is None:
        return '–'
    return f'{value:.2f}' if abs(value) >= 10 else f'{value:.3f}'


def complexity(work_dir: str, config: Optional[str], shape: Optional[Sequence[int]]) -> Tuple[str, str]:
    """(params M, FLOPs G) of the run's model as table cells; '–' and a warning when it cannot be built."""
    from mmdtme.utils.complexity import config_complexity, human
    if config is None:
        print(f'warning: {work_dir} has no dumped config; no params / FLOPs', file=sys.stderr)
        return '–', '–'
    plan = osp.join(work_dir, 'dtme_plan.json')
    try:
        cfg = Config.fromfile(config)
        # the plan applies to a DTME run only (a work dir reused by an MT run may still hold one)
        is_dtme = cfg.model.get('backbone', {}).get('type') == 'DTMEViT'
        result = config_complexity(cfg, shape, plan if is_dtme and osp.isfile(plan) else None)
    except Exception as error:  # a config of another code version: keep the metrics, say why
        print(
            f'warning: cannot build the model of {config} ({type(error).__name__}: {error}); no params / FLOPs',
            file=sys.stderr)
        return '–', '–'
    suffix = '_expanded' if 'flops_expanded' in result else ''
    return human(result['params' + suffix], 1e6), human(result['flops' + suffix], 1e9)


def summarize(paths: Sequence[str],
              names: Optional[Sequence[str]] = None,
              st_reference: Sequence[str] = (),
              reference_row: Optional[str] = None,
              metrics: Optional[Sequence[str]] = None,
              flops: bool = True,
              shape: Optional[Sequence[int]] = None) -> str:
    """The markdown table (and its footnotes) of the runs at ``paths``; see the module docstring."""
    if names and len(names) != len(paths):
        raise SystemExit(f'--names gives {len(names)} names for {len(paths)} runs')
    names = list(names) if names else [run_name(path) for path in paths]
    runs = [find_run_metrics(path) for path in paths]
    columns = metric_columns([run_metrics for run_metrics, _ in runs], metrics)
    if st_reference and reference_row:
        raise SystemExit('give --st-reference or --reference-row, not both')
    reference = parse_st_reference(st_reference) if st_reference else None
    if reference_row is not None:
        if reference_row not in names:
            raise SystemExit(f'--reference-row {reference_row!r} is not a row; rows are {names}')
        reference = runs[names.index(reference_row)][0]

    def arrow(key: str) -> str:
        return {True: ' ↓', False: ' ↑'}.get(LOWER_IS_BETTER.get(key), '')

    header = ['run'] + [f'{key.replace("/", " ")}{arrow(key)}' for key in columns] + ['Δm (%) ↑']
    if flops:
        header += ['params (M)', 'FLOPs (G)']
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    for name, path, (run_metrics, source) in zip(names, paths, runs):
        cells = [name] + [format_value(run_metrics.get(key)) for key in columns]
        value = row_delta_m(run_metrics, reference, columns) if reference is not None else run_metrics.get('delta_m')
        cells.append('–' if value is None else f'{value:+.2f}')
        if flops:
            cells += complexity(path, run_config(path, source) if osp.isdir(path) else None, shape)
        lines.append('| ' + ' | '.join(cells) + ' |')
    lines.append('')
    if reference is None:
        lines.append('Δm: as logged by each run (its config\'s st_reference).')
    else:
        used = [key for key in columns if key in reference and key in LOWER_IS_BETTER]
        against = f'row {reference_row}' if reference_row else 'the single-task references'
        lines.append(f'Δm: against {against}: ' + ', '.join(f'{key} = {format_value(reference[key])}' for key in used))
    lines += [f'- {name}: {source}' for name, (_, source) in zip(names, runs)]
    return '\n'.join(lines)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Summarize runs as a markdown table (metrics, Δm, params, FLOPs)')
    parser.add_argument('runs', nargs='+', help='work dirs or metrics JSON files')
    parser.add_argument('--names', nargs='+', help='row names (default: the work dir below work_dirs/)')
    parser.add_argument(
        '--st-reference',
        nargs='+',
        default=(),
        metavar='REF',
        help='single-task runs for Δm: work dirs / metrics JSONs, or task=PATH')
    parser.add_argument('--reference-row', help='compute Δm against this row instead')
    parser.add_argument('--metrics', nargs='+', help="metric columns ('task/metric'; default: each task's main one)")
    parser.add_argument('--no-flops', action='store_true', help='skip params / FLOPs (no model is built)')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'), help='FLOPs input size')
    parser.add_argument('--out', help='also write the table to this markdown file')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    try:
        table = summarize(args.runs, args.names, args.st_reference, args.reference_row, args.metrics, not args.no_flops,
                          args.shape)
    except (FileNotFoundError, KeyError, ValueError) as error:
        raise SystemExit(str(error))
    print(table)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(table + '\n')


if __name__ == '__main__':
    main()
