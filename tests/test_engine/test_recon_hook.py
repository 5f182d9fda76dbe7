"""ReconHook inside a real mmengine Runner on the tiny synthetic config."""
import json
import os.path as osp

import pytest
import torch
from mmengine.runner import Runner

from helpers import IterSpy, expanding_config
from mmdtme.dtme import Plan, TaskLinear

pytestmark = pytest.mark.slow  # real Runners or tool subprocesses


def recon_config(data_root, work_dir, max_iters=4, **hook):
    hook = dict(type='ReconHook', **dict(dict(start_iter=0, num_batches=2, k=1), **hook))
    return expanding_config(data_root, work_dir, max_iters, hook, checkpoint_interval=2)


def test_measure_copy_and_train(synthetic_root, tmp_path):
    runner = Runner.from_cfg(recon_config(synthetic_root, str(tmp_path), max_iters=3, start_iter=1, k=2))
    spy = IterSpy(lambda r: (len(r.optim_wrapper.optimizer.param_groups), r.model.backbone.is_expanded))
    runner.register_hook(spy, priority='LOWEST')
    runner.train()
    assert spy.seen == [(1, False), (2, True), (2, True)]
    backbone = runner.model.backbone
    with open(osp.join(str(tmp_path), 'recon_conflicts.json')) as f:
        scores = json.load(f)
    plan = Plan.load(osp.join(str(tmp_path), 'recon_plan.json'))
    assert plan == backbone.plan and plan.tm_layers == plan.te_layers == []
    assert scores['units'] == ['0', '1', '2', '3'] and scores['num_batches'] == 2
    assert all(0 <= score <= 2 * 6 for score in scores['scores'])  # 2 batches x 6 task pairs
    ranked = sorted(range(4), key=lambda u: (-scores['scores'][u], u))[:2]
    assert plan.copied_modules == scores['selected'] == [str(u) for u in sorted(ranked)]
    assert osp.isfile(osp.join(str(tmp_path), 'recon_conflicts.png'))
    copied = [backbone.vit.blocks[int(unit)] for unit in plan.copied_modules]
    assert all(isinstance(block.attn.qkv, TaskLinear) for block in copied)
    new_group = runner.optim_wrapper.optimizer.param_groups[1]
    assert {id(p) for p in new_group['params']} == {id(p) for block in copied for p in block.parameters()}
    assert new_group['lr'] == pytest.approx(runner.optim_wrapper.optimizer.param_groups[0]['lr'])
    # two training steps after copying: every task's copy moved its own way
    weight = copied[0].mlp.fc1.weight
    assert all(not torch.allclose(weight[i], weight[j]) for i in range(4) for j in range(i + 1, 4))
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        logged = {key: value for record in map(json.loads, f) for key, value in record.items()}
    assert logged['recon/conflict_rate/0'] == pytest.approx(scores['conflict_rate'][0])


def test_resume_after_copying_reproduces_the_uninterrupted_run(synthetic_root, tmp_path):
    hook = dict(granularity='sublayer', k=2)
    straight = Runner.from_cfg(recon_config(synthetic_root, str(tmp_path / 'straight'), max_iters=4, **hook))
    straight.train()

    first = Runner.from_cfg(recon_config(synthetic_root, str(tmp_path / 'resumed'), max_iters=4, **hook))
    first.train_loop._max_iters = 2  # stop half way, as if interrupted after the checkpoint at iteration 2
    first.train()
    cfg = recon_config(synthetic_root, str(tmp_path / 'resumed'), max_iters=4, **hook)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()

    assert resumed.model.backbone.plan == straight.model.backbone.plan
    assert all('.' in path for path in straight.model.backbone.plan.copied_modules)  # sub-layers, not blocks
    assert len(resumed.optim_wrapper.optimizer.param_groups) == 2
    expected, actual = straight.model.state_dict(), resumed.model.state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], msg=key)


def test_plan_file_combines_copies_with_token_modulation(synthetic_root, tmp_path):
    plan = Plan(
        tasks=['semseg', 'depth', 'normals', 'edge'],
        num_layers=4,
        channels=32,
        tm_layers=[1],
        copied_modules=['2.mlp'])
    plan_path = str(tmp_path / 'plan.json')
    plan.save(plan_path)
    runner = Runner.from_cfg(recon_config(synthetic_root, str(tmp_path / 'work'), max_iters=1, plan_file=plan_path))
    runner.train()
    assert runner.model.backbone.plan == plan
    assert not osp.exists(str(tmp_path / 'work' / 'recon_conflicts.json'))  # nothing was measured
    assert Plan.load(str(tmp_path / 'work' / 'recon_plan.json')) == plan


def test_backbone_expanded_without_copies_is_a_clear_error(synthetic_root, tmp_path):
    tm_plan = str(tmp_path / 'tm_plan.json')
    Plan(tasks=['semseg', 'depth', 'normals', 'edge'], num_layers=4, channels=32, tm_layers=[1]).save(tm_plan)
    cfg = recon_config(synthetic_root, str(tmp_path / 'work'), max_iters=1)
    cfg.custom_hooks.insert(0, dict(type='DTMEHook', expand_iter=0, plan_file=tm_plan))
    with pytest.raises(ValueError, match='already expanded by a plan without task-specific copies'):
        Runner.from_cfg(cfg).train()


def test_bad_arguments_and_backbone_are_refused(synthetic_root, tmp_path):
    from mmdtme.engine.hooks import ReconHook
    with pytest.raises(ValueError, match='granularity must be one of'):
        ReconHook(granularity='head')
    with pytest.raises(ValueError, match='threshold S is a cosine'):
        ReconHook(threshold=2.0)
    cfg = recon_config(synthetic_root, str(tmp_path), max_iters=1)
    cfg.model.backbone.type = 'TimmViT'
    with pytest.raises(TypeError, match="ReconHook needs .*DTMEViT"):
        Runner.from_cfg(cfg).train()
