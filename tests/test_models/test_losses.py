import math

import torch

from mmdtme.models.losses import balanced_bce, masked_l1, pixel_cross_entropy
from mmdtme.registry import MODELS


def test_cross_entropy_ignores_label_255():
    logits = torch.tensor([[[[2.0, 0.0]], [[0.0, 5.0]]]])  # B=1, K=2, H=1, W=2
    target = torch.tensor([[[0, 255]]])
    expected = -math.log(math.exp(2) / (math.exp(2) + 1))
    assert math.isclose(pixel_cross_entropy(logits, target).item(), expected, rel_tol=1e-6)


def test_masked_l1_skips_missing_depth():
    loss = MODELS.build(dict(type='MaskedL1Loss', ignore_value=0.0, loss_weight=2.0))
    pred = torch.tensor([[[[1.0, 5.0, 9.0]]]])
    target = torch.tensor([[[[2.0, 0.0, 6.0]]]])  # the middle pixel has no depth
    assert math.isclose(loss(pred, target).item(), 2.0 * (1.0 + 3.0) / 2)


def test_normal_l1_normalises_prediction_and_skips_zero_normals():
    loss = MODELS.build(dict(type='NormalL1Loss'))
    pred = torch.tensor([0.0, 0.0, 10.0]).view(1, 3, 1, 1).repeat(1, 1, 1, 2)
    target = torch.tensor([[0.0, 0.0], [0.0, 0.0], [1.0, 0.0]]).view(1, 3, 1, 2)  # second pixel: no normal
    assert loss(pred, target).item() == 0.0
    target[0, :, 0, 0] = torch.tensor([1.0, 0.0, 0.0])
    assert math.isclose(loss(pred, target).item(), 2.0 / 3.0, rel_tol=1e-6)


def test_balanced_bce_weights_positives_by_pos_weight():
    logits = torch.zeros(1, 1, 1, 3)
    target = torch.tensor([[[[1, 0, 255]]]])
    # BCE of logit 0 is log 2 for either label; weights 0.95 (edge) and 0.05 (non-edge), 2 labelled pixels
    assert math.isclose(balanced_bce(logits, target, 0.95).item(), math.log(2) * (0.95 + 0.05) / 2, rel_tol=1e-6)
    # batch-balanced: 1 of 2 labelled pixels is an edge -> weights 0.5 / 0.5
    assert math.isclose(balanced_bce(logits, target, None).item(), math.log(2) * 0.5, rel_tol=1e-6)


def test_masked_l1_with_no_valid_pixel_is_zero():
    assert masked_l1(torch.ones(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2, dtype=torch.bool)) == 0
