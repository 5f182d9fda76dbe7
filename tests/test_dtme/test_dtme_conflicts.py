import math

import pytest
import timm
import torch
import torch.nn.functional as F

from mmdtme.dtme import (ConflictAccumulator, CovarianceAccumulator, pairwise_products, split_token_space,
                         task_gradients, task_pairs)


def _cos(u: torch.Tensor, v: torch.Tensor) -> float:
    denom = float(u.norm() * v.norm())
    return float(u @ v) / denom if denom > 0 else 0.0


def brute_force(grads: torch.Tensor, range_basis: torch.Tensor) -> dict:
    """Per pair (P,): entries, range / null conflicts and cosine sums with explicit projection matrices."""
    T, B, N, C = grads.shape
    P_r = range_basis @ range_basis.T
    P_n = torch.eye(C, dtype=grads.dtype) - P_r
    pairs = [(i, j) for i in range(T) for j in range(i + 1, T)]
    out = {
        key: torch.zeros(len(pairs), dtype=torch.float64)
        for key in ('entries', 'range_conflicts', 'null_conflicts', 'range_cosine_sum', 'null_cosine_sum')
    }
    for p, (i, j) in enumerate(pairs):
        for b in range(B):
            for n in range(N):
                r_i, r_j = P_r @ grads[i, b, n], P_r @ grads[j, b, n]
                n_i, n_j = P_n @ grads[i, b, n], P_n @ grads[j, b, n]
                out['entries'][p] += 1
                out['range_conflicts'][p] += float(r_i @ r_j < 0)
                out['null_conflicts'][p] += float(n_i @ n_j < 0)
                out['range_cosine_sum'][p] += _cos(r_i, r_j)
                out['null_cosine_sum'][p] += _cos(n_i, n_j)
    return out


def _basis(C: int, k: int, seed: int) -> torch.Tensor:
    q, _ = torch.linalg.qr(torch.randn(C, C, generator=torch.Generator().manual_seed(seed), dtype=torch.float64))
    return q[:, :k]


def _assert_matches(acc: ConflictAccumulator, layer: int, ref: dict) -> None:
    pair = acc.pair_scores()
    entries = ref['entries']
    for key, kind in (('range_conflict', 'range_conflicts'), ('null_conflict', 'null_conflicts'),
                      ('range_cosine', 'range_cosine_sum'), ('null_cosine', 'null_cosine_sum')):
        torch.testing.assert_close(pair[key][layer], ref[kind] / entries, rtol=1e-9, atol=1e-9)
        total = float(ref[kind].sum() / entries.sum())
        assert acc.scores()[key][layer].item() == pytest.approx(total, abs=1e-9)


def test_pairwise_products_and_accumulator_match_brute_force():
    T, B, N, C, k = 3, 2, 4, 5, 2
    gen = torch.Generator().manual_seed(0)
    batches = [torch.randn(T, B, N, C, generator=gen, dtype=torch.float64) for _ in range(2)]
    U_r = _basis(C, k, seed=1)
    out = pairwise_products(batches[0], U_r)
    assert out['pairs'].tolist() == [[0, 0, 1], [1, 2, 2]]
    P_r = U_r @ U_r.T
    g = batches[0]
    torch.testing.assert_close(out['full'][1, 1, 2], g[0, 1, 2] @ g[2, 1, 2])
    torch.testing.assert_close(out['range'][2, 0, 3], (P_r @ g[1, 0, 3]) @ (P_r @ g[2, 0, 3]))
    null_1 = g[1, 0, 3] - P_r @ g[1, 0, 3]
    torch.testing.assert_close(out['null'][2, 0, 3], null_1 @ (g[2, 0, 3] - P_r @ g[2, 0, 3]))
    torch.testing.assert_close(out['null_sqnorm'][1, 0, 3], null_1 @ null_1)

    acc = ConflictAccumulator(num_layers=2, num_tasks=T)
    for grads in batches:
        acc.update(1, grads, U_r)
    reference = [brute_force(grads, U_r) for grads in batches]
    ref = {key: reference[0][key] + reference[1][key] for key in reference[0]}
    assert 0 < ref['range_conflicts'].sum() < ref['entries'].sum()  # a non-trivial mix of signs
    _assert_matches(acc, 1, ref)
    assert acc.pairs == [(0, 1), (0, 2), (1, 2)]
    assert all(math.isnan(acc.scores()[key][0].item()) for key in acc.scores())  # layer 0: never updated


