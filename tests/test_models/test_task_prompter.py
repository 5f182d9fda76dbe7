"""TaskPrompter-like model (TaskPrompterViT + TaskPrompterDecoder), alone and expanded with DTME plans."""
import copy
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner, load_checkpoint
from mmengine.structures import PixelData

from helpers import REPO_ROOT, TINY_SIZE, tiny_synth_config
from mmdtme.dtme import Plan
from mmdtme.models.backbones import PromptLevel
from mmdtme.registry import MODELS
from mmdtme.structures import MultiTaskDataSample, get_task_specs

NYUD_TASKS = ['semseg', 'depth', 'normals', 'edge']
PASCAL_TASKS = ['semseg', 'human_parts', 'saliency', 'normals', 'edge']
CLASSES = dict(semseg=9, human_parts=7)


def tiny_config(work_dir='unused', data_root='unused', max_iters=4, dtme=False, tasks=None, prompt_length=1):
    """The tiny synthetic config with the model and hook of configs/{taskprompter,dtme}/..._vitt_synth.py."""
    cfg = tiny_synth_config(data_root, work_dir, max_iters=max_iters)
    source = Config.fromfile(
        osp.join(REPO_ROOT, 'configs', 'dtme' if dtme else 'taskprompter',
                 ('taskprompter_' if dtme else '') + 'vitt_synth.py'))
    cfg.model.backbone.type = source.model.backbone.type
    cfg.model.backbone.prompt_length = prompt_length
    cfg.model.neck = dict(source.model.neck, channels=16, out_channels=16)
    cfg.custom_hooks = [dict(hook, max_batches=2) for hook in source.get('custom_hooks', [])]
    if tasks is not None:
        cfg.model.tasks = list(tasks)
        for task in tasks:
            cfg.model.heads[task] = dict(type='TaskConvHead', channels=16, out_channels=get_out_channels(task))
    return cfg


def get_out_channels(task):
    return CLASSES.get(task, 3 if task == 'normals' else 1)


def tiny_model(tasks=NYUD_TASKS, prompt_length=1, seed=0):
    torch.manual_seed(seed)
    return MODELS.build(tiny_config(tasks=tasks, prompt_length=prompt_length).model)


def batch_for(tasks, batch_size=2, size=TINY_SIZE, seed=0):
    """Random images and ground truth of every task in ``tasks`` (from the task table)."""
    generator = torch.Generator().manual_seed(seed)
    height, width = size
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, height, width), dtype=torch.uint8, generator=generator))
        sample = MultiTaskDataSample(metainfo=dict(ori_shape=size))
        for spec in get_task_specs(tasks):
            if spec.is_label:
                data = torch.randint(0, CLASSES.get(spec.name, 2), (1, height, width), generator=generator)
            elif spec.name == 'normals':
                data = torch.nn.functional.normalize(torch.randn(3, height, width, generator=generator), dim=0)
            else:
                data = torch.rand(1, height, width, generator=generator) * 5 + 0.5
            setattr(sample, spec.gt_field, PixelData(data=data))
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def plan(tm=(), te=(), tasks=NYUD_TASKS, **kwargs):
    return Plan(tasks=list(tasks), num_layers=4, channels=32, tm_layers=list(tm), te_layers=list(te), **kwargs)


def randomise(backbone):
    with torch.no_grad():
        for module in backbone.token_modulation.values():
            module.weight.normal_(1.0, 0.5)
            module.bias.normal_(0.0, 0.5)
        for module in backbone.token_expansion.values():
            module.tokens.normal_(0.0, 1.0)


