import pytest
import torch

from helpers import TINY_SIZE, fake_batch
from mmdtme.dtme import Plan
from mmdtme.models.backbones import DTMEViT
from mmdtme.registry import MODELS

TASKS = ['semseg', 'depth', 'normals']
TINY = dict(patch_size=8, embed_dim=32, depth=4, num_heads=2)


def tiny_backbone(tasks=TASKS, seed=0):
    torch.manual_seed(seed)
    return DTMEViT(tasks=tasks, model_name='vit_tiny_patch16_224', img_size=TINY_SIZE, model_kwargs=TINY).eval()


def plan(tm=(1, 3), te=(2, ), tasks=TASKS, **kwargs):
    return Plan(tasks=list(tasks), num_layers=4, channels=32, tm_layers=list(tm), te_layers=list(te), **kwargs)


def randomise(backbone):
    with torch.no_grad():
        for module in backbone.token_modulation.values():
            module.weight.normal_(1.0, 0.5)
            module.bias.normal_(0.0, 0.5)


def loop_reference(backbone, x):
    """Per-task loop: task t runs its own copy of the stream through every block with its TE / TM slices."""
    tokens, grid = backbone.embed(x)
    outputs = {}
    for t, task in enumerate(backbone.plan.tasks):
        stream, levels = tokens, []
        for index, block in enumerate(backbone.vit.blocks):
            key = str(index)
            if key in backbone.token_expansion:
                extra = backbone.token_expansion[key].tokens[t].expand(stream.shape[0], -1, -1)
                stream = block(torch.cat([stream, extra], dim=1))[:, :tokens.shape[1]]
            else:
                stream = block(stream)
            if key in backbone.token_modulation:
                module = backbone.token_modulation[key]
                stream = stream * module.weight[t, 0] + module.bias[t, 0]
            if index in backbone.out_indices:
                levels.append(backbone.tokens_to_map(stream, grid))
        outputs[task] = levels
    return outputs


def test_forward_matches_timm_forward_intermediates():
    backbone = tiny_backbone()
    x = torch.randn(2, 3, *TINY_SIZE)
    expected = backbone.vit.forward_intermediates(
        x, indices=list(backbone.out_indices), output_fmt='NCHW', intermediates_only=True)
    for ours, theirs in zip(backbone(x), expected):
        torch.testing.assert_close(ours, theirs)
    features, block_outputs = backbone.forward_with_block_outputs(x)
    assert len(block_outputs) == 4 and block_outputs[0].shape == (2, 1 + 4 * 6, 32)
    torch.testing.assert_close(features[-1], expected[-1])


def test_tm_only_expansion_keeps_the_output_at_insertion():
    backbone = tiny_backbone()
    x = torch.randn(2, 3, *TINY_SIZE)
    with torch.no_grad():
        before = backbone(x)
        new_params = backbone.expand(plan(tm=(0, 2), te=()))
        after = backbone(x)
    assert len(new_params) == 4  # weight and bias of two TM layers
    assert set(after) == set(TASKS)
    for task in TASKS:
        for level_before, level_after in zip(before, after[task]):
            torch.testing.assert_close(level_after, level_before)


def test_stacked_streams_equal_a_per_task_loop():
    backbone = tiny_backbone()
    backbone.expand(plan(tm=(1, 3), te=(1, 2)))
    randomise(backbone)
    x = torch.randn(2, 3, *TINY_SIZE)
    with torch.no_grad():
        stacked, reference = backbone(x), loop_reference(backbone, x)
    for task in TASKS:
        assert [tuple(level.shape) for level in stacked[task]] == [(2, 32, 4, 6)] * 4  # TE keeps N tokens
        for ours, theirs in zip(stacked[task], reference[task]):
            torch.testing.assert_close(ours, theirs, atol=1e-5, rtol=1e-5)
    # streams differ once the task-specific modules act
    assert not torch.allclose(stacked['semseg'][-1], stacked['depth'][-1])
    # levels before the first modified layer (block 0) are shared
    torch.testing.assert_close(stacked['semseg'][0], stacked['normals'][0])


def test_expanded_checkpoint_rebuilds_a_fresh_model():
    backbone = tiny_backbone()
    backbone.expand(plan(te=(0, 3), num_tokens=2))
    randomise(backbone)
    state = backbone.state_dict()
    fresh = tiny_backbone(seed=1)
    assert not fresh.is_expanded
    fresh.load_state_dict(state, strict=True)
    assert fresh.plan.to_dict() == backbone.plan.to_dict()
    x = torch.randn(1, 3, *TINY_SIZE)
    with torch.no_grad():
        for task in TASKS:
            torch.testing.assert_close(fresh(x)[task][-1], backbone(x)[task][-1])


def test_expand_is_idempotent_and_refuses_another_plan():
    backbone = tiny_backbone()
    assert backbone.expand(plan()) != []
    assert backbone.expand(plan()) == []
    with pytest.raises(ValueError, match='another DTME plan'):
        backbone.expand(plan(tm=(0, )))


def test_plan_for_other_tasks_is_refused():
    with pytest.raises(ValueError, match='tasks'):
        tiny_backbone().expand(plan(tasks=['semseg', 'depth', 'edge']))


def test_unexpanded_checkpoint_into_expanded_model_is_refused():
    state = tiny_backbone().state_dict()
    expanded = tiny_backbone()
    expanded.expand(plan())
    with pytest.raises(ValueError, match='unexpanded model'):
        expanded.load_state_dict(state)


def test_segmentor_trains_expanded_modules():
    model = MODELS.build(
        dict(
            type='MultiTaskSegmentor',
            tasks=TASKS,
            data_preprocessor=dict(type='MultiTaskDataPreProcessor', size_divisor=8),
            backbone=dict(type='DTMEViT', model_name='vit_tiny_patch16_224', img_size=TINY_SIZE, model_kwargs=TINY),
            heads=dict(
                semseg=dict(type='TaskConvHead', out_channels=5, channels=8),
                depth=dict(type='TaskConvHead', out_channels=1, channels=8),
                normals=dict(type='TaskConvHead', out_channels=3, channels=8))))
    assert model.backbone.tasks == TASKS
    batch = fake_batch(size=TINY_SIZE)
    data = model.data_preprocessor(batch, training=True)
    task_losses, block_outputs = model.task_losses_with_block_outputs(data['inputs'], data['data_samples'])
    assert set(task_losses) == set(TASKS) and len(block_outputs) == 4
    new_params = model.backbone.expand(plan(tm=(1, ), te=(2, )))
    losses = model(**data, mode='loss')
    total, _ = model.parse_losses(losses)
    total.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in new_params)