def test_crafted_two_task_signs():
    e1 = torch.tensor([[1.0], [0.0]], dtype=torch.float64)
    acc = ConflictAccumulator(num_layers=2, num_tasks=2)
    acc.update(0, torch.tensor([[1.0, 0.0], [-1.0, 1.0]], dtype=torch.float64).view(2, 1, 1, 2), e1)
    acc.update(1, torch.tensor([[1.0, 1.0], [1.0, -1.0]], dtype=torch.float64).view(2, 1, 1, 2), e1)
    scores = {key: value.tolist() for key, value in acc.scores().items()}
    assert scores['range_conflict'] == [1.0, 0.0]
    assert scores['null_conflict'] == [0.0, 1.0]
    assert scores['range_cosine'] == pytest.approx([-1.0, 1.0])
    assert scores['null_cosine'] == pytest.approx([0.0, -1.0])  # layer 0: g1 has no null component


def test_full_range_space_has_no_null_conflicts():
    grads = torch.randn(3, 2, 3, 4, generator=torch.Generator().manual_seed(2), dtype=torch.float64)
    acc = ConflictAccumulator(num_layers=1, num_tasks=3)
    acc.update(0, grads, _basis(4, 4, seed=3))
    assert acc.scores()['null_conflict'].item() == 0.0
    assert acc.scores()['null_cosine'].item() == 0.0
    assert 0.0 < acc.scores()['range_conflict'].item() < 1.0


def test_merge_and_state_tensors():
    T, C = 3, 4
    gen = torch.Generator().manual_seed(4)
    first, second = (torch.randn(T, 2, 3, C, generator=gen, dtype=torch.float64) for _ in range(2))
    U_r = _basis(C, 2, seed=5)
    both, a, b = (ConflictAccumulator(1, T) for _ in range(3))
    both.update(0, first, U_r)
    both.update(0, second, U_r)
    a.update(0, first, U_r)
    b.update(0, second, U_r)
    summed = [x + y for x, y in zip(a.state_tensors(), b.state_tensors())]  # an all_reduce(SUM)
    assert all(t.dtype == torch.float64 for t in summed)
    a.merge(b)
    restored = ConflictAccumulator(1, T)
    restored.load_state_tensors(summed)
    for acc in (a, restored):
        for key, value in acc.scores().items():
            torch.testing.assert_close(value, both.scores()[key])
    with pytest.raises(ValueError, match='cannot merge'):
        a.merge(ConflictAccumulator(1, 2))


def test_conflict_errors():
    acc = ConflictAccumulator(num_layers=2, num_tasks=2)
    grads = torch.zeros(2, 1, 2, 3)
    grads[1, 0, 1, 2] = float('inf')
    acc.update(1, grads, torch.eye(3)[:, :1])  # counted on the device, reported when the scores are read
    with pytest.raises(ValueError, match='non-finite gradient at layer 1'):
        acc.scores()
    with pytest.raises(ValueError, match=r'T=2.*\(3, 1, 2, 3\)'):
        acc.update(0, torch.zeros(3, 1, 2, 3), torch.eye(3)[:, :1])
    with pytest.raises(ValueError, match=r'range_basis must be \(C=3, k\)'):
        acc.update(0, torch.zeros(2, 1, 2, 3), torch.eye(4))
    with pytest.raises(ValueError, match='at least 2 tasks'):
        ConflictAccumulator(num_layers=1, num_tasks=1)
    assert task_pairs(4).shape == (2, 6)


def _vit_block_outputs(model, images):
    x = model.norm_pre(model._pos_embed(model.patch_embed(images)))
    outputs = []
    for block in model.blocks:
        x = block(x)
        outputs.append(x)
    return outputs


