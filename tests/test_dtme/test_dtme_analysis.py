import pytest
import timm
import torch

from mmdtme.dtme import (AnalysisSettings, ConflictAccumulator, CovarianceAccumulator, analyze, split_token_space,
                         task_gradients)

TASKS = ['a', 'b', 'c']


def tiny_vit():
    torch.manual_seed(0)
    return timm.create_model(
        'vit_tiny_patch16_224', img_size=16, patch_size=8, embed_dim=16, depth=3, num_heads=2, num_classes=0).eval()


def make_callables(vit, dtype=torch.float32):
    heads = torch.nn.ModuleList(torch.nn.Linear(16, 2) for _ in TASKS).to(dtype)
    targets = [torch.randn(2).to(dtype) for _ in TASKS]

    def block_outputs(images):
        x = vit.norm_pre(vit.patch_drop(vit._pos_embed(vit.patch_embed(images))))
        outputs = []
        for block in vit.blocks:
            x = block(x)
            outputs.append(x)
        return outputs

    def task_losses(images):
        outputs = block_outputs(images)
        pooled = outputs[-1].mean(dim=1)
        losses = {task: (head(pooled) - target).pow(2).mean() for task, head, target in zip(TASKS, heads, targets)}
        return losses, outputs

    return block_outputs, task_losses


def batches():
    generator = torch.Generator().manual_seed(1)
    return [torch.randn(2, 3, 16, 16, generator=generator) for _ in range(3)]


def test_analyze_equals_the_composed_steps():
    vit = tiny_vit()
    block_outputs, task_losses = make_callables(vit)
    settings = AnalysisSettings(range_variance=0.9, ratio=0.34)
    plan = analyze(batches(), block_outputs, task_losses, TASKS, num_layers=3, channels=16, settings=settings)

    covariance = CovarianceAccumulator(3, 16)
    for images in batches():
        with torch.no_grad():
            for layer, tokens in enumerate(block_outputs(images)):
                covariance.update(layer, tokens)
    spaces = [split_token_space(covariance.covariance(layer), 0.9) for layer in range(3)]
    conflicts = ConflictAccumulator(3, 3)
    for images in batches():
        losses, outputs = task_losses(images)
        for layer, grads in enumerate(task_gradients([losses[t] for t in TASKS], outputs)):
            conflicts.update(layer, grads, spaces[layer].range_basis.float(), spaces[layer].null_basis.float())
    scores = conflicts.scores()

    assert plan.ks == [space.k for space in spaces]
    torch.testing.assert_close(torch.tensor(plan.range_conflict, dtype=torch.float64), scores['range_conflict'])
    torch.testing.assert_close(torch.tensor(plan.null_conflict, dtype=torch.float64), scores['null_conflict'])
    assert len(plan.tm_layers) == len(plan.te_layers) == 2  # ceil(0.34 * 3)
    assert plan.tm_layers == sorted(torch.topk(scores['range_conflict'], 2).indices.tolist())
    assert plan.tasks == TASKS and plan.range_variance == 0.9


def test_reduce_sees_float64_statistics_of_both_passes():
    vit = tiny_vit()
    block_outputs, task_losses = make_callables(vit)
    reduced = []
    analyze(batches(), block_outputs, task_losses, TASKS, 3, 16, reduce=lambda tensors: reduced.append(tensors))
    assert len(reduced) == 2 and all(t.dtype == torch.float64 for tensors in reduced for t in tensors)


def test_empty_analysis_set_is_a_clear_error():
    vit = tiny_vit()
    block_outputs, task_losses = make_callables(vit)
    with pytest.raises(ValueError, match='analysis set was empty'):
        analyze([], block_outputs, task_losses, TASKS, 3, 16)


def test_single_task_is_refused():
    vit = tiny_vit()
    block_outputs, task_losses = make_callables(vit)
    with pytest.raises(ValueError, match='at least 2 tasks'):
        analyze(batches(), block_outputs, task_losses, ['a'], 3, 16)


def test_nan_gradient_names_the_layer():
    vit = tiny_vit()
    block_outputs, _ = make_callables(vit)

    def nan_losses(images):
        outputs = block_outputs(images)
        return {task: outputs[-1].sum() * float('nan') for task in TASKS}, outputs

    with pytest.raises(ValueError, match='non-finite gradient at layer'):
        analyze(batches(), block_outputs, nan_losses, TASKS, 3, 16)
