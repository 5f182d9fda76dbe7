"""Train a multi-task model: ``python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
[--auto-scale-lr]``."""
import argparse

import torch
from mmengine.runner import find_latest_checkpoint

from mmdtme.utils import (add_runtime_arguments, build_runner, load_config, parse_tool_args, prepare_backbone_weights,
                          setup_runtime, teardown_distributed)
from mmdtme.utils.checkpoint import CheckpointMismatchError, check_checkpoint_file


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Train a multi-task dense prediction model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or from the latest one in the work dir if none is given')
    parser.add_argument('--amp', action='store_true', default=False, help='enable automatic mixed precision')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the LR by (processes x batch per process) / auto_scale_lr.base_batch_size of the config')
    add_runtime_arguments(parser)
    return parse_tool_args(parser)


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.work_dir, args.cfg_options, args.launcher, args.data_root)
    if args.amp:
        if not torch.cuda.is_available():
            raise SystemExit('--amp needs a GPU: mmengine\'s AmpOptimWrapper does not train on the CPU')
        cfg.optim_wrapper.type = 'AmpOptimWrapper'
        cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.auto_scale_lr:
        if 'base_batch_size' not in (cfg.get('auto_scale_lr') or {}):
            raise SystemExit(f'error: --auto-scale-lr needs auto_scale_lr = dict(enable=False, base_batch_size=N) in '
                             f'{args.config}: the total batch its LR was set for')
        cfg.auto_scale_lr.enable = True
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        cfg.resume = True
        cfg.load_from = args.resume
    try:
        # a truncated checkpoint fails here, naming the file and the older ones, not deep in torch.load
        checkpoint = cfg.load_from or (find_latest_checkpoint(cfg.work_dir) if cfg.resume else None)
        if checkpoint is not None:
            check_checkpoint_file(checkpoint)
        prepare_backbone_weights(cfg, resuming=checkpoint is not None)
        setup_runtime(cfg)
        runner = build_runner(cfg)
        runner.train()
    except (CheckpointMismatchError, FileNotFoundError) as error:
        raise SystemExit(f'error: {error}')
    del runner  # its DDP wrapper holds the process group (see teardown_distributed)
    teardown_distributed()


if __name__ == '__main__':
    main()
