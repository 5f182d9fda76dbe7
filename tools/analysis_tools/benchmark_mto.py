"""Train-step time of each multi-task optimisation (MTO) method as a ratio to GD, in one process.

    python tools/analysis_tools/benchmark_mto.py [CONFIG ...] [--iters 10] [--out FILE.json] [--cfg-options ...]

CONFIGs are ``configs/mto/*`` configs (default: every ``configs/mto/{method}_vitt_synth.py`` of the 11 methods,
the CPU demo's ViT-Tiny/8 on 96×128 synthetic scenes); the first one (``gd`` by default) is the reference. Every
method starts from the same initial weights and trains on the same batch; the methods take turns, one step each, for
``--iters`` rounds after one warm-up step, so a load change on the machine hits them all alike. Prints per method the
median step time (forward, backward(s), aggregation, optimizer step, and FAMO's extra forward) and its ratio to
the reference; ``--out`` writes them as JSON.
"""
import argparse
import copy
import glob
import json
import os.path as osp
import statistics
import time
from typing import Dict

import torch
from mmengine.config import DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmdtme  # noqa: F401
from mmdtme.engine.optimizers import MultiTaskOptimWrapperConstructor
from mmdtme.registry import MODELS
from mmdtme.utils import load_config

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
METHODS = ['gd', 'graddrop', 'mgda', 'pcgrad', 'cagrad', 'imtl', 'alignedmtl', 'nashmtl', 'uw', 'dwa', 'famo']


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='MTO train-step time ratios to GD')
    parser.add_argument(
        'configs',
        nargs='*',
        help='configs/mto configs; the first is the reference '
        '(default: the 11 methods on the synthetic demo, gd first)')
    parser.add_argument('--iters', type=int, default=10, help='timed rounds (default: %(default)s)')
    parser.add_argument('--out', help='write the results to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override settings of every config')
    return parser.parse_args()


def method_name(path: str) -> str:
    return osp.basename(path).split('_')[0]


def cost_model(cfg) -> str:
    wrapper = cfg.optim_wrapper
    if wrapper.get('aggregator'):
        return 'T backward + aggregation'
    if wrapper.get('loss_weighting', {}).get('type') == 'FAMO':
        return '1 backward + 1 no-grad forward'
    return '1 backward'


def main() -> None:
    args = parse_args()
    if args.iters < 1:
        raise SystemExit('--iters must be >= 1')
    paths = args.configs or [osp.join(REPO_ROOT, 'configs', 'mto', f'{m}_vitt_synth.py') for m in METHODS]
    missing = [p for p in paths if not osp.isfile(p)]
    if missing:
        raise SystemExit(f'no such config: {missing} (configs/mto has {sorted(glob.glob("configs/mto/*.py"))})')
    cfgs = [load_config(path, '/tmp/benchmark_mto', args.cfg_options, 'none') for path in paths]
    init_default_scope('mmdtme')
    device = torch.device('cuda' if torch.cuda.is_available() else 'cpu')

    loader = Runner.build_dataloader(copy.deepcopy(cfgs[0].train_dataloader), seed=0)
    batch = next(iter(loader))
    torch.manual_seed(0)
    initial = MODELS.build(cfgs[0].model).state_dict()

    runs = []
    for path, cfg in zip(paths, cfgs):
        if cfg.optim_wrapper.get('constructor') != 'MultiTaskOptimWrapperConstructor':
            raise SystemExit(f'{path} is not an MTO config (optim_wrapper.constructor)')
        model = MODELS.build(cfg.model).to(device)
        model.load_state_dict(initial)
        model.train()
        optim_cfg = {k: v for k, v in cfg.optim_wrapper.items() if k != 'constructor'}
        wrapper = MultiTaskOptimWrapperConstructor(optim_cfg)(model)
        runs.append(
            dict(name=method_name(path), config=path, model=model, wrapper=wrapper, times=[], cost=cost_model(cfg)))

    def step(run) -> float:
        if device.type == 'cuda':
            torch.cuda.synchronize()
        start = time.perf_counter()
        run['model'].train_step(copy.deepcopy(batch), run['wrapper'])
        if device.type == 'cuda':
            torch.cuda.synchronize()
        return time.perf_counter() - start

    for run in runs:
        step(run)  # warm-up (solver set-up, allocator)
    for _ in range(args.iters):
        for run in runs:
            run['times'].append(step(run))

    reference = statistics.median(runs[0]['times'])
    results: Dict[str, Dict] = {}
    print(f'device: {device}, batch {len(batch["inputs"])}, tasks {list(runs[0]["model"].tasks)}, '
          f'{args.iters} rounds; reference: {runs[0]["name"]}')
    print(f'{"method":<12}{"s/step":>10}{"x " + runs[0]["name"]:>10}  cost per step')
    for run in runs:
        median = statistics.median(run['times'])
        results[run['name']] = dict(
            config=run['config'], step_time=median, ratio=median / reference, cost=run['cost'], times=run['times'])
        print(f'{run["name"]:<12}{median:>10.4f}{median / reference:>10.2f}  {run["cost"]}')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(
                dict(device=str(device), iters=args.iters, reference=runs[0]['name'], methods=results), f, indent=2)
        print(f'written to {args.out}')


if __name__ == '__main__':
    main()
