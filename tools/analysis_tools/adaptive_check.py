"""Does the adaptive analysis give the full pass's plan? Both, on the same batches, for several seeds.

    python tools/analysis_tools/adaptive_check.py CONFIG [--checkpoint CKPT] [--seeds 0 1 2] [--batches N]
        [--data-root DIR] [--out FILE.json] [--cfg-options ...]

For each seed the model is built and initialised with that seed (or loaded from ``--checkpoint``), and the analysis
set (the config's DTMEHook ``max_batches``, else the whole set, or ``--batches``) is read in an order drawn with the
seed. The full pass (``stop='full'``) and the adaptive one (``stop='adaptive'``, the hook's ``stopping`` settings) run
on the same prepared batches; the tool prints, per seed, both TM / TE layer sets, the layers the adaptive pass
declared tied, whether the sets agree up to those ties, the batches at which each adaptive pass stopped and why (for
the conflict pass with the per-batch noise of the compared differences), and the wall time of both; it exits with
status 1 when a seed disagrees beyond its ties.
"""
import argparse
import json
import sys
import time

import torch
from mmengine.config import DictAction
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

import mmdtme  # noqa: F401
from mmdtme.dtme import analyze
from mmdtme.engine.runner_utils import analysis_callables, dtme_hook_settings, prepared_analysis_batches
from mmdtme.registry import MODELS
from mmdtme.utils import load_config, prepare_backbone_weights, quietly


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='adaptive vs full DTME analysis on the same batches')
    parser.add_argument('config', help='a DTME config (DTMEViT backbone)')
    parser.add_argument('--checkpoint', help='analyse these weights (from before the expansion, e.g. Baseline MT)')
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2], help='default: %(default)s')
    parser.add_argument('--batches', type=int, help='analysis batches (default: the hook\'s max_batches, else all)')
    parser.add_argument('--data-root', help='dataset root for every dataloader of the config')
    parser.add_argument('--out', help='write the results to this JSON file')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, None, args.cfg_options, data_root=args.data_root)
    try:
        prepare_backbone_weights(cfg, resuming=bool(args.checkpoint))  # a checkpoint replaces them
    except FileNotFoundError as error:
        raise SystemExit(f'error: {error}')
    init_default_scope(cfg.get('default_scope', 'mmdtme'))
    hook_cfg, settings, rule = dtme_hook_settings(cfg)
    batches = None
    rows = []
    for seed in args.seeds:
        torch.manual_seed(seed)
        model = MODELS.build(cfg.model)
        quietly(model.init_weights)
        if args.checkpoint:
            load_checkpoint(model, args.checkpoint, map_location='cpu', strict=False, revise_keys=[])
        model.eval()
        if batches is None:
            batches = prepared_analysis_batches(cfg, model, args.batches or hook_cfg.get('max_batches'))
        order = torch.randperm(len(batches), generator=torch.Generator().manual_seed(seed)).tolist()
        ordered = [batches[index] for index in order]
        callables = analysis_callables(model)
        common = (callables[0], callables[1], list(model.tasks), model.backbone.depth, model.backbone.embed_dim,
                  settings)
        start = time.perf_counter()
        full = analyze(ordered, *common)
        full_time = time.perf_counter() - start
        start = time.perf_counter()
        adaptive = analyze(ordered, *common, stop='adaptive', rule=rule)
        adaptive_time = time.perf_counter() - start
        row = dict(
            seed=seed,
            full=dict(tm=full.tm_layers, te=full.te_layers),
            adaptive=dict(tm=adaptive.tm_layers, te=adaptive.te_layers),
            tied=dict(tm=adaptive.tied_tm_layers, te=adaptive.tied_te_layers),
            equal_up_to_ties=adaptive.agrees_up_to_ties(full),
            stopped_after=adaptive.stopped_after,
            batches=len(batches),
            full_time=full_time,
            adaptive_time=adaptive_time,
            stop_reasons=adaptive.stop_reasons)
        rows.append(row)
        print(
            f'seed {seed}: full TM {full.tm_layers} TE {full.te_layers} | adaptive TM {adaptive.tm_layers} '
            f'TE {adaptive.te_layers}, tied TM {adaptive.tied_tm_layers} TE {adaptive.tied_te_layers} | '
            f'equal up to ties: {row["equal_up_to_ties"]} | stopped after {adaptive.stopped_after} of '
            f'{len(batches)} batches | {adaptive_time:.1f} s vs {full_time:.1f} s',
            flush=True)
        for reason in adaptive.stop_reasons:
            print(f'  {reason}', flush=True)
    if args.out:
        with open(args.out, 'w') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint, rows=rows), f, indent=2)
    if not all(row['equal_up_to_ties'] for row in rows):
        sys.exit(1)


if __name__ == '__main__':
    main()
