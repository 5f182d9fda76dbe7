"""The InvPT decoder: shapes and gradients per task, preliminary-prediction losses, DTME streams and DTMEHook."""
import os.path as osp

import pytest
import torch
import torch.nn.functional as F
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.structures import PixelData

from helpers import REPO_ROOT, TINY_SIZE, fake_batch, tiny_synth_config
from mmdtme.dtme import Plan
from mmdtme.models.necks import InvPTDecoder
from mmdtme.registry import MODELS

NYUD_TASKS = ['semseg', 'depth', 'normals', 'edge']
ALL_TASKS = ['semseg', 'human_parts', 'saliency', 'depth', 'normals', 'edge']
OUT_CHANNELS = dict(semseg=5, human_parts=7, saliency=1, depth=1, normals=3, edge=1)
TINY_NECK = dict(task_channels=16, pred_embed_channels=8, drop_path_rate=0.0)  # stages of 24 / 12 / 6 channels


def tiny_decoder(tasks=NYUD_TASKS, **kwargs):
    torch.manual_seed(0)
    return InvPTDecoder([32] * 4, tasks, pred_channels=dict(semseg=5), **dict(TINY_NECK, **kwargs))


def tiny_model(tasks=NYUD_TASKS, backbone='TimmViT'):
    torch.manual_seed(0)
    return MODELS.build(
        dict(
            type='MultiTaskSegmentor',
            tasks=list(tasks),
            heads={task: dict(type='TaskConvHead', out_channels=OUT_CHANNELS[task], channels=8)
                   for task in tasks},
            neck=dict(type='InvPTDecoder', pred_channels=dict(semseg=5), **TINY_NECK),
            data_preprocessor=dict(
                type='MultiTaskDataPreProcessor', mean=[0, 0, 0], std=[255, 255, 255], size_divisor=8),
            backbone=dict(
                type=backbone,
                model_name='vit_tiny_patch16_224',
                img_size=TINY_SIZE,
                model_kwargs=dict(patch_size=8, embed_dim=32, depth=4, num_heads=2))))


def batch_with_every_task(batch_size=2):
    """``fake_batch`` plus PASCAL-Context's human parts (7 classes) and saliency (0/1) maps."""
    batch = fake_batch(batch_size, size=TINY_SIZE)
    for sample in batch['data_samples']:
        sample.gt_parts_map = PixelData(data=torch.randint(0, 7, (1, *TINY_SIZE)))
        sample.gt_saliency_map = PixelData(data=(torch.rand(1, *TINY_SIZE) < 0.3).long())
    return batch


def test_decoder_shapes_and_gradients_for_every_task():
    decoder = tiny_decoder(ALL_TASKS)
    levels = [torch.randn(2, 32, 4, 6, requires_grad=True) for _ in range(4)]
    features, preliminary = decoder(levels)
    assert decoder.out_channels == [24]
    # stage 0 at half the 4x6 grid, three x2 stages, fused at 8x the stage-0 size
    assert {
        task: [tuple(f.shape) for f in levels_]
        for task, levels_ in features.items()
    } == {
        task: [(2, 24, 16, 24)]
        for task in ALL_TASKS
    }
    assert {
        task: tuple(p.shape)
        for task, p in preliminary.items()
    } == {
        task: (2, OUT_CHANNELS[task], 2, 3)
        for task in ALL_TASKS
    }
    sum(f[0].square().mean() for f in features.values()).backward()
    assert [name for name, p in decoder.named_parameters() if p.grad is None or not p.grad.any()] == []
    # InvPT reads the last level, adds levels 1 and 0 as skips and leaves level 2 unused
    assert [level.grad is not None for level in levels] == [True, True, False, True]


def test_tasks_attend_to_each_other():
    decoder = tiny_decoder().eval()
    levels = [torch.randn(1, 32, 4, 6) for _ in range(4)]
    streams = {task: list(levels) for task in NYUD_TASKS}
    streams['depth'] = [level + torch.randn_like(level) for level in levels]  # only the depth stream changes
    with torch.no_grad():
        shared_out, shared_pre = decoder(levels)
        stream_out, stream_pre = decoder(streams)
    # the preliminary decoder of semseg reads its own (unchanged) stream ...
    torch.testing.assert_close(stream_pre['semseg'], shared_pre['semseg'])
    assert not torch.allclose(stream_pre['depth'], shared_pre['depth'])
    # ... but the joint attention carries the depth change into the semseg features
    assert not torch.allclose(stream_out['semseg'][0], shared_out['semseg'][0])


def test_attention_message_reaches_the_next_stage():
    decoder = tiny_decoder().eval()
    levels = [torch.randn(1, 32, 4, 6) for _ in range(4)]
    with torch.no_grad():
        before = decoder(levels)[0]['semseg'][0]
        decoder.stages[1].block.attn.message_fuse.weight[:, :2].zero_()  # drop stage 1's own scores
        decoder.stages[1].block.attn.message_fuse.bias.zero_()
        after = decoder(levels)[0]['semseg'][0]
    assert not torch.allclose(before, after)
    assert decoder.stages[0].block.attn.message_fuse is None  # nothing to fuse in the first stage