# --- the model alone -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize('tasks,prompt_length', [(NYUD_TASKS, 1), (PASCAL_TASKS, 2)], ids=['nyud-L1', 'pascal-L2'])
def test_forward_backward_shapes_for_every_task(tasks, prompt_length):
    model = tiny_model(tasks, prompt_length)
    T, L = len(tasks), prompt_length
    assert tuple(model.backbone.task_prompts.shape) == (T * L, 32)
    data = model.data_preprocessor(batch_for(tasks), training=True)
    levels = model.backbone(data['inputs'])
    assert len(levels) == 4 and all(isinstance(level, PromptLevel) for level in levels)
    assert [tuple(level.features.shape) for level in levels] == [(2, 32, 4, 6)] * 4
    assert [tuple(level.prompts.shape) for level in levels] == [(2, T * L, 32)] * 4
    assert [tuple(level.attention.shape) for level in levels] == [(2, 2, T * L, 24)] * 4  # 2 heads, 4x6 patches
    outputs = model(data['inputs'], mode='tensor')
    assert {
        task: tuple(out.shape)
        for task, out in outputs.items()
    } == {
        task: (2, get_out_channels(task), 16, 24)
        for task in tasks
    }  # the decoder upsamples the 4x6 grid x4
    losses = model(**data, mode='loss')
    assert {key.split('.')[0] for key in losses} == set(tasks)
    assert all(torch.isfinite(value) for value in losses.values())
    total, _ = model.parse_losses(losses)
    total.backward()
    without_grad = [name for name, p in model.named_parameters() if p.grad is None or not p.grad.abs().sum() > 0]
    assert without_grad == []
    model.eval()
    with torch.no_grad():
        samples = model(**model.data_preprocessor(batch_for(tasks, size=(30, 44)), training=False), mode='predict')
    assert samples[0].pred_sem_seg.data.shape == (1, 30, 44)
    assert samples[0].pred_normal_map.data.shape == (3, 30, 44)


def test_prompt_attention_is_the_blocks_own_attention(monkeypatch):
    """The decoder's logits, softmaxed over the patches, equal the block's attention of prompts on patches."""
    backbone = tiny_model().backbone.eval()
    captured = {}
    for index in backbone.out_indices:
        attn = backbone.vit.blocks[index].attn
        monkeypatch.setattr(attn, 'fused_attn', False)  # the explicit path exposes the softmax to a hook
        attn.attn_drop.register_forward_hook(lambda m, args, out, index=index: captured.__setitem__(index, out))
    with torch.no_grad():
        levels = backbone(torch.randn(2, 3, *TINY_SIZE))
    P, start = backbone.num_prompts, backbone.num_prompts + 1  # [prompts | class token | patches]
    for index, level in zip(backbone.out_indices, levels):
        block_attention = captured[index][:, :, :P, start:]  # prompt rows, patch columns
        torch.testing.assert_close(level.attention.softmax(-1), block_attention / block_attention.sum(-1, True))


def test_decoder_refuses_plain_vit_levels():
    model = tiny_model()
    with pytest.raises(TypeError, match='TaskPrompterViT'):
        model.neck([torch.zeros(1, 32, 4, 6)] * 4)


def test_backbone_needs_tasks():
    with pytest.raises(ValueError, match='task list'):
        MODELS.build(
            dict(
                type='TaskPrompterViT',
                model_name='vit_tiny_patch16_224',
                img_size=TINY_SIZE,
                model_kwargs=dict(patch_size=8, embed_dim=32, depth=4, num_heads=2)))


# --- with DTME -------------------------------------------------------------------------------------------------------


def test_analysis_sees_the_image_tokens_and_their_gradients():
    model = tiny_model()
    data = model.data_preprocessor(batch_for(NYUD_TASKS), training=True)
    losses, block_outputs = model.task_losses_with_block_outputs(data['inputs'], data['data_samples'])
    assert [tuple(x.shape) for x in block_outputs] == [(2, 1 + 24, 32)] * 4  # class + patches, no prompts
    grads = torch.autograd.grad(losses['depth'], block_outputs)
    assert all(grad.abs().sum() > 0 for grad in grads)  # the losses flow through exactly these tensors


def test_tm_only_expansion_keeps_every_output_at_insertion():
    model = tiny_model().eval()
    x = torch.randn(2, 3, *TINY_SIZE)
    with torch.no_grad():
        before = model(x, mode='tensor')
        new_params = model.backbone.expand(plan(tm=(1, 3)))
        after = model(x, mode='tensor')
    assert len(new_params) == 4
    for task in NYUD_TASKS:
        torch.testing.assert_close(after[task], before[task])


