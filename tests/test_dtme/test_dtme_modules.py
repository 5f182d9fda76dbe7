import pytest
import torch
from timm.models.vision_transformer import Block

from mmdtme.dtme import BNTokenModulation, TokenExpansion, TokenModulation, stack_task_streams, unstack_task_streams

T, B, N, C = 3, 2, 5, 8


def _randn(*shape, seed: int = 0) -> torch.Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def test_stack_and_unstack_task_streams():
    x = _randn(B, N, C)
    stacked = stack_task_streams(x, T)
    assert stacked.shape == (T * B, N, C)
    streams = unstack_task_streams(stacked, T)
    assert streams.shape == (T, B, N, C)
    for t in range(T):
        assert torch.equal(streams[t], x)
        assert torch.equal(stacked[t * B:(t + 1) * B], x)  # task-major layout
    y = _randn(T * B, N, C, seed=1)
    assert torch.equal(unstack_task_streams(y, T).flatten(0, 1), y)
    assert unstack_task_streams(_randn(T * B, 4, seed=2), T).shape == (T, B, 4)
    with pytest.raises(ValueError, match='7 rows cannot hold 3 task streams'):
        unstack_task_streams(_randn(7, N, C), T)


def test_token_modulation_is_the_identity_at_init():
    tm = TokenModulation(num_tasks=T, channels=C)
    assert tm.weight.shape == tm.bias.shape == (T, 1, 1, C)
    x = _randn(T * B, N, C).float()
    assert torch.equal(tm(x), x)


def test_token_modulation_matches_a_per_task_loop():
    tm = TokenModulation(num_tasks=T, channels=C).double()
    with torch.no_grad():
        tm.weight.copy_(_randn(T, 1, 1, C, seed=1))
        tm.bias.copy_(_randn(T, 1, 1, C, seed=2))
    x = _randn(T * B, N, C, seed=3)
    expected = torch.cat([x[t * B:(t + 1) * B] * tm.weight[t, 0, 0] + tm.bias[t, 0, 0] for t in range(T)])
    torch.testing.assert_close(tm(x), expected)
    with pytest.raises(ValueError, match=r'C=8.*\(6, 5, 4\)'):
        tm(_randn(T * B, N, 4))


def test_bn_token_modulation_normalises_each_task_stream():
    bn = BNTokenModulation(num_tasks=T, channels=C).double()
    with torch.no_grad():
        bn.weight.copy_(_randn(T, 1, 1, C, seed=1))
        bn.bias.copy_(_randn(T, 1, 1, C, seed=2))
    x = _randn(T * B, N, C, seed=3) * 3 + 1
    out = bn(x)
    for t in range(T):
        stream = x[t * B:(t + 1) * B].reshape(-1, C)  # (B·N, C)
        normed = (stream - stream.mean(0)) / (stream.var(0, unbiased=False) + bn.eps).sqrt()
        expected = normed * bn.weight[t, 0, 0] + bn.bias[t, 0, 0]
        torch.testing.assert_close(out[t * B:(t + 1) * B].reshape(-1, C), expected)
        torch.testing.assert_close(bn.running_mean[t, 0, 0], 0.1 * stream.mean(0))
    bn.eval()
    expected_eval = (x.view(T, B, N, C) - bn.running_mean) / (bn.running_var + bn.eps).sqrt() * bn.weight + bn.bias
    torch.testing.assert_close(bn(x), expected_eval.flatten(0, 1))


def test_token_expansion_appends_each_tasks_tokens_after_the_sequence():
    te = TokenExpansion(num_tasks=T, channels=C, num_tokens=2).double()
    assert te.tokens.shape == (T, 2, C)
    assert 0 < te.tokens.abs().max() <= 0.04  # truncated normal, std 0.02, cut at 2 std
    x = _randn(T * B, N, C)
    expanded = te.expand(x)
    assert expanded.shape == (T * B, N + 2, C)
    assert torch.equal(expanded[:, :N], x)  # original tokens (class token included) keep their positions
    for t in range(T):
        for b in range(B):
            assert torch.equal(expanded[t * B + b, N:], te.tokens[t])
    dropped = te.drop(expanded)
    assert dropped.shape == (T * B, N, C) and torch.equal(dropped, x)
    with pytest.raises(ValueError, match='num_tokens must be >= 1, got 0'):
        TokenExpansion(num_tasks=T, channels=C, num_tokens=0)


def test_block_on_stacked_streams_equals_a_per_task_loop():
    torch.manual_seed(0)
    block = Block(dim=C, num_heads=2).double().eval()
    tm = TokenModulation(num_tasks=T, channels=C).double()
    te = TokenExpansion(num_tasks=T, channels=C, num_tokens=3).double()
    with torch.no_grad():
        tm.weight.copy_(1 + 0.5 * _randn(T, 1, 1, C, seed=1))
        tm.bias.copy_(0.5 * _randn(T, 1, 1, C, seed=2))
        te.tokens.copy_(_randn(T, 3, C, seed=3))
    x = _randn(B, N, C, seed=4)
    out = te.drop(block(te.expand(tm(stack_task_streams(x, T)))))  # one block call for all tasks
    streams = unstack_task_streams(out, T)
    for t in range(T):
        x_t = x * tm.weight[t, 0, 0] + tm.bias[t, 0, 0]
        x_t = torch.cat([x_t, te.tokens[t].expand(B, 3, C)], dim=1)
        torch.testing.assert_close(streams[t], block(x_t)[:, :N])
    out.sum().backward()
    assert all(te.tokens.grad[t].abs().sum() > 0 for t in range(T))
    assert all(tm.weight.grad[t].abs().sum() > 0 for t in range(T))
