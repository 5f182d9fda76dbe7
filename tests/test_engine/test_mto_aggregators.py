"""MTO gradient aggregators on hand-built gradients with known answers."""
import math

import pytest
import torch

from mmdtme.engine.optimizers import AGGREGATORS

# Two conflicting 2-D task gradients: g1 · g2 = -2 < 0.
G1, G2 = [2.0, 0.0], [-1.0, 1.0]
CONFLICT = torch.tensor([G1, G2], dtype=torch.float64)
ORTHOGONAL = torch.tensor([[2.0, 0.0], [0.0, 1.0]], dtype=torch.float64)


def build(name, **kwargs):
    return AGGREGATORS.build(dict(type=name, **kwargs))


def test_sum_is_gd():
    torch.testing.assert_close(build('Sum')(CONFLICT), torch.tensor([1.0, 1.0], dtype=torch.float64))


def test_pcgrad_projects_each_gradient_off_the_other():
    # g1 - (g1·g2 / |g2|²) g2 = (1, 1); g2 - (g2·g1 / |g1|²) g1 = (0, 1); the update is their sum.
    torch.testing.assert_close(build('PCGrad')(CONFLICT), torch.tensor([1.0, 2.0], dtype=torch.float64))
    # without conflict nothing is projected
    torch.testing.assert_close(build('PCGrad')(ORTHOGONAL), torch.tensor([2.0, 1.0], dtype=torch.float64))


def test_mgda_returns_the_min_norm_point_of_the_hull():
    # min over α of |α g1 + (1-α) g2|: α* = (g2 - g1)·g2 / |g1 - g2|² = 0.4 -> (0.2, 0.6)
    update = build('MGDA')(CONFLICT)
    torch.testing.assert_close(update, torch.tensor([0.2, 0.6], dtype=torch.float64), atol=1e-6, rtol=0)
    # at the min-norm point, d·g1 = d·g2 = |d|²
    assert (update @ CONFLICT[0]).item() == pytest.approx((update @ CONFLICT[1]).item(), abs=1e-6)


def test_cagrad_maximises_the_worst_task_improvement_in_its_ball():
    c = 0.4
    unscaled = build('CAGrad', c=c, rescale=False)(CONFLICT)
    g0 = CONFLICT.mean(0)
    radius = c * g0.norm()
    # the update lies on the ball |d - g0| <= c |g0| ...
    assert (unscaled - g0).norm().item() == pytest.approx(radius.item(), rel=1e-3)
    # ... where it maximises min_i g_i·d (brute force over the circle)
    angles = torch.linspace(0, 2 * math.pi, 20001, dtype=torch.float64)
    circle = g0 + radius * torch.stack([angles.cos(), angles.sin()], dim=1)
    best = (circle @ CONFLICT.T).min(dim=1).values.max()
    assert (CONFLICT @ unscaled).min().item() == pytest.approx(best.item(), abs=1e-4)
    assert (CONFLICT @ unscaled).min() > (CONFLICT @ g0).min()  # better for the worst task than GD's direction
    # the official code's rescale divides by 1 + c²
    torch.testing.assert_close(build('CAGrad', c=c)(CONFLICT), unscaled / (1 + c**2))


def test_imtl_g_has_equal_projections_on_the_unit_gradients():
    update = build('IMTLG')(CONFLICT)
    units = CONFLICT / CONFLICT.norm(dim=1, keepdim=True)
    projections = units @ update
    assert projections[0].item() == pytest.approx(projections[1].item(), abs=1e-9)
    assert projections[0] > 0
    # d = Σ α_t g_t with Σ α_t = 1
    alpha = torch.linalg.solve(CONFLICT.T, update)
    assert alpha.sum().item() == pytest.approx(1.0, abs=1e-9)
    # closed form of the paper: α_2 = g1·(u1 - u2) / ((g1 - g2)·(u1 - u2))
    u_diff = units[0] - units[1]
    alpha_2 = (CONFLICT[0] @ u_diff) / ((CONFLICT[0] - CONFLICT[1]) @ u_diff)
    torch.testing.assert_close(alpha, torch.stack([1 - alpha_2, alpha_2]))


def test_aligned_mtl_sets_every_singular_value_to_the_smallest():
    # orthogonal gradients of norms 2 and 1: aligned to norm 1 each, update = mean = (0.5, 0.5)
    torch.testing.assert_close(build('AlignedMTL')(ORTHOGONAL), torch.tensor([0.5, 0.5], dtype=torch.float64))


def test_nash_mtl_solves_the_bargaining_equation_and_saves_its_state():
    aggregator = build('NashMTL', num_tasks=2, max_norm=0.0)
    update = aggregator(ORTHOGONAL)
    # G α = 1/α with G = diag(4, 1): α = (1/2, 1) -> update = (1, 1)
    torch.testing.assert_close(update, torch.tensor([1.0, 1.0], dtype=torch.float64), atol=2e-3, rtol=0)
    state = aggregator.state_dict()
    assert int(state['step']) == 1
    torch.testing.assert_close(state['alpha'], torch.tensor([0.5, 1.0], dtype=torch.float64), atol=2e-3, rtol=0)
    restored = build('NashMTL', num_tasks=2, max_norm=0.0)
    restored.load_state_dict(state)
    torch.testing.assert_close(restored(CONFLICT), aggregator(CONFLICT), atol=1e-6, rtol=0)
    # the norm cap
    capped = build('NashMTL', num_tasks=2, max_norm=1.0)(ORTHOGONAL)
    assert capped.norm().item() == pytest.approx(1.0, abs=1e-6)


def test_graddrop_keeps_one_sign_per_coordinate_with_the_sign_purity_odds():
    # every column is (2, -1): P(positive) = ½ (1 + 1/3) = 2/3; the last column agrees in sign: always kept
    columns = 3000
    jacobian = torch.tensor([[2.0] * columns + [1.0], [-1.0] * columns + [3.0]], dtype=torch.float64)
    torch.manual_seed(0)
    update = build('GradDrop')(jacobian)
    conflicting = update[:-1]
    assert set(conflicting.unique().tolist()) == {-1.0, 2.0}  # the positive or the negative part, never a sum
    assert (conflicting == 2.0).double().mean().item() == pytest.approx(2 / 3, abs=0.03)
    assert update[-1].item() == 4.0
    torch.manual_seed(0)
    torch.testing.assert_close(build('GradDrop')(jacobian), update)  # fixed seed: same draw


def test_unknown_aggregator_is_a_clear_error():
    from mmdtme.engine.optimizers.multi_task_optim_wrapper import _build
    with pytest.raises(KeyError, match="unknown gradient aggregator 'PCgrad'.*'PCGrad'"):
        _build(AGGREGATORS, dict(type='PCgrad'), 2, 'gradient aggregator')
