"""Measure DTME's costs as ratios in one process, on the same model and batches.

    python tools/benchmark.py CONFIG [--batches 4] [--repeats 5] [--out FILE.json] [--data-root DIR] [--cfg-options ...]

Prints and (with --out) writes:
- analysis_floor_ratio: analysis wall time / floor, where the floor is one no-grad forward plus one forward and
  T backward passes (to the block outputs) over the same batches (target <= 1.1);
- analysis_fp64_share: float64 multiply-adds / all matmul multiply-adds of the analysis of one batch (target
  <= 0.01: consumer GPUs run float64 at 1/32-1/64 of float32);
- train_step_ratio / train_flop_ratio: DTME / Baseline MT train step (forward, backward, optimizer step) time and
  FLOPs (target: the time ratio within 5 % of the FLOP ratio);
- infer_step_ratio / infer_flop_ratio: the same for inference;
- adaptive_floor_ratio: wall time of the adaptive analysis (``stop='adaptive'``) on the config's analysis set (the
  DTMEHook's max_batches, else the whole set) / the floor of the full pass on that set (target <= 0.3), with
  adaptive_plan_equal (its TM / TE layers equal the full pass's up to the layers it declared tied),
  adaptive_tied_layers and adaptive_stopped_after (batches read by its covariance and conflict passes);
- analysis_mem_ratio: peak memory of the analysis / of a train step, each above what was allocated just before it
  (GPU only: null on the CPU, and analysis_mem_ratio_note says why);
- saved_bytes_{mt,dtme,dtme_cp}: bytes autograd keeps for the backward of a train step (any device) for Baseline MT,
  DTME, and DTME with checkpointed blocks (``with_cp``; target: no more than MT), and with_cp_step_ratio, the step
  time of DTME + with_cp / DTME;
plus the raw times (seconds) and the device. Each compared pair is timed in --repeats interleaved rounds (first,
second, first, ...): times are medians, each ratio is the median of the per-round ratios, and *_spread gives their
[min, max], so a noisy machine shows as a wide spread rather than as a different number from run to run. Within a
round, calls shorter than MIN_ROUND_SECONDS (an inference step) repeat until the slower of the pair lasts that long.
"""
import argparse
import copy
import json
import math
import statistics
import time
from typing import Callable, Dict

import torch
from mmengine.config import DictAction
from mmengine.registry import init_default_scope

