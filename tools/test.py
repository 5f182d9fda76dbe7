"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE] [--show-dir DIR]``.

The metrics are always written to ``<work_dir>/test_metrics.json`` (what ``tools/analysis_tools/summarize.py`` and
``st_reference`` read), and also to ``--out`` if given.
"""
import argparse
import json
import os
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.runner import Runner

from mmdtme.evaluation.delta_m import TEST_METRICS_FILE
from mmdtme.utils import add_runtime_arguments, load_config, parse_tool_args, setup_runtime, teardown_distributed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a multi-task dense prediction model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
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
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint!r} does not exist')
    cfg = load_config(args.config, args.work_dir, args.cfg_options, args.launcher)
    cfg.load_from = args.checkpoint
    if args.amp:
        cfg.test_cfg.fp16 = True
    if args.show_dir:
        add_visualization(cfg, args.show_dir, args.show_interval)
    setup_runtime(cfg)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if is_main_process():
        metrics = {key: float(value) for key, value in metrics.items()}
        for path in [osp.join(cfg.work_dir, TEST_METRICS_FILE)] + ([args.out] if args.out else []):
            os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
            with open(path, 'w') as f:
                json.dump(metrics, f, indent=2)
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
