import pytest
import torch

from mmdtme.models.losses import MaskedL1Loss


def test_masked_l1_ignores_pixels_whose_every_channel_is_the_ignore_value():
    target = torch.tensor([[[[0.5, 255.0]], [[-1.0, 255.0]]]])  # B=1, C=2, 1×2: pixel 2 ignored
    pred = torch.tensor([[[[0.0, 7.0]], [[1.0, -3.0]]]], requires_grad=True)
    loss = MaskedL1Loss(ignore_value=255.0, loss_weight=2.0)(pred, target)
    assert loss.item() == pytest.approx(2.0 * (0.5 + 2.0) / 2)
    loss.backward()
    assert pred.grad[..., 1].abs().sum() == 0  # nothing flows from the ignored pixel
    assert pred.grad[0, :, 0, 0].tolist() == [-1.0, 1.0]  # weight 2 · sign(error) / 2 valid values


def test_masked_l1_keeps_a_pixel_with_one_channel_at_the_ignore_value():
    # only "all channels" marks a pixel; a lone 255 in one channel is a (huge) target, not ignore
    target = torch.tensor([[[[255.0]], [[0.0]]]])
    assert MaskedL1Loss(ignore_value=255.0)(torch.zeros(1, 2, 1, 1), target).item() == pytest.approx(127.5)


def test_masked_l1_refuses_mismatched_channels():
    with pytest.raises(ValueError, match='output channels'):
        MaskedL1Loss(ignore_value=255.0)(torch.zeros(1, 1, 2, 2), torch.zeros(1, 2, 2, 2))
