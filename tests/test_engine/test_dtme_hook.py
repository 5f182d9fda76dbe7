"""DTMEHook inside a real mmengine Runner on the tiny synthetic config."""
import copy
import json
import os.path as osp
import sys

import pytest
import torch
from mmengine.runner import Runner

from helpers import IterSpy, expanding_config, run_tool, write_nyud_fixture
from mmdtme.dtme import Plan
from mmdtme.engine.hooks import DTMEHook

pytestmark = pytest.mark.slow  # real Runners or tool subprocesses


def dtme_config(data_root, work_dir, max_iters=6, **hook):
    hook = dict(type='DTMEHook', **dict(dict(expand_iter=0, max_batches=2, ratio=0.5), **hook))
    return expanding_config(data_root, work_dir, max_iters, hook, checkpoint_interval=4)


def backbone_of(runner):
    return runner.model.backbone


def test_expansion_at_iteration_0_joins_the_optimizer_and_the_schedule(synthetic_root, tmp_path):
    runner = Runner.from_cfg(dtme_config(synthetic_root, str(tmp_path)))
    lrs = IterSpy(lambda r: [group['lr'] for group in r.optim_wrapper.optimizer.param_groups])
    runner.register_hook(lrs, priority='LOWEST')
    runner.train()
    backbone = backbone_of(runner)
    assert backbone.is_expanded
    plan = Plan.load(osp.join(str(tmp_path), 'dtme_plan.json'))
    assert plan.to_dict() == backbone.plan.to_dict()
    assert len(plan.tm_layers) == len(plan.te_layers) == 2 and plan.ks and plan.range_conflict
    assert osp.isfile(osp.join(str(tmp_path), 'dtme_spectra.png'))
    assert osp.isfile(osp.join(str(tmp_path), 'dtme_conflicts.png'))
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        logged = json.loads(f.readline())  # the analysis is logged before the first iteration
    assert logged['dtme/range_conflict/block_02'] == pytest.approx(plan.range_conflict[2])
    assert logged['dtme/ks/block_00'] == plan.ks[0]
    groups = runner.optim_wrapper.optimizer.param_groups
    assert len(groups) == 2
    new_params = {id(p)
                  for p in backbone.token_modulation.parameters()
                  } | {id(p)
                       for p in backbone.token_expansion.parameters()}
    assert {id(p) for p in groups[1]['params']} == new_params
    # the poly schedule (power 1 over 6 iterations) drives the new group exactly like the first one
    assert [first for first, _ in lrs.seen] == pytest.approx([1e-3 * (1 - step / 5) for step in range(6)])
    assert all(new == pytest.approx(first) for first, new in lrs.seen)
    # the new parameters were trained
    assert any((m.weight != 1).any() for m in backbone.token_modulation.values())


def test_test_tool_rebuilds_the_expanded_model_from_the_checkpoint(synthetic_root, tmp_path):
    cfg = dtme_config(synthetic_root, str(tmp_path), max_iters=4)
    Runner.from_cfg(copy.deepcopy(cfg)).train()
    config = str(tmp_path / 'dtme.py')
    cfg.dump(config)
    out = str(tmp_path / 'metrics.json')
    log = run_tool(sys.executable, 'tools/test.py', config, str(tmp_path / 'iter_4.pth'), '--work-dir',
                   str(tmp_path / 'test'), '--out', out)
    assert 'expanded the backbone with the plan from the checkpoint' in log
    with open(out) as f:
        assert {'semseg/mIoU', 'depth/rmse', 'normals/mean', 'edge/pixel_odsF'} <= set(json.load(f))


def test_expansion_at_a_later_iteration(synthetic_root, tmp_path):
    cfg = dtme_config(synthetic_root, str(tmp_path), max_iters=7, expand_iter=5)
    runner = Runner.from_cfg(cfg)
    spy = IterSpy(lambda r: (r.iter, backbone_of(r).is_expanded))
    runner.register_hook(spy, priority='LOWEST')
    runner.train()
    assert spy.seen == [(0, False), (1, False), (2, False), (3, False), (4, False), (5, True), (6, True)]
    assert len(runner.optim_wrapper.optimizer.param_groups) == 2


def test_training_keeps_lowering_the_loss_after_expansion(synthetic_root, tmp_path):
    cfg = dtme_config(synthetic_root, str(tmp_path), max_iters=20)
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.default_hooks.logger.interval = 5
    runner = Runner.from_cfg(cfg)
    runner.train()
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        losses = {r['step']: r['loss'] for r in map(json.loads, f) if 'loss' in r}
    values = [losses[step] for step in (5, 10, 15, 20)]  # means over 5 iterations
    assert all(later < earlier for earlier, later in zip(values, values[1:])), values


def test_plan_file_is_applied_without_analysis(synthetic_root, tmp_path):
    plan = Plan(
        tasks=['semseg', 'depth', 'normals', 'edge'],
        num_layers=4,
        channels=32,
        tm_layers=[1],
        te_layers=[3],
        num_tokens=2)
    plan_path = str(tmp_path / 'plan.json')
    plan.save(plan_path)
    runner = Runner.from_cfg(dtme_config(synthetic_root, str(tmp_path / 'work'), max_iters=2, plan_file=plan_path))
    runner.train()
    assert backbone_of(runner).plan.tm_layers == [1] and backbone_of(runner).plan.te_layers == [3]


