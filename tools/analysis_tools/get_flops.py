"""Parameters and FLOPs of a config's model: ``python tools/analysis_tools/get_flops.py CONFIG [--shape H W]``.

FLOPs are multiply-adds (the convention of the published tables) of one image of the config's test size
(``model.data_preprocessor.size``, else ``crop_size``, else the backbone's ``img_size``) through the whole model
(backbone, neck and heads), counted by :mod:`mmdtme.utils.complexity`, as ``summarize.py`` and ``benchmark.py`` count.

A DTME config counts the model before expansion, and says so; with ``--plan dtme_plan.json`` (written to the work
dir by ``DTMEHook``) or ``--checkpoint CKPT`` (an expanded checkpoint, which stores its plan) it also counts the
model expanded with that plan and the parameter overhead in per cent.
"""
import argparse
import os.path as osp

import torch
from mmengine.config import Config, DictAction

import mmdtme  # noqa: F401  (registers the models)
from mmdtme.dtme import Plan
from mmdtme.utils.complexity import config_complexity, human


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Parameters and FLOPs of the model of a config')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape', type=int, nargs=2, metavar=('H', 'W'), help='input size (default: the config\'s test size)')
    parser.add_argument('--plan', help='a DTME plan (dtme_plan.json): also count the expanded model')
    parser.add_argument('--checkpoint', help='an expanded DTME checkpoint: also count the model of its stored plan')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args()


def plan_of_checkpoint(path: str) -> Plan:
    """The DTME plan an expanded checkpoint stores (in its state dict, or its meta)."""
    if not osp.isfile(path):
        raise SystemExit(f'--checkpoint {path!r} does not exist')
    checkpoint = torch.load(path, map_location='cpu', weights_only=False)
    plan = Plan.from_state_dict(checkpoint.get('state_dict', checkpoint))
    if plan is None and 'dtme_plan' in checkpoint.get('meta', {}):
        plan = Plan.from_dict(checkpoint['meta']['dtme_plan'])
    if plan is None:
        raise SystemExit(f'--checkpoint {path!r} holds no DTME plan (a model from before the expansion, or not a '
                         'DTME run); count its config without --checkpoint')
    return plan


def is_dtme_config(cfg) -> bool:
    return cfg.model.get('backbone', {}).get('type') == 'DTMEViT' or any(
        hook.get('type') == 'DTMEHook' for hook in cfg.get('custom_hooks', []))


def main() -> None:
    args = parse_args()
    if args.plan is not None and args.checkpoint is not None:
        raise SystemExit('give --plan or --checkpoint, not both')
    if args.plan is not None and not osp.isfile(args.plan):
        raise SystemExit(f'--plan {args.plan!r} does not exist')
    plan = plan_of_checkpoint(args.checkpoint) if args.checkpoint is not None else args.plan
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        result = config_complexity(cfg, args.shape, plan)
    except ValueError as error:
        raise SystemExit(str(error))
    height, width = result['shape']
    print(f'input: 1x3x{height}x{width}')
    print(f'params: {human(result["params"], 1e6)} M')
    print(f'FLOPs: {human(result["flops"], 1e9)} G (multiply-adds)')
    if plan is not None:
        added = result['params_expanded'] - result['params']
        print(f'expanded with the plan of {args.plan or args.checkpoint}: params '
              f'{human(result["params_expanded"], 1e6)} M (+{human(added, 1e6)} M, '
              f'+{100.0 * added / result["params"]:.3f} %), FLOPs '
              f'{human(result["flops_expanded"], 1e9)} G ({result["flops_expanded"] / result["flops"]:.2f}x)')
    elif is_dtme_config(cfg):
        print('note: these are the numbers of the model before the DTME expansion (Baseline MT); give --plan '
              'dtme_plan.json or --checkpoint of an expanded run to count the expanded model')


if __name__ == '__main__':
    main()
