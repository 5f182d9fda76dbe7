"""Write the single-task references of Δm to a JSON file that configs can name as ``st_reference``.

    python tools/analysis_tools/st_reference.py work_dirs/baseline/vitt_synth_st_{semseg,depth,normals,edge} \\
        --out docs/results/synthetic_demo_st_reference.json

Each argument is an ST run (its work dir or a metrics JSON), as ``PATH`` (the main metric of every task it
reports) or ``task=PATH`` / ``task/metric=PATH``. The file holds ``metrics`` (``{"task/metric": value}``) and, for
each metric, the file it was read from. An existing file is not replaced unless ``--force`` is given.
"""
import argparse
import json
import os
import os.path as osp

from mmdtme.evaluation.delta_m import collect_st_reference, find_run_metrics


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Write single-task references for Δm from finished ST runs')
    parser.add_argument('runs', nargs='+', help='ST work dirs or metrics JSONs: PATH, task=PATH or task/metric=PATH')
    parser.add_argument('--out', required=True, help='JSON file to write')
    parser.add_argument('--force', action='store_true', help='replace an existing --out file')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if osp.exists(args.out) and not args.force:
        raise SystemExit(f'{args.out} exists; pass --force to replace it')
    try:
        metrics = collect_st_reference(args.runs)
    except (FileNotFoundError, KeyError, ValueError) as error:
        raise SystemExit(f'error: {error}')
    sources = {}
    for entry in args.runs:
        path = entry.partition('=')[2] if '=' in entry and not osp.exists(entry) else entry
        found, source = find_run_metrics(path)
        sources.update({key: source for key in metrics if key in found and key not in sources})
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    with open(args.out, 'w', encoding='utf-8') as f:
        json.dump(dict(metrics=metrics, sources=sources), f, indent=2)
        f.write('\n')
    print(f'{args.out}: ' + ', '.join(f'{key} = {value:.4g}' for key, value in metrics.items()))


if __name__ == '__main__':
    main()
