"""Run only the DTME analysis of a config and write its report (plan JSON, per-layer table, plots).

    python tools/analyze.py CONFIG [--checkpoint CKPT] [--out DIR] [--force] [--data-root DIR] [--cfg-options ...]
    python -m torch.distributed.run --nproc_per_node 2 tools/analyze.py CONFIG --launcher pytorch

The report goes to a new folder, ``<work_dir>/analysis_<timestamp>/``, unless ``--out`` names one; a folder
holding a plan that this tool did not write (a training run's) is refused unless ``--force``. The config's
``DTMEHook`` settings are used (its ``expand_iter`` becomes 0); without a hook, the defaults. The analysis starts
exactly as training does (same seed, same order of initialisation and data loading), so on a config alone it gives
the plan ``tools/train.py`` computes at ``expand_iter=0``; with ``--checkpoint`` it analyses those weights instead
(a checkpoint from before the expansion, e.g. Baseline MT). The plan can then be given to training with
``custom_hooks=[dict(type='DTMEHook', plan_file='DIR/dtme_plan.json')]``.
"""
import argparse
import json
import os
import os.path as osp
import time

from mmengine.dist import is_main_process

from mmdtme.engine.hooks.dtme_hook import PLAN_FILE
from mmdtme.engine.runner_utils import default_analysis_loader_cfg
from mmdtme.utils import (add_runtime_arguments, build_runner, load_config, parse_tool_args, prepare_backbone_weights,
                          setup_runtime, teardown_distributed)
from mmdtme.utils.checkpoint import CheckpointMismatchError, check_checkpoint_file

MARKER_FILE = 'analysis.json'  # written beside each plan this tool writes: such a plan may be replaced


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='DTME token-space analysis only (no training)')
    parser.add_argument('config', help='config file with a DTMEViT backbone')
    parser.add_argument('--checkpoint', help='analyse these weights instead of the initial (pretrained) ones')
    parser.add_argument('--out', help='report directory (default: a new <work_dir>/analysis_<timestamp>)')
    parser.add_argument('--force', action='store_true', help='write into --out even if it holds a training plan')
    add_runtime_arguments(parser)
    return parse_tool_args(parser)


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, None, args.cfg_options, args.launcher, args.data_root)
    out = args.out or osp.join(cfg.work_dir, f'analysis_{time.strftime("%Y%m%d_%H%M%S")}')
    if (osp.isfile(osp.join(out, PLAN_FILE)) and not osp.isfile(osp.join(out, MARKER_FILE)) and not args.force):
        raise SystemExit(f'error: {osp.join(out, PLAN_FILE)} was not written by tools/analyze.py (a training run\'s '
                         'plan?); choose another --out, or pass --force to replace it')
    if args.checkpoint:
        try:
            check_checkpoint_file(args.checkpoint)
        except (CheckpointMismatchError, FileNotFoundError) as error:
            raise SystemExit(f'error: {error}')
    hook_cfgs = [hook for hook in cfg.get('custom_hooks', []) if hook.get('type') == 'DTMEHook']
    hook_cfg = dict(hook_cfgs[0]) if hook_cfgs else dict(type='DTMEHook')
    hook_cfg.pop('plan_file', None)
    hook_cfg['expand_iter'] = 0
    if hook_cfg.get('analysis_dataloader') is None:  # training's default, fixed before val is dropped below
        hook_cfg['analysis_dataloader'] = default_analysis_loader_cfg(cfg)
    # Training's start with no iteration: the hook analyses in before_train, as at expand_iter=0 of a real run.
    cfg.custom_hooks = [hook_cfg]
    cfg.work_dir = out
    cfg.train_cfg.max_iters = 0
    cfg.param_scheduler = None  # no step is taken (and a schedule ending at max_iters would be empty)
    for key in ('val_dataloader', 'val_cfg', 'val_evaluator', 'test_dataloader', 'test_cfg', 'test_evaluator'):
        cfg[key] = None
    cfg.load_from, cfg.resume = args.checkpoint, False
    setup_runtime(cfg)
    try:
        prepare_backbone_weights(cfg, resuming=bool(args.checkpoint))  # a checkpoint replaces them
        runner = build_runner(cfg)
        runner.train()
    except (CheckpointMismatchError, FileNotFoundError) as error:
        raise SystemExit(f'error: {error}')
    del runner  # its DDP wrapper holds the process group (see teardown_distributed)
    if is_main_process() and not osp.isfile(osp.join(out, PLAN_FILE)):  # rank 0 writes the report
        raise SystemExit(f'error: no analysis ran: the checkpoint {args.checkpoint!r} holds an expanded DTME model; '
                         'analyse the weights from before the expansion (e.g. a Baseline MT checkpoint)')
    if is_main_process():
        os.makedirs(out, exist_ok=True)
        with open(osp.join(out, MARKER_FILE), 'w', encoding='utf-8') as f:
            json.dump(dict(config=args.config, checkpoint=args.checkpoint, hook=hook_cfg), f, indent=2)
    teardown_distributed()


if __name__ == '__main__':
    main()
