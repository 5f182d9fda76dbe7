"""MTO loss weighting (UW, DWA, FAMO, IMTL-L) against their formulas."""
import math

import pytest
import torch
import torch.nn.functional as F

from mmdtme.engine.optimizers import DWA, FAMO, IMTLL, UW


def test_uw_weights_by_the_learned_log_variances():
    weighter = UW(3)
    with torch.no_grad():
        weighter.log_vars.copy_(torch.tensor([0.0, math.log(2.0), -1.0]))
    losses = torch.tensor([1.0, 2.0, 3.0], requires_grad=True)
    weighted = weighter(losses, losses.detach())
    expected = [0.5 * 1.0, 0.5 * 2.0 / 2 + 0.5 * math.log(2.0), 0.5 * math.e * 3.0 - 0.5]
    torch.testing.assert_close(weighted, torch.tensor(expected))
    weighted.sum().backward()
    # ∂/∂s_t = ½ - ½ e^{-s_t} ℓ_t: zero at the optimum s_t = log ℓ_t (task 2)
    torch.testing.assert_close(weighter.log_vars.grad, torch.tensor([0.0, 0.0, 0.5 - 0.5 * math.e * 3.0]))
    torch.testing.assert_close(weighter.weights(), torch.tensor([0.5, 0.25, 0.5 * math.e]))
    assert weighter.optimizer_parameters() == [weighter.log_vars]


def test_imtl_l_scales_and_regularises():
    weighter = IMTLL(2)
    with torch.no_grad():
        weighter.log_scales.copy_(torch.tensor([0.0, 1.0]))
    losses = torch.tensor([2.0, 3.0])
    torch.testing.assert_close(weighter(losses, losses), torch.tensor([2.0, math.e * 3.0 - 1.0]))


def test_dwa_uses_the_loss_ratio_of_the_last_two_epochs():
    weighter = DWA(2, temperature=2.0, interval=2)
    losses = torch.tensor([1.0, 1.0])
    epochs = [[4.0, 2.0], [6.0, 2.0], [2.0, 1.0], [2.0, 1.0], [1.0, 1.0], [1.0, 1.0]]  # two steps per epoch
    seen = []
    for step_losses in epochs:
        seen.append(weighter.weights().clone())
        weighter.after_update(torch.tensor(step_losses))
    # uniform for the first two epochs (4 steps here); then epoch averages (5, 2) and (2, 1): ratios (0.4, 0.5)
    for weights in seen[:4]:
        torch.testing.assert_close(weights, torch.ones(2))
    expected = 2 * F.softmax(torch.tensor([0.4, 0.5]) / 2.0, dim=0)
    torch.testing.assert_close(seen[4], expected)
    assert seen[4].sum().item() == pytest.approx(2.0)
    # after the third epoch (1, 1): ratios (1/2, 1)
    latest = 2 * F.softmax(torch.tensor([0.5, 1.0]) / 2.0, dim=0)
    torch.testing.assert_close(weighter.weights(), latest)
    torch.testing.assert_close(weighter(torch.tensor([3.0, 5.0]), losses), latest * torch.tensor([3.0, 5.0]))
    # the history is module state: a fresh weighter with it continues identically
    restored = DWA(2, temperature=2.0, interval=2)
    restored.load_state_dict(weighter.state_dict())
    torch.testing.assert_close(restored.weights(), weighter.weights())


def test_famo_gradient_and_logit_update_follow_the_paper():
    weighter = FAMO(3, lr=0.1, weight_decay=0.0)
    with torch.no_grad():
        weighter.logits.copy_(torch.tensor([0.5, 0.0, -0.5]))
    z = F.softmax(weighter.logits.detach(), dim=0)
    losses = torch.tensor([2.0, 0.5, 1.0], requires_grad=True)
    weighter(losses, losses.detach()).sum().backward()
    # gradient c Σ z_t ∇ log ℓ_t: ∂/∂ℓ_t = c z_t / ℓ_t with c = 1 / Σ z_t / ℓ_t
    c = 1 / (z / losses.detach()).sum()
    torch.testing.assert_close(losses.grad, c * z / losses.detach())

    after = torch.tensor([1.0, 0.45, 0.5])
    weighter.after_update(losses.detach(), lambda: after)
    # one Adam step (lr 0.1) on J_softmaxᵀ δ, δ = log ℓ_before - log ℓ_after; Adam's first step is lr · sign
    delta = torch.log(losses.detach()) - torch.log(after)
    jacobian = torch.diag(z) - torch.outer(z, z)
    grad = jacobian.T @ delta
    expected = torch.tensor([0.5, 0.0, -0.5]) - 0.1 * torch.sign(grad)
    torch.testing.assert_close(weighter.logits.detach(), expected, atol=1e-6, rtol=0)
    # the task whose loss fell least (task 2) gains weight
    assert F.softmax(weighter.logits.detach(), 0)[1] > z[1]
    # its Adam state is in the state dict
    restored = FAMO(3, lr=0.1, weight_decay=0.0)
    restored.load_state_dict(weighter.state_dict())
    assert restored.optimizer.state_dict()['state'][0]['step'] == 1
    torch.testing.assert_close(restored.logits, weighter.logits)


def test_famo_without_recompute_is_a_clear_error():
    weighter = FAMO(2)
    weighter(torch.ones(2), torch.ones(2))
    with pytest.raises(RuntimeError, match='recompute'):
        weighter.after_update(torch.ones(2), None)


def test_dwa_counts_epochs_on_the_device_without_host_reads():
    # meta tensors have no data: a Python branch on one of them (int(), .item(), bool()) raises
    dwa = DWA(num_tasks=3, interval=2).to('meta')
    losses = torch.empty(3, device='meta')
    for _ in range(5):
        dwa(losses, losses)
        dwa.after_update(losses)
    assert dwa.weights().device.type == 'meta'
