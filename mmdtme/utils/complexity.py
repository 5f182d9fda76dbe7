"""Parameters and FLOPs of a model, counted one way for every tool (``get_flops.py``, ``summarize.py``,
``benchmark.py``).

FLOPs are multiply-adds (one multiply-add = one FLOP, the convention of fvcore / mmengine and of the published tables),
counted by torch's ``FlopCounterMode`` at the dispatcher: every matmul, convolution and attention kernel that runs,
forward and backward alike, whatever module calls it (timm's ``scaled_dot_product_attention`` included, on the CPU
through the rules below). Element-wise
work (norms, activations, resizing) is not counted, as in the published tables' counts of ViTs.
"""
from typing import Any, Callable, Dict, Optional, Sequence, Tuple

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import (FlopCounterMode, flop_registry, register_flop_formula, sdpa_backward_flop_count,
                                      sdpa_flop_count)

# FlopCounterMode knows the CUDA attention kernels but not the CPU one that scaled_dot_product_attention runs on the
# CPU; without these rules a ViT's attention would count as zero there (QKᵀ and AV, and their backward).
_CPU_ATTENTION = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu
_CPU_ATTENTION_BACKWARD = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu_backward
if _CPU_ATTENTION not in flop_registry:
    register_flop_formula(_CPU_ATTENTION)(
        lambda query, key, value, *args, out_shape=None, **kwargs: sdpa_flop_count(query, key, value))
if _CPU_ATTENTION_BACKWARD not in flop_registry:
    register_flop_formula(_CPU_ATTENTION_BACKWARD)(lambda grad_out, query, key, value, *args, out_shape=None, **kwargs:
                                                   sdpa_backward_flop_count(grad_out, query, key, value))


def count_flops(fn: Callable[[], Any]) -> int:
    """Multiply-adds of everything ``fn()`` runs (forward, backward, several calls alike)."""
    counter = FlopCounterMode(display=False)
    with counter:
        fn()
    return counter.get_total_flops() // 2  # FlopCounterMode counts a multiply-add as two FLOPs


def count_parameters(model: torch.nn.Module) -> int:
    """Number of parameter values of ``model`` (shared parameters once)."""
    return sum(parameter.numel() for parameter in model.parameters())


def count_complexity(model: torch.nn.Module, shape: Sequence[int]) -> Dict[str, int]:
    """``{'params': int, 'flops': int}`` of one forward of a 1×3×H×W input (a segmentor's default ``mode='tensor'``),
    without gradients."""
    inputs = torch.zeros(1, 3, int(shape[0]), int(shape[1]))

    def forward() -> None:
        with torch.no_grad():
            model(inputs)

    return dict(params=count_parameters(model), flops=count_flops(forward))


def eval_input_shape(cfg) -> Tuple[int, int]:
    """(H, W) of a test image as the model of ``cfg`` sees it: the preprocessor's pad size, else ``crop_size``, else
    the backbone's ``img_size``."""
    for candidate in (cfg.model.get('data_preprocessor',
                                    {}).get('size'), cfg.get('crop_size'), cfg.model.get('backbone',
                                                                                         {}).get('img_size')):
        if candidate is not None:
            if isinstance(candidate, int):
                return candidate, candidate
            return int(candidate[0]), int(candidate[1])
    raise ValueError('cannot tell the test image size from the config (no model.data_preprocessor.size, crop_size '
                     'or model.backbone.img_size); pass --shape H W')


def build_model_for_counting(cfg, plan_path=None) -> torch.nn.Module:
    """The model of ``cfg`` in eval mode on the CPU without pretrained weights, expanded with a DTME plan (a
    ``Plan`` or the path of its JSON) if given."""
    from mmengine.registry import init_default_scope

    from mmdtme.dtme import Plan
    from mmdtme.registry import MODELS
    init_default_scope(cfg.get('default_scope', 'mmdtme'))
    model_cfg = cfg.model.copy()
    if model_cfg.get('backbone', {}).get('pretrained') is not None:
        model_cfg.backbone.pretrained = None  # complexity does not depend on the weights
    model = MODELS.build(model_cfg)
    if plan_path is not None:
        if not hasattr(model.backbone, 'expand'):
            raise ValueError(f'--plan {plan_path!r} needs a DTMEViT backbone, but the config builds '
                             f'{type(model.backbone).__name__}')
        model.backbone.expand(Plan.load(plan_path) if isinstance(plan_path, str) else plan_path)
    return model.eval()


def config_complexity(cfg, shape: Optional[Sequence[int]] = None, plan_path=None) -> Dict[str, Any]:
    """Params / FLOPs of a config's model at ``shape`` (default: its test size); with ``plan_path`` (a path or a
    ``Plan``) also of the model expanded with that DTME plan (keys ``params_expanded`` / ``flops_expanded``)."""
    shape = tuple(shape) if shape is not None else eval_input_shape(cfg)
    result: Dict[str, Any] = dict(shape=shape, **count_complexity(build_model_for_counting(cfg), shape))
    if plan_path is not None:
        expanded = count_complexity(build_model_for_counting(cfg, plan_path), shape)
        result.update(params_expanded=expanded['params'], flops_expanded=expanded['flops'])
    return result


def human(value: float, unit: float) -> str:
    """``value / unit`` with two decimals, or three significant digits below 1 (tiny test models)."""
    scaled = value / unit
    return f'{scaled:.2f}' if abs(scaled) >= 1 or scaled == 0 else f'{scaled:.3g}'


class MatmulFlopsByDtype(TorchDispatchMode):
    """Multiply-adds of the matrix products that run inside it, per dtype (``flops[torch.float64]`` ...).

    Counts ``mm``, ``addmm``, ``bmm`` and ``baddbmm`` at the dispatcher, which is where ``matmul``, ``linear`` and
    ``einsum`` arrive: the measure of how much of a computation runs in float64 (1/32 to 1/64 of the float32
    speed on consumer GPUs).
    """

    def __init__(self) -> None:
        super().__init__()
        self.flops: Dict[torch.dtype, int] = {}

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        packet = func.overloadpacket
        matrices = None
        if packet in (torch.ops.aten.mm, torch.ops.aten.bmm):
            matrices = args[0], args[1]
        elif packet in (torch.ops.aten.addmm, torch.ops.aten.baddbmm):
            matrices = args[1], args[2]
        if matrices is not None:
            a, b = matrices
            batch = a.shape[0] if a.dim() == 3 else 1
            m, k = a.shape[-2:]
            flops = batch * m * k * b.shape[-1]
            self.flops[a.dtype] = self.flops.get(a.dtype, 0) + flops
        return func(*args, **(kwargs or {}))

    def share(self, dtype: torch.dtype) -> float:
        """The share of ``dtype`` in all counted multiply-adds (0 when nothing was counted)."""
        total = sum(self.flops.values())
        return self.flops.get(dtype, 0) / total if total else 0.0


def saved_tensor_bytes(forward: Callable[[], Any]) -> int:
    """Bytes of the tensors that autograd keeps for the backward pass of what ``forward()`` computes.

    Read with ``torch.autograd.graph.saved_tensors_hooks`` while ``forward`` runs, so it works on any device
    (the CPU included); each storage counts once, however many nodes save it. Checkpointed blocks
    (``with_cp``) keep only their inputs, which is what this measures.
    """
    storages: Dict[int, int] = {}

    def pack(tensor: torch.Tensor) -> torch.Tensor:
        storage = tensor.untyped_storage()
        storages[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        forward()
    return sum(storages.values())
