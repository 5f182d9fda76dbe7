"""The GPU check: DTME's costs and a short AMP run on the ViT-B / NYUD geometry, in one JSON.

    python tools/gpu_check.py [--out work_dirs/gpu_check] [--config configs/dtme/vitb_nyud.py] [--iters 30]

On a machine with CUDA (about 10 minutes on a current card), in ``--out``:

1. renders synthetic scenes in the NYUD-MT frame (425x560, padded to the config's 448x576 crop) to ``scenes/``;
2. runs ``tools/benchmark.py`` on the config with them (analysis / floor, the adaptive analysis, float64 share, DTME /
   MT step and inference ratios, peak memory, saved-for-backward bytes);
3. trains ``--iters`` iterations of the config with ``--amp``, expanding with DTME at a third of them, so AMP steps run
   before and after the expansion, and logs every iteration;
4. evaluates the last checkpoint with ``tools/test.py``;

and writes ``gpu_check.json``: the card, every benchmark figure, the AMP loss of each iteration (and whether all are
finite), the training's peak memory, the test metrics, and each step's wall time. A step that fails stops the check
with its command and the tail of its output; the JSON keeps what the earlier steps measured. Nothing is overwritten:
each check writes into a new ``--out`` folder (``--force`` replaces it).
"""
import argparse
import json
import os
import os.path as osp
import shutil
import subprocess
import sys
import time
from typing import Dict, List

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
SCENE_SIZE = (425, 560)  # the NYUD-MT frame: the config's pipeline pads it to 448x576 as it does NYUD-v2


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='DTME on a GPU: benchmark, a short AMP run and its evaluation')
    parser.add_argument('--out', default='work_dirs/gpu_check', help='output folder (default: %(default)s)')
    parser.add_argument('--config', default='configs/dtme/vitb_nyud.py', help='a DTME config (default: %(default)s)')
    parser.add_argument('--iters', type=int, default=30, help='AMP training iterations (default: %(default)s)')
    parser.add_argument('--scenes', type=int, default=24, help='training scenes to render (default: %(default)s)')
    parser.add_argument('--force', action='store_true', help='replace an existing --out folder')
    return parser.parse_args()


def run(name: str, command: List[str], log_dir: str, results: Dict, out_file: str) -> None:
    """Run one step; record its wall time; on failure write what was measured and stop with the command."""
    print(f'[gpu_check] {name}: {" ".join(command)}', flush=True)
    start = time.perf_counter()
    with open(osp.join(log_dir, f'{name}.log'), 'w') as log:
        code = subprocess.call(command, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
    results.setdefault('wall_s', {})[name] = round(time.perf_counter() - start, 1)
    if code != 0:
        results['failed'] = dict(step=name, command=' '.join(command), returncode=code)
        write(results, out_file)
        with open(osp.join(log_dir, f'{name}.log')) as log:
            tail = log.read()[-3000:]
        raise SystemExit(f'[gpu_check] {name} failed (exit {code}): {" ".join(command)}\n{tail}')


def write(results: Dict, path: str) -> None:
    with open(path, 'w') as f:
        json.dump(results, f, indent=2)


def training_scalars(work_dir: str) -> List[Dict]:
    """The per-iteration records of mmengine's LocalVisBackend (``<timestamp>/vis_data/scalars.json``)."""
    runs = sorted(d for d in os.listdir(work_dir) if osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json')))
    if not runs:
        return []
    with open(osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')) as f:
        return [json.loads(line) for line in f if line.strip()]


def main() -> None:
    args = parse_args()
    import torch
    if not torch.cuda.is_available():
        raise SystemExit('tools/gpu_check.py needs a CUDA GPU (torch.cuda.is_available() is False); on a CPU run '
                         'tools/benchmark.py and the test suite instead')
    out = osp.abspath(args.out)
    if osp.exists(out):
        if not args.force:
            raise SystemExit(f'{out} exists: give another --out, or --force to replace it')
        shutil.rmtree(out)
    os.makedirs(out)
    out_file = osp.join(out, 'gpu_check.json')
    scenes, train_dir = osp.join(out, 'scenes'), osp.join(out, 'train')
    results: Dict = dict(
        card=torch.cuda.get_device_name(),
        capability=list(torch.cuda.get_device_capability()),
        torch=torch.__version__,
        cuda=torch.version.cuda,
        config=args.config,
        iters=args.iters)
    python = sys.executable
    run('generate', [
        python, 'tools/generate_synthetic.py', '--out', scenes, '--num-train',
        str(args.scenes), '--num-val', '4', '--height',
        str(SCENE_SIZE[0]), '--width',
        str(SCENE_SIZE[1]), '--no-progress'
    ], out, results, out_file)

    benchmark_file = osp.join(out, 'benchmark.json')
    run('benchmark', [
        python, 'tools/benchmark.py', args.config, '--data-root', scenes, '--batches', '4', '--repeats', '5', '--out',
        benchmark_file
    ], out, results, out_file)
    with open(benchmark_file) as f:
        results['benchmark'] = json.load(f)
    write(results, out_file)

    expand_iter = args.iters // 3
    run(
        'train',
        [
            python,
            'tools/train.py',
            args.config,
            '--amp',
            '--data-root',
            scenes,
            '--work-dir',
            train_dir,
            '--cfg-options',
            f'train_cfg.max_iters={args.iters}',
            f'train_cfg.val_interval={args.iters}',
            f'default_hooks.checkpoint.interval={args.iters}',
            'default_hooks.logger.interval=1',
            f'custom_hooks.0.expand_iter={expand_iter}',
            'model.backbone.pretrained=None'  # the GPU path, not accuracy
        ],
        out,
        results,
        out_file)
    records = [record for record in training_scalars(train_dir) if 'loss' in record]
    losses = [record['loss'] for record in records]
    results['amp'] = dict(
        expand_iter=expand_iter,
        losses=losses,
        all_finite=bool(losses) and all(abs(value) < float('inf') and value == value for value in losses),
        peak_memory_mb=max((record.get('memory', 0) for record in records), default=None))
    write(results, out_file)

    checkpoint = osp.join(train_dir, f'iter_{args.iters}.pth')
    metrics_file = osp.join(out, 'test_metrics.json')
    run('test', [python, 'tools/test.py', args.config, checkpoint, '--data-root', scenes, '--out', metrics_file], out,
        results, out_file)
    with open(metrics_file) as f:
        results['test_metrics'] = json.load(f)
    write(results, out_file)
    bench = results['benchmark']
    print(f'[gpu_check] {results["card"]}: analysis/floor {bench["analysis_floor_ratio"]:.2f}, adaptive/full floor '
          f'{bench.get("adaptive_floor_ratio", float("nan")):.2f}, train DTME/MT {bench["train_step_ratio"]:.2f} '
          f'(FLOPs {bench["train_flop_ratio"]:.2f}), AMP losses finite: {results["amp"]["all_finite"]}; '
          f'written to {out_file}')


if __name__ == '__main__':
    main()