def test_resume_after_expansion_reproduces_the_uninterrupted_run(synthetic_root, tmp_path):
    straight = Runner.from_cfg(dtme_config(synthetic_root, str(tmp_path / 'straight'), max_iters=8))
    straight.train()

    first = Runner.from_cfg(dtme_config(synthetic_root, str(tmp_path / 'resumed'), max_iters=8))
    first.train_loop._max_iters = 4  # stop half way, as if interrupted after the checkpoint at iteration 4
    first.train()
    cfg = dtme_config(synthetic_root, str(tmp_path / 'resumed'), max_iters=8)
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()

    assert backbone_of(resumed).plan.to_dict() == backbone_of(straight).plan.to_dict()
    expected, actual = straight.model.state_dict(), resumed.model.state_dict()
    assert expected.keys() == actual.keys()
    for key in expected:
        torch.testing.assert_close(actual[key], expected[key], msg=key)


def test_model_without_dtme_backbone_is_a_clear_error(synthetic_root, tmp_path):
    cfg = dtme_config(synthetic_root, str(tmp_path))
    cfg.model.backbone.type = 'TimmViT'
    with pytest.raises(TypeError, match='DTMEViT'):
        Runner.from_cfg(cfg).train()


def test_adaptive_analysis_on_the_nyud_layout_gives_the_full_plan_up_to_its_ties(synthetic_root, tmp_path):
    root = str(tmp_path / 'nyud')
    write_nyud_fixture(root, {'train': [f'{index:04d}' for index in range(24)]}, height=32, width=48)
    analysis_set = dict(
        batch_size=2,
        num_workers=0,
        sampler=dict(type='DefaultSampler', shuffle=False),
        dataset=dict(
            type='NYUDMultiTaskDataset',
            data_root=root,
            split='train',
            tasks=['semseg', 'depth', 'normals', 'edge'],
            pipeline=[
                dict(type='LoadImageWithCheck'),
                dict(type='LoadNYUDAnnotations', frame='auto'),
                dict(type='PackMultiTaskInputs')
            ]))
    plans = {}
    for stop in ('full', 'adaptive'):
        cfg = dtme_config(
            synthetic_root,
            str(tmp_path / stop),
            max_iters=1,
            max_batches=None,
            stop=stop,
            analysis_dataloader=analysis_set,
            **(dict(stopping=dict(min_batches=2)) if stop == 'adaptive' else {}))
        cfg.model.heads.semseg.out_channels = 40  # NYUD's classes
        cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None  # the synthetic val set has 9 classes
        runner = Runner.from_cfg(cfg)
        runner.train()
        plans[stop] = backbone_of(runner).plan
    full, adaptive = plans['full'], plans['adaptive']
    assert full.stop == 'full' and adaptive.stop == 'adaptive' and max(adaptive.stopped_after) <= 12
    assert set(adaptive.tm_layers) ^ set(full.tm_layers) <= set(adaptive.tied_tm_layers)
    assert set(adaptive.te_layers) ^ set(full.te_layers) <= set(adaptive.tied_te_layers)
    with open(osp.join(runner.log_dir, f'{osp.basename(runner.log_dir)}.log')) as f:
        log = f.read()
    assert 'DTME: covariance pass:' in log and 'DTME: conflict pass:' in log


def test_freeze_backbone_trains_only_tm_te_and_heads_after_the_expansion(synthetic_root, tmp_path):
    runner = Runner.from_cfg(dtme_config(synthetic_root, str(tmp_path), max_iters=3, freeze_backbone=True))
    snapshot = IterSpy(lambda r: {name: p.detach().clone() for name, p in r.model.named_parameters()})
    runner.register_hook(snapshot, priority='LOWEST')
    runner.train()
    before = snapshot.seen[0]  # after the expansion at iteration 0, before the first step
    backbone = backbone_of(runner)
    new = {id(p) for module in (backbone.token_modulation, backbone.token_expansion) for p in module.parameters()}
    assert new
    names = {name: p for name, p in runner.model.named_parameters()}
    frozen = [n for n, p in names.items() if n.startswith('backbone.') and id(p) not in new]
    trained = [n for n, p in names.items() if id(p) in new or n.startswith('heads.')]
    assert frozen and all(torch.equal(names[n], before[n]) for n in frozen)  # bit-identical after 3 steps
    assert all(not names[n].requires_grad for n in frozen)
    changed = [n for n in trained if not torch.equal(names[n], before[n])]
    assert any(n.startswith('heads.') for n in changed)
    assert any(id(names[n]) in new for n in changed)


def test_dtme_hook_takes_r_or_tau_but_not_both():
    assert DTMEHook().settings.range_variance == pytest.approx(100 / 101)
    assert DTMEHook(range_null_ratio=10).settings.range_variance == pytest.approx(10 / 11)
    assert DTMEHook(range_variance=0.9).settings.range_variance == 0.9
    with pytest.raises(ValueError, match='not both'):
        DTMEHook(range_null_ratio=10, range_variance=0.9)
