"""Evaluate a checkpoint: ``python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]``."""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # run from a checkout without installing

from mmengine.runner import Runner  # noqa: E402

from mmdtme.utils import (add_runtime_arguments, load_config, parse_tool_args, setup_runtime,  # noqa: E402
                          teardown_distributed)


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Evaluate a multi-task dense prediction model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='the dir to save logs and metrics')
    parser.add_argument('--out', help='also write the metrics to this JSON file')
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
    setup_runtime(cfg)
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    teardown_distributed()
    if args.out:
        with open(args.out, 'w') as f:
            json.dump({key: float(value) for key, value in metrics.items()}, f, indent=2)


if __name__ == '__main__':
    main()
