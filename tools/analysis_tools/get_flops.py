"""Parameters and FLOPs of the model of a config: ``python tools/analysis_tools/get_flops.py CONFIG [--shape H W]``.

FLOPs are counted as mmengine / fvcore do (one multiply-add = one FLOP, the convention of the published tables), for
one image of the config's test size (``model.data_preprocessor.size``, else ``crop_size``, else the backbone's
``img_size``) through the whole model (backbone and heads). mmengine has no rule for
``scaled_dot_product_attention``, which timm's ViTs call; it is counted here (QKᵀ and AV: B·heads·Lq·Lk·(E + Ev)).

A DTME config counts the model before expansion; with ``--plan dtme_plan.json`` (written to the work dir by
``DTMEHook``) it also counts the model expanded with that plan.
"""
import argparse
import os.path as osp
import sys
from typing import Any, Dict, List, Optional, Sequence, Tuple

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))  # run from a checkout

import torch  # noqa: E402
from mmengine.analysis import FlopAnalyzer, parameter_count  # noqa: E402
from mmengine.analysis.jit_handles import get_shape  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402


def sdpa_flop_jit(inputs: List[Any], outputs: List[Any]) -> int:
    """Multiply-adds of ``aten::scaled_dot_product_attention``: QKᵀ (Lq·Lk·E) and AV (Lq·Lk·Ev) per head."""
    query, key, value = (get_shape(inputs[index]) for index in range(3))
    batch_heads = 1
    for size in query[:-2]:
        batch_heads *= size
    return batch_heads * query[-2] * key[-2] * (query[-1] + value[-1])


def test_input_shape(cfg: Config) -> Tuple[int, int]:
    """(H, W) of a test image as the model sees it: the preprocessor's pad size, else ``crop_size``, else the
    backbone's ``img_size``."""
    for candidate in (cfg.model.get('data_preprocessor', {}).get('size'), cfg.get('crop_size'),
                      cfg.model.get('backbone', {}).get('img_size')):
        if candidate is not None:
            if isinstance(candidate, int):
                return candidate, candidate
            return int(candidate[0]), int(candidate[1])
    raise ValueError('cannot tell the test image size from the config (no model.data_preprocessor.size, crop_size '
                     'or model.backbone.img_size); pass --shape H W')


def build_model(cfg: Config, plan_path: Optional[str] = None) -> torch.nn.Module:
    """The config's model in eval mode on the CPU (no pretrained weights), expanded with the DTME plan if given."""
    import mmdtme  # noqa: F401  (registers the models)
    from mmdtme.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmdtme'))
    model_cfg = cfg.model.copy()
    if model_cfg.get('backbone', {}).get('pretrained') is not None:
        model_cfg.backbone.pretrained = None  # complexity does not depend on the weights
    model = MODELS.build(model_cfg)
    if plan_path is not None:
        from mmdtme.dtme import Plan
        if not hasattr(model.backbone, 'expand'):
            raise ValueError(f'--plan {plan_path!r} needs a DTMEViT backbone, but the config builds '
                             f'{type(model.backbone).__name__}')
        model.backbone.expand(Plan.load(plan_path))
    return model.eval()


def count_complexity(model: torch.nn.Module, shape: Sequence[int]) -> Dict[str, float]:
    """``{'params': int, 'flops': int}`` of one forward of a 1×3×H×W input (``mode='tensor'``)."""
    inputs = torch.zeros(1, 3, int(shape[0]), int(shape[1]))
    analyzer = FlopAnalyzer(model, (inputs, ))
    analyzer.set_op_handle('aten::scaled_dot_product_attention', sdpa_flop_jit)
    analyzer.unsupported_ops_warnings(False)
    analyzer.uncalled_modules_warnings(False)
    with torch.no_grad():
        flops = analyzer.total()
    return dict(params=parameter_count(model)[''], flops=flops)


def config_complexity(cfg: Config, shape: Optional[Sequence[int]] = None,
                      plan_path: Optional[str] = None) -> Dict[str, Any]:
    """Params / FLOPs of a config's model at ``shape`` (default: its test size); with ``plan_path`` also of the
    model expanded with that DTME plan (keys ``params_expanded`` / ``flops_expanded``)."""
    shape = tuple(shape) if shape is not None else test_input_shape(cfg)
    result: Dict[str, Any] = dict(shape=shape, **count_complexity(build_model(cfg), shape))
    if plan_path is not None:
        expanded = count_complexity(build_model(cfg, plan_path), shape)
        result.update(params_expanded=expanded['params'], flops_expanded=expanded['flops'])
    return result


def human(value: float, unit: float) -> str:
    """``value / unit`` with two decimals, or three significant digits below 1 (tiny test models)."""
    scaled = value / unit
    return f'{scaled:.2f}' if abs(scaled) >= 1 or scaled == 0 else f'{scaled:.3g}'


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description='Parameters and FLOPs of the model of a config')
    parser.add_argument('config', help='config file path')
    parser.add_argument('--shape', type=int, nargs=2, metavar=('H', 'W'),
                        help='input size (default: the config\'s test size)')
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
