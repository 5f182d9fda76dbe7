"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE] [--show-dir DIR]``.

Each evaluation writes into its own folder ``<work_dir>/test_<timestamp>/``: the config it ran with, its log and
``test_metrics.json`` (what ``tools/analysis_tools/summarize.py`` and ``st_reference`` read, the newest first),
so a training run's files are never replaced. The metrics also go to ``--out`` if given. Only the evaluation data
is read: the training set need not be present.
"""
import argparse
import json
import os
import os.path as osp
import time

from mmengine.dist import is_main_process

from mmdtme.evaluation.delta_m import TEST_METRICS_FILE
from mmdtme.utils import (add_runtime_arguments, build_runner, load_config, parse_tool_args, setup_runtime,
                          teardown_distributed)
from mmdtme.utils.checkpoint import CheckpointMismatchError, check_checkpoint_file

# What only training needs; mmengine builds it lazily, and an evaluation must not (its data may be absent).
TRAINING_KEYS = ('train_dataloader', 'train_cfg', 'optim_wrapper', 'param_scheduler', 'auto_scale_lr')


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a multi-task dense prediction model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the run\'s dir; this evaluation writes into <work-dir>/test_<timestamp>')
    parser.add_argument('--out', help='also write the metrics to this JSON file')
    parser.add_argument(
        '--show-dir', help='write a colour panel per sample (image | GT and prediction per task) '
        'to this folder')
    parser.add_argument('--show-interval', type=int, default=1, help='with --show-dir: draw every N-th batch')
    parser.add_argument('--amp', action='store_true', default=False, help='test with mixed precision')
    add_runtime_arguments(parser)
    return parse_tool_args(parser)


def main() -> None:
    args = parse_args()
    try:
        check_checkpoint_file(args.checkpoint)
    except (CheckpointMismatchError, FileNotFoundError) as error:
        raise SystemExit(f'error: {error}')
    cfg = load_config(args.config, args.work_dir, args.cfg_options, args.launcher, args.data_root)
    cfg.work_dir = osp.join(cfg.work_dir, f'test_{time.strftime("%Y%m%d_%H%M%S")}')
    for key in TRAINING_KEYS:
        cfg[key] = None
    cfg.load_from = args.checkpoint
    cfg.resume = False
    cfg.allow_unexpanded = False  # a Baseline checkpoint would evaluate a DTME config unexpanded
    if args.amp:
        cfg.test_cfg.fp16 = True
    if args.show_dir:
        add_visualization(cfg, args.show_dir, args.show_interval)
    setup_runtime(cfg)
    try:
        runner = build_runner(cfg)
        metrics = runner.test()
    except (CheckpointMismatchError, FileNotFoundError) as error:
        raise SystemExit(f'error: {error}')
    if is_main_process():
        metrics = {key: float(value) for key, value in metrics.items()}
        for path in [osp.join(cfg.work_dir, TEST_METRICS_FILE)] + ([args.out] if args.out else []):
            os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
            with open(path, 'w') as f:
                json.dump(metrics, f, indent=2)
        runner.logger.info(f'metrics written to {osp.join(cfg.work_dir, TEST_METRICS_FILE)}')
    del runner  # its DDP wrapper holds the process group (see teardown_distributed)
    teardown_distributed()


def add_visualization(cfg, show_dir: str, interval: int) -> None:
    """Draw every ``interval``-th test batch into ``show_dir`` with a ``MultiTaskLocalVisualizer``."""
    visualizer = cfg.get('visualizer') or dict(vis_backends=[dict(type='LocalVisBackend')])
    visualizer['type'] = 'MultiTaskLocalVisualizer'
    cfg.visualizer = visualizer
    hooks = [hook for hook in cfg.get('custom_hooks', []) if hook.get('type') != 'MultiTaskVisualizationHook']
    hooks.append(dict(type='MultiTaskVisualizationHook', draw=True, interval=interval, out_dir=show_dir))
    cfg.custom_hooks = hooks


if __name__ == '__main__':
    main()