import mmdtme  # noqa: F401
from mmdtme.dtme import AnalysisSettings, StoppingRule, analyze, task_gradients
from mmdtme.engine.runner_utils import analysis_callables, dtme_hook_settings, prepared_analysis_batches
from mmdtme.registry import MODELS
from mmdtme.utils import load_config, quietly
from mmdtme.utils.complexity import MatmulFlopsByDtype, count_flops, saved_tensor_bytes


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='DTME cost ratios: analysis vs floor, DTME vs MT steps')
    parser.add_argument('config', help='a DTME config (DTMEViT backbone)')
    parser.add_argument('--batches', type=int, default=4, help='analysis batches (default: %(default)s)')
    parser.add_argument(
        '--adaptive-batches',
        type=int,
        help='analysis set of the adaptive comparison (default: the DTMEHook\'s max_batches, else the whole set)')
    parser.add_argument(
        '--repeats',
        type=int,
        default=5,
        help='interleaved timing rounds per compared pair; the '
        'median is reported with its spread (default: %(default)s)')
    parser.add_argument('--out', help='write the results to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    parser.add_argument('--data-root', help='dataset root for every dataloader of the config')
    return parser.parse_args()


def synchronize() -> None:
    if torch.cuda.is_available():
        torch.cuda.synchronize()


# A timed call shorter than this is repeated within its round: a single step of a few milliseconds is at the mercy
# of the scheduler, and the ratio of two of them moves by 10-30 % from round to round.
MIN_ROUND_SECONDS = 0.5


def clock(fn: Callable[[], None], calls: int = 1) -> float:
    """Seconds per call of ``fn``, over ``calls`` calls in a row."""
    synchronize()
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    synchronize()
    return (time.perf_counter() - start) / calls


def compare(first: Callable[[], None], second: Callable[[], None], repeats: int) -> Dict[str, object]:
    """Time two functions in ``repeats`` interleaved rounds (first, second, first, ...) after one warm-up each.

    Interleaving exposes both to the same load; the ratio is the median of the per-round ratios second / first,
    with its spread (min, max) over the rounds. Within a round each function runs as many calls in a row as make
    the slower one last about :data:`MIN_ROUND_SECONDS` (one call for the analysis, tens for an inference step).
    """
    longest = max(clock(first), clock(second))  # warm-up calls: an upper bound, since a first call also allocates
    calls = max(1, math.ceil(MIN_ROUND_SECONDS / max(longest, 1e-9)))
    rounds = [(clock(first, calls), clock(second, calls)) for _ in range(repeats)]
    ratios = sorted(b / a for a, b in rounds)
    return dict(
        first=statistics.median(a for a, _ in rounds),
        second=statistics.median(b for _, b in rounds),
        ratio=statistics.median(ratios),
        spread=[ratios[0], ratios[-1]],
        repeats=repeats,
        calls_per_round=calls)


def peak_memory(fn: Callable[[], None]):
    """Peak CUDA memory while ``fn`` runs, above what was allocated just before (the models, gradients and optimizer
    states already resident are not counted); None on the CPU."""
    if not torch.cuda.is_available():
        return None
    synchronize()
    torch.cuda.empty_cache()
    before = torch.cuda.memory_allocated()
    torch.cuda.reset_peak_memory_stats()
    fn()
    synchronize()
    return torch.cuda.max_memory_allocated() - before


def adaptive_comparison(cfg, hook_cfg: dict, model, settings: AnalysisSettings, rule: StoppingRule, args,
                        floor_of: Callable) -> Dict[str, object]:
    """The adaptive analysis against the floor of the full pass on the config's analysis set, and their plans."""
    count = args.adaptive_batches or hook_cfg.get('max_batches')
    analysis_set = prepared_analysis_batches(cfg, model, count)
    block_outputs, task_losses = analysis_callables(model)
    tasks, backbone = list(model.tasks), model.backbone
    plans = []

    def adaptive() -> None:
        plans.append(
            analyze(
                analysis_set,
                block_outputs,
                task_losses,
                tasks,
                backbone.depth,
                backbone.embed_dim,
                settings,
                stop='adaptive',
                rule=rule))

    timing = compare(floor_of(analysis_set), adaptive, args.repeats)
    full = analyze(analysis_set, block_outputs, task_losses, tasks, backbone.depth, backbone.embed_dim, settings)
    plan = plans[-1]
    return dict(
        adaptive_batches=len(analysis_set),
        full_floor_time=timing['first'],
        adaptive_time=timing['second'],
        adaptive_floor_ratio=timing['ratio'],
        adaptive_floor_spread=timing['spread'],
        adaptive_plan_equal=plan.agrees_up_to_ties(full),
        adaptive_tied_layers=dict(tm=plan.tied_tm_layers, te=plan.tied_te_layers),
        adaptive_stopped_after=plan.stopped_after,
        adaptive_stop_reasons=plan.stop_reasons,
        adaptive_layers=dict(tm=plan.tm_layers, te=plan.te_layers),
        full_layers=dict(tm=full.tm_layers, te=full.te_layers))


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, None, args.cfg_options, data_root=args.data_root)
    cfg.model.backbone.pretrained = None  # time does not depend on the weights; no download for a benchmark
    init_default_scope(cfg.get('default_scope', 'mmdtme'))
    device = 'cuda' if torch.cuda.is_available() else 'cpu'
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(device)
    if not hasattr(model.backbone, 'expand'):
        raise SystemExit(f'{args.config} has no DTMEViT backbone; benchmark a config from configs/dtme/')
    quietly(model.init_weights)
    model.eval()
    batches = prepared_analysis_batches(cfg, model, args.batches)
    tasks, backbone = list(model.tasks), model.backbone
    hook_cfg, settings, rule = dtme_hook_settings(cfg)

    block_outputs, task_losses = analysis_callables(model)

    def floor_of(analysis_set):

        def floor() -> None:
            with torch.no_grad():
                for batch in analysis_set:
                    block_outputs(batch)
            for batch in analysis_set:
                losses, outputs = task_losses(batch)
                task_gradients([losses[task] for task in tasks], outputs, retain_graph=False)

        return floor

    floor = floor_of(batches)

    plans = []

    def analysis() -> None:
        plans.append(analyze(batches, block_outputs, task_losses, tasks, backbone.depth, backbone.embed_dim, settings))

    results: Dict[str, object] = dict(
        device=torch.cuda.get_device_name() if device == 'cuda' else 'cpu',
        config=args.config,
        batches=len(batches),
        batch_size=int(batches[0][0].shape[0]),
        input_size=list(batches[0][0].shape[-2:]))
    timing = compare(floor, analysis, args.repeats)
    results['floor_time'], results['analysis_time'] = timing['first'], timing['second']
    results['analysis_floor_ratio'], results['analysis_floor_spread'] = timing['ratio'], timing['spread']
    with MatmulFlopsByDtype() as by_dtype:
        analyze(batches[:1], block_outputs, task_losses, tasks, backbone.depth, backbone.embed_dim, settings)
    # float64 matmul work runs at 1/32-1/64 of float32 speed on consumer GPUs (target <= 0.01)
    results['analysis_fp64_share'] = by_dtype.share(torch.float64)
    plan = plans[-1]
    results.update(adaptive_comparison(cfg, hook_cfg, model, settings, rule, args, floor_of))

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

    steps = {
        name: train_step(net, torch.optim.Adam(net.parameters(), lr=1e-6))
        for name, net in (('mt', baseline), ('dtme', expanded))
    }
    for name, step in steps.items():
        results[f'{name}_train_flops'] = count_flops(step)
        results[f'{name}_train_memory'] = peak_memory(step)
    timing = compare(steps['mt'], steps['dtme'], args.repeats)
    results['mt_train_time'], results['dtme_train_time'] = timing['first'], timing['second']
    results['train_step_ratio'], results['train_step_spread'] = timing['ratio'], timing['spread']

    # with_cp: activations kept for backward (MT, DTME, DTME with checkpointed blocks) and the step-time cost
    def samples_loss(net):
        return lambda: net.parse_losses(net.loss(inputs, samples))[0]

    results['saved_bytes_mt'] = saved_tensor_bytes(samples_loss(baseline))
    results['saved_bytes_dtme'] = saved_tensor_bytes(samples_loss(expanded))
    checkpointed = copy.deepcopy(expanded)
    checkpointed.backbone.with_cp = True
    results['saved_bytes_dtme_cp'] = saved_tensor_bytes(samples_loss(checkpointed))
    timing = compare(steps['dtme'], train_step(checkpointed, torch.optim.Adam(checkpointed.parameters(), lr=1e-6)),
                     args.repeats)
    results['with_cp_step_ratio'], results['with_cp_step_spread'] = timing['ratio'], timing['spread']
    del checkpointed
    baseline.eval(), expanded.eval()
    for name, net in (('mt', baseline), ('dtme', expanded)):
        results[f'{name}_infer_flops'] = count_flops(infer_step(net))
    timing = compare(infer_step(baseline), infer_step(expanded), args.repeats)
    results['mt_infer_time'], results['dtme_infer_time'] = timing['first'], timing['second']
    results['infer_step_ratio'], results['infer_step_spread'] = timing['ratio'], timing['spread']
    for kind in ('train', 'infer'):
        results[f'{kind}_flop_ratio'] = results[f'dtme_{kind}_flops'] / results[f'mt_{kind}_flops']
    analysis_memory = peak_memory(analysis)
    results['analysis_memory'] = analysis_memory
    results['analysis_mem_ratio'] = (
        analysis_memory / results['mt_train_memory'] if analysis_memory is not None else None)
    if analysis_memory is None:
        results['analysis_mem_ratio_note'] = 'GPU only: peak memory is read from the CUDA allocator'
    results['tm_layers'], results['te_layers'] = plan.tm_layers, plan.te_layers
    results['dtme_extra_params'] = sum(p.numel() for p in expanded.parameters()) - sum(p.numel()
                                                                                       for p in baseline.parameters())
    results['mt_params'] = sum(p.numel() for p in baseline.parameters())

    print(f'device: {results["device"]}; {len(batches)} batches of {results["batch_size"]} at '
          f'{results["input_size"]}; {len(tasks)} tasks; TM {plan.tm_layers}, TE {plan.te_layers}')
    rows = [('analysis / floor (target <= 1.1)', 'analysis_floor'),
            (f'adaptive analysis / full floor, {results["adaptive_batches"]} batches (target <= 0.3)',
             'adaptive_floor'), ('analysis float64 matmul share (target <= 0.01)', 'analysis_fp64_share'),
            ('train step DTME / MT', 'train_step'), ('train FLOPs DTME / MT', 'train_flop_ratio'),
            ('inference DTME / MT', 'infer_step'), ('inference FLOPs DTME / MT', 'infer_flop_ratio'),
            ('analysis / train-step peak memory (target <= 1.2)', 'analysis_mem_ratio'),
            ('DTME + with_cp / DTME train step', 'with_cp_step')]
    print(f'  times: median of {args.repeats} interleaved rounds, [min, max] of the per-round ratios')
    for label, key in rows:
        value = results.get(key, results.get(f'{key}_ratio'))
        spread = results.get(f'{key}_spread')
        text = 'n/a (GPU only)' if value is None else f'{value:.3f}'
        if spread is not None:
            text += f'  [{spread[0]:.3f}, {spread[1]:.3f}]'
        print(f'  {label:<50} {text}')
    print(f'  adaptive analysis: stopped after {results["adaptive_stopped_after"]} batches (covariance, conflict); '
          f'layers TM {results["adaptive_layers"]["tm"]}, TE {results["adaptive_layers"]["te"]} vs the full pass '
          f'TM {results["full_layers"]["tm"]}, TE {results["full_layers"]["te"]}; '
          f'tied {results["adaptive_tied_layers"]}; equal up to ties: {results["adaptive_plan_equal"]}')
    print(f'  DTME parameters: +{results["dtme_extra_params"]} '
          f'(+{100.0 * results["dtme_extra_params"] / results["mt_params"]:.3f} % of {results["mt_params"]})')
    print('  saved for backward (MiB): MT {:.1f}, DTME {:.1f}, DTME + with_cp {:.1f} (target: <= MT)'.format(
        *(results[f'saved_bytes_{name}'] / 2**20 for name in ('mt', 'dtme', 'dtme_cp'))))
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(results, f, indent=2)


if __name__ == '__main__':
    main()