def test_bad_arguments_are_explained():
    with pytest.raises(ValueError, match=r"neck.pred_channels\['semseg'\]"):
        InvPTDecoder([32] * 4, NYUD_TASKS, **TINY_NECK)
    with pytest.raises(ValueError, match='kv_pool must double'):
        tiny_decoder(kv_pool=(2, 4, 4))
    with pytest.raises(ValueError, match='num_heads has 2 entries but there are 3 stages'):
        tiny_decoder(num_heads=(2, 2), embed_dims=(24, 12, 6))
    with pytest.raises(ValueError, match='levels the backbone does not return'):
        InvPTDecoder([32] * 3, NYUD_TASKS, pred_channels=dict(semseg=5), skip_levels=(None, 1, 3), **TINY_NECK)


def test_loss_supervises_the_preliminary_predictions_of_every_task():
    model = tiny_model(ALL_TASKS)
    data = model.data_preprocessor(batch_with_every_task(), training=True)
    losses = model(**data, mode='loss')
    expected = {
        'semseg': 'loss_ce',
        'human_parts': 'loss_ce',
        'saliency': 'loss_bce',
        'depth': 'loss_l1',
        'normals': 'loss_l1',
        'edge': 'loss_bce'
    }
    assert set(losses) == {f'{task}.{name}'
                           for task, name in expected.items()
                           } | {f'{task}.aux_{name}'
                                for task, name in expected.items()}
    assert all(torch.isfinite(value) for value in losses.values())
    # the aux loss is the head's loss of the decoder's preliminary prediction, upsampled to the target
    _, preliminary = model.neck(model.backbone(data['inputs']))
    target = torch.stack([sample.gt_depth_map.data for sample in data['data_samples']])
    upsampled = F.interpolate(preliminary['depth'], TINY_SIZE, mode='bilinear', align_corners=False)
    torch.testing.assert_close(losses['depth.aux_loss_l1'], model.heads['depth'].loss_fn(upsampled, target))
    # and it trains the preliminary decoders, not the UP-Transformer or the heads
    sum(value for key, value in losses.items() if '.aux_' in key).backward()
    assert model.neck.preliminary_pred['semseg'].weight.grad.abs().sum() > 0
    assert model.neck.stages[2].block.mlp.fc1.weight.grad is None
    assert model.heads['edge'].predictor.weight.grad is None


def test_predict_fills_every_task_at_the_input_size():
    model = tiny_model().eval()
    with torch.no_grad():
        data = model.data_preprocessor(fake_batch(size=(30, 44)), training=False)
        samples = model(**data, mode='predict')
    assert samples[0].pred_sem_seg.data.shape == (1, 30, 44)
    assert samples[0].pred_normal_map.data.shape == (3, 30, 44)
    torch.testing.assert_close(samples[0].pred_normal_map.data.norm(dim=0), torch.ones(30, 44))


def test_tm_only_expansion_keeps_the_outputs_then_streams_diverge():
    model = tiny_model(backbone='DTMEViT').eval()
    inputs = torch.randn(2, 3, *TINY_SIZE)
    with torch.no_grad():
        before = model(inputs, mode='tensor')
        model.backbone.expand(Plan(tasks=NYUD_TASKS, num_layers=4, channels=32, tm_layers=[1, 3], te_layers=[]))
        after = model(inputs, mode='tensor')
        for task in NYUD_TASKS:
            torch.testing.assert_close(after[task], before[task])
        for module in model.backbone.token_modulation.values():
            module.weight.normal_(1.0, 0.3)
        modulated = model(inputs, mode='tensor')
    for task in NYUD_TASKS:
        assert torch.isfinite(modulated[task]).all()
        assert not torch.allclose(modulated[task], before[task])


def invpt_runner_config(data_root, work_dir, max_iters=3):
    """``tiny_synth_config`` with the decoder of ``configs/invpt/vitt_synth.py``, shrunk, and DTME's hook."""
    cfg = tiny_synth_config(data_root, work_dir, max_iters=max_iters)
    invpt = Config.fromfile(osp.join(REPO_ROOT, 'configs/dtme/invpt_vitt_synth.py'))
    cfg.model.neck = dict(invpt.model.neck, **TINY_NECK)
    cfg.model.backbone.type = invpt.model.backbone.type
    cfg.custom_hooks = [dict(invpt.custom_hooks[0], max_batches=2)]
    cfg.train_cfg.val_interval = 1000
    cfg.default_hooks.logger.interval = 1
    return cfg


def test_dtme_hook_expands_an_invpt_model_at_iteration_0(synthetic_root, tmp_path):
    runner = Runner.from_cfg(invpt_runner_config(synthetic_root, str(tmp_path)))
    runner.train()
    model = runner.model
    assert model.backbone.is_expanded and model.neck is not None
    plan = model.backbone.plan
    assert len(plan.range_conflict) == 4  # the analysis differentiated the losses through the decoder
    assert len(runner.optim_wrapper.optimizer.param_groups) == 2
    scalars = runner.message_hub.log_scalars
    assert {'train/semseg.aux_loss_ce', 'train/edge.aux_loss_bce'} <= set(scalars)
    assert torch.isfinite(torch.tensor(scalars['train/loss'].current()))