def _vit_losses(model, heads, targets, outputs):
    last = model.norm(outputs[-1])  # (B, N, C)
    return [
        F.mse_loss(heads[0](last), targets[0]),  # every token of the last block
        F.mse_loss(heads[1](last[:, :1]), targets[1][:, :1]),  # the class token only
        F.mse_loss(heads[2](outputs[1][:, 1:]), targets[2][:, 1:]),  # patch tokens of block 1: block 2 unused
    ]


def test_task_gradients_and_conflicts_on_a_tiny_vit_match_per_sample_autograd():
    torch.manual_seed(0)
    model = timm.create_model(
        'vit_tiny_patch16_224', img_size=32, patch_size=8, embed_dim=32, depth=3, num_heads=2,
        num_classes=0).double().eval()
    heads = [torch.nn.Linear(32, 2).double() for _ in range(3)]
    B, N, T, L = 2, 17, 3, 3
    images = torch.randn(B, 3, 32, 32, dtype=torch.float64)
    targets = [torch.randn(B, N, 2, dtype=torch.float64) for _ in range(T)]

    outputs = _vit_block_outputs(model, images)
    grads = task_gradients(_vit_losses(model, heads, targets, outputs), outputs, retain_graph=False)
    assert [tuple(g.shape) for g in grads] == [(T, B, N, 32)] * L
    assert grads[2][2].abs().max() == 0  # task 2's loss does not reach block 2
    assert grads[1][2].abs().max() > 0

    covariance = CovarianceAccumulator(L, 32)
    for layer, tokens in enumerate(outputs):
        covariance.update(layer, tokens)
    bases = [split_token_space(covariance.covariance(layer), 0.9).range_basis for layer in range(L)]
    acc = ConflictAccumulator(L, T)
    for layer in range(L):
        acc.update(layer, grads[layer], bases[layer])

    # Reference: one sample at a time (a ViT has no batch coupling), one autograd.grad per task and layer.
    per_sample = torch.zeros(L, T, B, N, 32, dtype=torch.float64)
    for b in range(B):
        outs = _vit_block_outputs(model, images[b:b + 1])
        losses = _vit_losses(model, heads, [target[b:b + 1] for target in targets], outs)
        for t in range(T):
            for layer in range(L):
                (grad, ) = torch.autograd.grad(losses[t], outs[layer], retain_graph=True, allow_unused=True)
                if grad is not None:
                    per_sample[layer, t, b] = grad[0]
    assert 0 < acc.scores()['range_conflict'][0] < 1 and 0 < acc.scores()['null_conflict'][1] < 1
    for layer in range(L):
        torch.testing.assert_close(grads[layer], per_sample[layer] / B)  # mean-reduced batch loss
        _assert_matches(acc, layer, brute_force(per_sample[layer], bases[layer]))


def test_task_gradients_keeps_the_graph_for_a_training_backward():
    x = torch.randn(2, 3, 4, requires_grad=True)
    y = x * 2
    z = y.sin()
    losses = [z.sum(), (z**2).mean()]
    grads = task_gradients(losses, [y, z])  # grads[layer][task]
    torch.testing.assert_close(grads[0][0], y.detach().cos())
    torch.testing.assert_close(grads[1][0], torch.ones(2, 3, 4))
    torch.testing.assert_close(grads[1][1], 2 * z.detach() / z.numel())
    (losses[0] + losses[1]).backward()  # the graph is still there
    assert x.grad is not None
    with pytest.raises(ValueError, match='loss 1 must be a scalar'):
        task_gradients([z.sum(), z], [y])
    with pytest.raises(ValueError, match='block output 0 does not require grad'):
        task_gradients([z.sum()], [y.detach()])


def test_own_stream_gradients_pick_each_tasks_stream():
    from mmdtme.dtme import own_stream_gradients
    T, B, N, C = 3, 2, 4, 5
    shared = torch.randn(T, B, N, C)
    assert own_stream_gradients(shared, B) is shared
    stacked = torch.randn(T, T * B, N, C)
    picked = own_stream_gradients(stacked, B)
    assert picked.shape == (T, B, N, C)
    for t in range(T):
        torch.testing.assert_close(picked[t], stacked[t, t * B:(t + 1) * B])
    with pytest.raises(ValueError, match='stacked'):
        own_stream_gradients(torch.randn(T, 5, N, C), B)
