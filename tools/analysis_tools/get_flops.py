"""Parameters and FLOPs of the model of a config: ``python tools/analysis_tools/get_flops.py CONFIG [--shape H W]``.

FLOPs are multiply-adds (the convention of the published tables) of one image of the config's test size
(``model.data_preprocessor.size``, else ``crop_size``, else the backbone's ``img_size``) through the whole model
(backbone, neck and heads), counted by :mod:`mmdtme.utils.complexity`, as ``summarize.py`` and ``benchmark.py`` count.

A DTME config counts the model before expansion; with ``--plan dtme_plan.json`` (written to the work dir by
``DTMEHook``) it also counts the model expanded with that plan.
"""
import argparse
import os.path as osp

from mmengine.config import Config, DictAction

import mmdtme  # noqa: F401  (registers the models)
from mmdtme.utils.complexity import config_complexity, human


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Parameters and FLOPs of the model of a config')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--shape', type=int, nargs=2, metavar=('H', 'W'), help='input size (default: the config\'s test size)')
    parser.add_argument('--plan', help='a DTME plan (dtme_plan.json): also count the expanded model')
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help='override config settings')
    return parser.parse_args()


def main() -> None:
    args = parse_args()
    if args.plan is not None and not osp.isfile(args.plan):
        raise SystemExit(f'--plan {args.plan!r} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    try:
        result = config_complexity(cfg, args.shape, args.plan)
    except ValueError as error:
        raise SystemExit(str(error))
    height, width = result['shape']
    print(f'input: 1x3x{height}x{width}')
    print(f'params: {human(result["params"], 1e6)} M')
    print(f'FLOPs: {human(result["flops"], 1e9)} G (multiply-adds)')
    if args.plan is not None:
        print(f'expanded with {args.plan}: params {human(result["params_expanded"], 1e6)} M '
              f'(+{human(result["params_expanded"] - result["params"], 1e6)} M), '
              f'FLOPs {human(result["flops_expanded"], 1e9)} G ({result["flops_expanded"] / result["flops"]:.2f}x)')


if __name__ == '__main__':
    main()
