"""The analysis in the tokens' precision on their device: the float64 plan, no float64 matmul, no host copies."""
import pytest
import torch

from mmdtme.dtme import AnalysisSettings, ConflictAccumulator, CovarianceAccumulator, analyze, pairwise_products
from mmdtme.utils.complexity import MatmulFlopsByDtype
from test_dtme_analysis import TASKS, batches, make_callables, tiny_vit


def test_the_dtype_counter_counts_matmuls_by_hand():
    with MatmulFlopsByDtype() as counter:
        torch.ones(3, 4) @ torch.ones(4, 5)  # mm: 3·4·5
        torch.nn.functional.linear(torch.ones(2, 4), torch.ones(6, 4), torch.ones(6))  # addmm: 2·4·6
        torch.einsum('tbnk,sbnk->tsbn', torch.ones(2, 3, 4, 5, dtype=torch.float64),
                     torch.ones(2, 3, 4, 5, dtype=torch.float64))  # bmm: (2·2·3·4 outputs) · 5
    assert counter.flops == {torch.float32: 60 + 48, torch.float64: 240}
    assert counter.share(torch.float64) == pytest.approx(240 / 348)


def plan_of(dtype: torch.dtype):
    """The plan of the tiny ViT fixture with everything (weights, heads, targets, images) in ``dtype``."""
    vit = tiny_vit().to(dtype)
    block_outputs, task_losses = make_callables(vit, dtype)
    settings = AnalysisSettings(range_variance=0.9, ratio=0.34)
    with MatmulFlopsByDtype() as counter:
        plan = analyze([images.to(dtype) for images in batches()],
                       block_outputs,
                       task_losses,
                       TASKS,
                       num_layers=3,
                       channels=16,
                       settings=settings)
    return plan, counter


def test_float32_analysis_gives_the_float64_plan_without_float64_matmuls():
    plan32, counter32 = plan_of(torch.float32)
    plan64, _ = plan_of(torch.float64)
    assert plan32.ks == plan64.ks
    assert (plan32.tm_layers, plan32.te_layers) == (plan64.tm_layers, plan64.te_layers)
    for key in ('range_conflict', 'null_conflict'):
        assert getattr(plan32, key) == pytest.approx(getattr(plan64, key), abs=1e-4), key
    assert counter32.share(torch.float64) == 0.0 and counter32.flops[torch.float32] > 0


def test_tiny_null_components_keep_their_sign_in_float32():
    T, B, N, C, k = 3, 4, 64, 24, 16
    generator = torch.Generator().manual_seed(0)
    basis, _ = torch.linalg.qr(torch.randn(C, C, generator=generator, dtype=torch.float64))
    U_r, U_n = basis[:, :k], basis[:, k:]
    # large range components, null components 1e-4 of them: f_ij - a_ij in float32 would be rounding noise
    coefficients = torch.randn(T, B, N, C, generator=generator, dtype=torch.float64)
    coefficients[..., k:] *= 1e-4
    grads = coefficients @ basis.T
    reference = pairwise_products(grads, U_r, U_n)  # float64
    direct = pairwise_products(grads.float(), U_r.float(), U_n.float())
    null_sign = (reference['null'] < 0).double().mean()
    assert (direct['null'] < 0).double().mean().item() == pytest.approx(null_sign.item(), abs=1e-4)
    assert ((direct['null'] < 0) == (reference['null'] < 0)).double().mean() > 0.999
    difference = pairwise_products(grads.float(), U_r.float())  # the former float32 path, for contrast
    assert ((difference['null'] < 0) == (reference['null'] < 0)).double().mean() < 0.9


def test_no_statistic_leaves_the_tokens_device():
    # Meta tensors have no data: a copy to the host (.cpu(), .item(), .tolist()) of one of them raises.
    L, T, B, N, C, k = 2, 3, 2, 5, 8, 3
    covariance = CovarianceAccumulator(L, C)
    conflicts = ConflictAccumulator(L, T)
    range_basis, null_basis = torch.empty(C, k, device='meta'), torch.empty(C, C - k, device='meta')
    for _ in range(2):
        for layer in range(L):
            covariance.update(layer, torch.empty(B, N, C, device='meta'))
            conflicts.update(layer, torch.empty(T, B, N, C, device='meta'), range_basis, null_basis)
    assert {t.device.type for t in covariance.state_tensors() + conflicts.state_tensors()} == {'meta'}


def test_non_finite_values_are_reported_when_read():
    covariance = CovarianceAccumulator(2, 3)
    covariance.update(1, torch.tensor([[float('nan'), 0.0, 1.0]]))
    covariance.update(0, torch.ones(1, 3))
    assert covariance.covariance(0).shape == (3, 3)
    with pytest.raises(ValueError, match='non-finite tokens at layer 1'):
        covariance.covariance(1)
