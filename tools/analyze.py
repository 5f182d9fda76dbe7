"""Run only the DTME analysis of a config and write its report (plan JSON, per-layer table, plots).

    python tools/analyze.py CONFIG [--checkpoint CKPT] [--out DIR] [--cfg-options ...]
    bash: python -m torch.distributed.run --nproc_per_node 2 tools/analyze.py CONFIG --launcher pytorch

The DTMEHook of the config (its analysis set and settings) is used; without one, the defaults. The plan can then
be given to training with ``custom_hooks=[dict(type='DTMEHook', plan_file='DIR/dtme_plan.json')]``.
"""
import argparse

from mmengine.model import is_model_wrapper
from mmengine.runner import Runner

from mmdtme.registry import HOOKS
from mmdtme.utils import add_runtime_arguments, load_config, parse_tool_args, setup_runtime, teardown_distributed


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='DTME token-space analysis only (no training)')
    parser.add_argument('config', help='config file with a DTMEViT backbone')
    parser.add_argument('--checkpoint', help='analyse these weights instead of the initial (pretrained) ones')
    parser.add_argument('--out', help='report directory (default: the work dir)')
    add_runtime_arguments(parser)
    return parse_tool_args(parser)


def main() -> None:
    args = parse_args()
    cfg = load_config(args.config, args.out, args.cfg_options, args.launcher)
    hook_cfgs = [hook for hook in cfg.get('custom_hooks', []) if hook.get('type') == 'DTMEHook']
    hook_cfg = dict(hook_cfgs[0]) if hook_cfgs else dict(type='DTMEHook')
    hook_cfg.pop('plan_file', None)
    cfg.custom_hooks = [hook for hook in cfg.get('custom_hooks', []) if hook.get('type') != 'DTMEHook']
    setup_runtime(cfg)
    runner = Runner.from_cfg(cfg)
    model = runner.model.module if is_model_wrapper(runner.model) else runner.model
    if args.checkpoint:
        runner.load_checkpoint(args.checkpoint)
    else:
        model.init_weights()  # e.g. the pretrained ViT, as at the start of training
    hook = HOOKS.build(hook_cfg)
    plan = hook.analyse(runner)
    runner.logger.info(f'DTME analysis:\n{plan.summary_table()}')
    hook.write_report(runner, plan)
    teardown_distributed()


if __name__ == '__main__':
    main()
