"""Measure DTME's costs as ratios in one process, on the same model and batches.

    python tools/benchmark.py CONFIG [--batches 4] [--iters 5] [--out FILE.json] [--cfg-options ...]

Prints and (with --out) writes:
- analysis_floor_ratio: analysis wall time / floor, where the floor is one no-grad forward plus one forward and
  T backward passes (to the block outputs) over the same batches (target <= 1.3);
- train_step_ratio / train_flop_ratio: DTME / Baseline MT train step (forward, backward, optimizer step) time and
  FLOPs (target: the time ratio within 5 % of the FLOP ratio);
- infer_step_ratio / infer_flop_ratio: the same for inference;
- analysis_mem_ratio: peak memory of the analysis / of a train step (GPU only; null on the CPU);
plus the raw times (seconds) and the device.
"""
import argparse
import copy
import json
import time
from typing import Callable, Dict, List

import torch
from mmengine.config import DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import Runner

import mmdtme  # noqa: F401
from mmdtme.dtme import AnalysisSettings, analyze, task_gradients
from mmdtme.engine.runner_utils import default_analysis_loader_cfg
from mmdtme.registry import MODELS
from mmdtme.utils import load_config
from mmdtme.utils.complexity import count_flops


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='DTME cost ratios: analysis vs floor, DTME vs MT steps')
    parser.add_argument('config', help='a DTME config (DTMEViT backbone)')
    parser.add_argument('--batches', type=int, default=4, help='analysis batches (default: %(default)s)')
    parser.add_argument('--iters', type=int, default=5, help='timed train / inference steps (default: %(default)s)')
    parser.add_argument('--out', help='write the results to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    parser.add_argument('--data-root', help='dataset root for every dataloader of the config')
    return parser.parse_args()


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def timed(fn: Callable[[], None], repeats: int = 1) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call."""
    fn()
    best = float('inf')
    for _ in range(repeats):
        synchronize()
        start = time.perf_counter()
        fn()
        synchronize()
        best = min(best, time.perf_counter() - start)
    return best


def peak_memory(fn: Callable[[], None]):
    if not torch.cuda.is_available():
        return None
    torch.cuda.empty_cache()
    torch.cuda.reset_peak_memory_stats()
    fn()
    synchronize()
    return torch.cuda.max_memory_allocated()


def load_batches(cfg, count: int, model) -> List[tuple]:
    loader_cfg = default_analysis_loader_cfg(cfg)
    loader_cfg['num_workers'] = 0
    batches = []
    for index, data_batch in enumerate(Runner.build_dataloader(loader_cfg)):
        if index == count:
            break
        data = model.data_preprocessor(data_batch, training=True)
        batches.append((data['inputs'], data['data_samples']))
    return batches


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, None, args.cfg_options, data_root=args.data_root)
    init_default_scope(cfg.get('default_scope', 'mmdtme'))
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    if not hasattr(model.backbone, 'expand'):
        raise SystemExit(f'{args.config} has no DTMEViT backbone; benchmark a config from configs/dtme/')
    model.init_weights()
    model.eval()
    batches = load_batches(cfg, args.batches, model)
    tasks, backbone = list(model.tasks), model.backbone
    hook_cfg = next((h for h in cfg.get('custom_hooks', []) if h.get('type') == 'DTMEHook'), {})
    settings = AnalysisSettings(**{k: v for k, v in hook_cfg.items() if k in AnalysisSettings.__dataclass_fields__})

    def block_outputs(batch):
        return backbone.forward_with_block_outputs(batch[0])[1]

    def task_losses(batch):
        return model.task_losses_with_block_outputs(*batch)

    def floor() -> None:
        with torch.no_grad():
            for batch in batches:
                block_outputs(batch)
        for batch in batches:
            losses, outputs = task_losses(batch)
            task_gradients([losses[task] for task in tasks], outputs, retain_graph=False)

    plans = []

    def analysis() -> None:
        plans.append(analyze(batches, block_outputs, task_losses, tasks, backbone.depth, backbone.embed_dim, settings))

    results: Dict[str, object] = dict(
        device=torch.cuda.get_device_name() if device == 'cuda' else 'cpu',
        config=args.config,
        batches=len(batches),
        batch_size=int(batches[0][0].shape[0]),
        input_size=list(batches[0][0].shape[-2:]))
    results['floor_time'] = timed(floor)
    results['analysis_time'] = timed(analysis)
    results['analysis_floor_ratio'] = results['analysis_time'] / results['floor_time']
    plan = plans[-1]

    baseline, expanded = copy.deepcopy(model).train(), copy.deepcopy(model).train()
    expanded.backbone.expand(plan)
    inputs, samples = batches[0]

    def train_step(net, optimizer):

        def step():
            total, _ = net.parse_losses(net.loss(inputs, samples))
            optimizer.zero_grad()
            total.backward()
            optimizer.step()

        return step

    def infer_step(net):

        def step():
            with torch.no_grad():
                net._forward(inputs)

        return step

    for name, net in (('mt', baseline), ('dtme', expanded)):
        step = train_step(net, torch.optim.Adam(net.parameters(), lr=1e-6))
        results[f'{name}_train_time'] = timed(step, args.iters)
        results[f'{name}_train_flops'] = count_flops(step)
        results[f'{name}_train_memory'] = peak_memory(step)
        net.eval()
        results[f'{name}_infer_time'] = timed(infer_step(net), args.iters)
        results[f'{name}_infer_flops'] = count_flops(infer_step(net))
        net.train()
    for kind in ('train', 'infer'):
        results[f'{kind}_step_ratio'] = results[f'dtme_{kind}_time'] / results[f'mt_{kind}_time']
        results[f'{kind}_flop_ratio'] = results[f'dtme_{kind}_flops'] / results[f'mt_{kind}_flops']
    analysis_memory = peak_memory(analysis)
    results['analysis_memory'] = analysis_memory
    results['analysis_mem_ratio'] = (
        analysis_memory / results['mt_train_memory'] if analysis_memory is not None else None)
    results['tm_layers'], results['te_layers'] = plan.tm_layers, plan.te_layers
    results['dtme_extra_params'] = sum(p.numel() for p in expanded.parameters()) - sum(p.numel()
                                                                                       for p in baseline.parameters())
    results['mt_params'] = sum(p.numel() for p in baseline.parameters())

    print(f'device: {results["device"]}; {len(batches)} batches of {results["batch_size"]} at '
          f'{results["input_size"]}; {len(tasks)} tasks; TM {plan.tm_layers}, TE {plan.te_layers}')
    rows = [('analysis / floor (target <= 1.3)', results['analysis_floor_ratio']),
            ('train step DTME / MT', results['train_step_ratio']),
            ('train FLOPs DTME / MT', results['train_flop_ratio']),
            ('inference DTME / MT', results['infer_step_ratio']),
            ('inference FLOPs DTME / MT', results['infer_flop_ratio']),
            ('analysis / train-step peak memory (target <= 1.2)', results['analysis_mem_ratio'])]
    for label, value in rows:
        print(f'  {label:<50} {"n/a (CPU)" if value is None else f"{value:.3f}"}')
    print(f'  DTME parameters: +{results["dtme_extra_params"]} '
          f'(+{100.0 * results["dtme_extra_params"] / results["mt_params"]:.3f} % of {results["mt_params"]})')
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
