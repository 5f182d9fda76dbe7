import numpy as np
import pytest
import torch

from mmdtme.dtme import CovarianceAccumulator


def _tokens(seed: int, B: int, N: int, C: int) -> torch.Tensor:
    return torch.randn(B, N, C, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_covariance_matches_numpy_with_uneven_chunks():
    L, C = 2, 5
    data = [_tokens(layer, 7, 3, C) + layer for layer in range(L)]  # non-zero mean: uncentered matters
    acc = CovarianceAccumulator(L, C)
    for layer in range(L):
        for start, stop in ((0, 1), (1, 4), (4, 7)):  # chunks of 1, 3 and 3 samples
            acc.update(layer, data[layer][start:stop].float() if start == 1 else data[layer][start:stop])
    for layer in range(L):
        x = data[layer].reshape(-1, C).numpy()
        expected = x.T @ x / x.shape[0]
        assert acc.count(layer) == 21
        assert acc.covariance(layer).dtype == torch.float64
        np.testing.assert_allclose(acc.covariance(layer).numpy(), expected, rtol=1e-6, atol=1e-6)


def test_merge_equals_one_accumulator_fed_everything():
    C = 4
    first, second = _tokens(0, 3, 2, C), _tokens(1, 5, 2, C)
    both = CovarianceAccumulator(1, C)
    both.update(0, first)
    both.update(0, second)
    a, b = CovarianceAccumulator(1, C), CovarianceAccumulator(1, C)
    a.update(0, first)
    b.update(0, second)
    a.merge(b)
    assert a.count(0) == both.count(0) == 16
    torch.testing.assert_close(a.covariance(0), both.covariance(0), rtol=1e-12, atol=1e-12)
    with pytest.raises(ValueError, match='cannot merge'):
        a.merge(CovarianceAccumulator(1, C + 1))


def test_state_tensors_round_trip_as_an_all_reduce_would():
    C = 3
    a, b = CovarianceAccumulator(2, C), CovarianceAccumulator(2, C)
    a.update(0, _tokens(0, 2, 4, C))
    b.update(0, _tokens(1, 2, 4, C))
    b.update(1, _tokens(2, 1, 4, C))
    summed = [x + y for x, y in zip(a.state_tensors(), b.state_tensors())]  # what all_reduce(SUM) gives
    assert all(t.dtype == torch.float64 for t in summed)
    reduced = CovarianceAccumulator(2, C)
    reduced.load_state_tensors(summed)
    a.merge(b)
    for layer in range(2):
        assert reduced.count(layer) == a.count(layer)
        torch.testing.assert_close(reduced.covariance(layer), a.covariance(layer))
    with pytest.raises(ValueError, match='do not match'):
        reduced.load_state_tensors([torch.zeros(1, C, C), torch.zeros(1), torch.zeros(1)])


def test_empty_layer_and_bad_input_errors():
    acc = CovarianceAccumulator(2, 3)
    acc.update(0, torch.ones(1, 2, 3))
    with pytest.raises(ValueError, match='layer 1.*analysis set was empty'):
        acc.covariance(1)
    with pytest.raises(ValueError, match='4 channels'):
        acc.update(0, torch.ones(1, 2, 4))
    with pytest.raises(IndexError, match='layer 2'):
        acc.update(2, torch.ones(1, 2, 3))
    acc.update(0, torch.full((1, 1, 3), float('nan')))  # counted on the device, reported when read
    with pytest.raises(ValueError, match='non-finite tokens at layer 0'):
        acc.covariance(0)