def loop_reference(backbone, x):
    """Per-task loop: stream t runs [all prompts | image | task t's TE tokens] and TM on the image tokens only."""
    image0, grid = backbone.embed(x)
    P = backbone.num_prompts
    levels = {}
    for t, task in enumerate(backbone.plan.tasks):
        prompts, image, levels[task] = backbone.task_prompts.expand(x.shape[0], -1, -1), image0, []
        for index, block in enumerate(backbone.vit.blocks):
            key = str(index)
            tokens = torch.cat([prompts, image], dim=1)
            if key in backbone.token_expansion:
                extra = backbone.token_expansion[key].tokens[t].expand(x.shape[0], -1, -1)
                tokens = block(torch.cat([tokens, extra], dim=1))[:, :-extra.shape[1]]
            else:
                tokens = block(tokens)
            prompts, image = tokens[:, :P], tokens[:, P:]
            if key in backbone.token_modulation:
                module = backbone.token_modulation[key]
                image = image * module.weight[t, 0] + module.bias[t, 0]
            if index in backbone.out_indices:
                levels[task].append((backbone.tokens_to_map(image, grid), prompts))
    return levels


def test_te_keeps_the_patch_tokens_and_streams_equal_a_per_task_loop():
    model = tiny_model()
    backbone = model.backbone.eval()
    x = torch.randn(2, 3, *TINY_SIZE)
    with torch.no_grad():
        before = backbone(x)
        backbone.expand(plan(tm=(2, ), te=(1, 3), num_tokens=3))
        randomise(backbone)
        stacked, block_outputs = backbone.forward_with_block_outputs(x)
        reference = loop_reference(backbone, x)
    # block 0 is shared (B rows), from block 1 on T stacked streams; always the N image tokens
    assert [tuple(out.shape) for out in block_outputs] == [(2, 25, 32)] + [(4 * 2, 25, 32)] * 3
    for task in NYUD_TASKS:
        for level, old, (features, prompts) in zip(stacked[task], before, reference[task]):
            assert level.features.shape == old.features.shape and level.attention.shape == old.attention.shape
            assert all(torch.isfinite(part).all() for part in level)
            torch.testing.assert_close(level.features, features, atol=1e-5, rtol=1e-5)
            torch.testing.assert_close(level.prompts, prompts, atol=1e-5, rtol=1e-5)
        torch.testing.assert_close(stacked[task][0].features, before[0].features)  # before the first TE layer
        assert not torch.allclose(stacked[task][1].features, before[1].features, atol=1e-3)  # TE acted
    outputs = model.eval()(x, mode='tensor')
    assert all(torch.isfinite(out).all() for out in outputs.values())


def test_expanded_checkpoint_loads_into_a_fresh_model():
    model = tiny_model().eval()
    model.backbone.expand(plan(tm=(0, 2), te=(1, ), num_tokens=2))
    randomise(model.backbone)
    fresh = tiny_model(seed=1).eval()
    assert not fresh.backbone.is_expanded
    fresh.load_state_dict(model.state_dict(), strict=True)
    assert fresh.backbone.plan.to_dict() == model.backbone.plan.to_dict()
    x = torch.randn(1, 3, *TINY_SIZE)
    with torch.no_grad():
        expected, actual = model(x, mode='tensor'), fresh(x, mode='tensor')
    for task in NYUD_TASKS:
        torch.testing.assert_close(actual[task], expected[task])


def test_dtme_hook_expands_taskprompter_at_iteration_0_in_a_runner(synthetic_root, tmp_path):
    cfg = tiny_config(str(tmp_path), synthetic_root, max_iters=4, dtme=True)
    cfg.default_hooks.logger.interval = 1
    runner = Runner.from_cfg(copy.deepcopy(cfg))
    runner.train()
    backbone = runner.model.backbone
    assert type(backbone).__name__ == 'TaskPrompterViT' and backbone.is_expanded
    saved = Plan.load(osp.join(str(tmp_path), 'dtme_plan.json'))
    assert saved.to_dict() == backbone.plan.to_dict() and saved.tasks == NYUD_TASKS
    assert len(saved.tm_layers) == len(saved.te_layers) == 2 and len(saved.range_conflict) == 4
    groups = runner.optim_wrapper.optimizer.param_groups
    assert len(groups) == 2
    assert {id(p)
            for p in groups[1]['params']
            } == {id(p)
                  for p in [*backbone.token_modulation.parameters(), *backbone.token_expansion.parameters()]}
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        losses = [record['loss'] for record in map(json.loads, f) if 'loss' in record]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    # the saved checkpoint rebuilds the expanded model in a freshly built one
    fresh = MODELS.build(cfg.model)
    load_checkpoint(fresh, osp.join(str(tmp_path), 'iter_4.pth'), map_location='cpu')
    assert fresh.backbone.plan.to_dict() == saved.to_dict()
    torch.testing.assert_close(fresh.backbone.task_prompts, backbone.task_prompts)
