"""MultiTaskOptimWrapper in a real mmengine Runner, its update on a real model, DTME + MTO, and --resume."""
import copy
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from helpers import REPO_ROOT, fake_batch, tiny_synth_config
from mmdtme.dtme import Plan
from mmdtme.engine.optimizers import AGGREGATORS, MultiTaskOptimWrapperConstructor
from mmdtme.engine.optimizers.multi_task_optim_wrapper import task_specific_parameter_names
from mmdtme.engine.runner_utils import default_analysis_loader_cfg
from mmdtme.registry import MODELS

pytestmark = pytest.mark.slow  # real Runners or tool subprocesses

GRADIENT_METHODS = ['graddrop', 'mgda', 'pcgrad', 'cagrad', 'imtl', 'alignedmtl', 'nashmtl']
WEIGHTING_METHODS = ['uw', 'dwa', 'famo']


def mto_config(data_root, work_dir, method, max_iters=2, dtme=False):
    cfg = tiny_synth_config(data_root, work_dir, max_iters=max_iters)
    method_cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'dtme' if dtme else 'mto', f'{method}_vitt_synth.py'))
    cfg.optim_wrapper = method_cfg.optim_wrapper
    cfg.model_wrapper_cfg = method_cfg.model_wrapper_cfg
    if dtme:
        assert method_cfg.model.backbone.type == 'DTMEViT' and method_cfg.custom_hooks[0].type == 'DTMEHook'
        cfg.model.backbone.type = 'DTMEViT'
        cfg.custom_hooks = [
            dict(
                type='DTMEHook',
                expand_iter=0,
                max_batches=2,
                ratio=0.5,
                analysis_dataloader=default_analysis_loader_cfg(cfg))
        ]  # before val is dropped
    cfg.train_cfg.val_interval = 1000
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None  # no validation at the last iteration: speed
    cfg.default_hooks.checkpoint.interval = 1000
    cfg.default_hooks.checkpoint.save_last = False
    cfg.default_hooks.logger.interval = 1
    return cfg


def logged(runner):
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        return [json.loads(line) for line in f]


def steps_of(runner, param):
    return int(runner.optim_wrapper.optimizer.state[param]['step'])


@pytest.mark.parametrize('method', ['gd'] + GRADIENT_METHODS + WEIGHTING_METHODS)
def test_every_method_trains_in_the_runner(synthetic_root, tmp_path, method):
    runner = Runner.from_cfg(mto_config(synthetic_root, str(tmp_path), method))
    runner.train()
    wrapper, model = runner.optim_wrapper, runner.model
    assert type(wrapper).__name__ == 'MultiTaskOptimWrapper'
    # the shared ViT and every head were stepped twice
    assert steps_of(runner, model.backbone.vit.patch_embed.proj.weight) == 2
    assert all(steps_of(runner, head.predictor.weight) == 2 for head in model.heads.values())
    records = [r for r in logged(runner) if 'loss' in r]
    assert len(records) == 2 and all(torch.isfinite(torch.tensor(r['loss'])) for r in records)
    assert wrapper.num_aggregations == (2 if method in GRADIENT_METHODS else 0)
    if method in WEIGHTING_METHODS or method == 'imtl':
        assert all(f'mto/weight_{task}' in records[-1] for task in model.tasks)
    if method in ('uw', 'imtl'):  # learned weights: their own param group, stepped
        weighter_params = wrapper.weighter.optimizer_parameters()
        assert wrapper.optimizer.param_groups[-1]['params'] == weighter_params
        assert steps_of(runner, weighter_params[0]) == 2
    if method == 'famo':
        assert wrapper.weighter.optimizer.state_dict()['state'][0]['step'] == 2
        assert not torch.equal(wrapper.weighter.logits.detach(), torch.zeros(4))


def build_model_and_wrapper(cfg, aggregator=None, dtme_plan=None):
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    if dtme_plan is not None:
        model.backbone.expand(dtme_plan)
    model.train()
    optim_wrapper = dict(type='MultiTaskOptimWrapper', optimizer=dict(type='SGD', lr=1.0), aggregator=aggregator)
    return model, MultiTaskOptimWrapperConstructor(optim_wrapper)(model)


def reference_gradients(model, batch):
    """Each task's gradient of every trainable parameter, by plain autograd."""
    data = model.data_preprocessor(copy.deepcopy(batch), training=True)
    task_losses = model.task_losses(model(**data, mode='loss'))
    params = dict((name, p) for name, p in model.named_parameters() if p.requires_grad)
    grads = {}
    for task, loss in task_losses.items():
        values = torch.autograd.grad(loss, list(params.values()), retain_graph=True, allow_unused=True)
        grads[task] = {
            name: (g if g is not None else torch.zeros_like(p))
            for (name, p), g in zip(params.items(), values)
        }
    return grads


@pytest.mark.parametrize('aggregator', ['Sum', 'PCGrad'])
@pytest.mark.parametrize('dtme', [False, True], ids=['mt', 'dtme'])
def test_update_is_the_aggregated_shared_gradient_and_the_own_gradient_elsewhere(synthetic_root, tmp_path, aggregator,
                                                                                 dtme):
    cfg = tiny_synth_config(synthetic_root, str(tmp_path))
    plan = None
    if dtme:
        cfg.model.backbone.type = 'DTMEViT'
        plan = Plan(tasks=list(cfg.model.tasks), num_layers=4, channels=32, tm_layers=[1], te_layers=[2], num_tokens=2)
    model, wrapper = build_model_and_wrapper(cfg, dict(type=aggregator), plan)
    batch = fake_batch(4, size=(32, 48))
    grads = reference_gradients(model, batch)
    before = {name: p.detach().clone() for name, p in model.named_parameters()}
    model.train_step(copy.deepcopy(batch), wrapper)

    specific = task_specific_parameter_names(model)
    shared = [name for name, p in model.named_parameters() if p.requires_grad and name not in specific]
    assert all(name.startswith('backbone.vit.') for name in shared)
    if dtme:
        expected_dtme = {
            'backbone.token_modulation.1.weight', 'backbone.token_modulation.1.bias',
            'backbone.token_expansion.2.tokens'
        }
        assert {name for name in specific if 'token_' in name} == expected_dtme
    # task-specific parameters (heads, TM / TE): SGD with lr 1 moved them by minus the summed gradient
    for name in specific:
        expected = before[name] - sum(grads[task][name] for task in model.tasks)
        torch.testing.assert_close(dict(model.named_parameters())[name].detach(), expected, msg=name)
    # shared parameters: minus the aggregate of the task Jacobian (PCGrad draws with the wrapper's seed 0)
    jacobian = torch.stack([torch.cat([grads[task][name].reshape(-1) for name in shared]) for task in model.tasks])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        update = AGGREGATORS.build(dict(type=aggregator))(jacobian)
    moved = torch.cat([(before[name] - dict(model.named_parameters())[name].detach()).reshape(-1) for name in shared])
    torch.testing.assert_close(moved, update, atol=1e-5, rtol=1e-4)
    if aggregator == 'Sum':  # GD through the Jacobian is GD
        gd_model, gd_wrapper = build_model_and_wrapper(cfg, None, plan)
        gd_model.train_step(copy.deepcopy(batch), gd_wrapper)
        for (name, p), (_, q) in zip(model.named_parameters(), gd_model.named_parameters()):
            torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4, msg=name)
    else:
        assert not torch.allclose(moved, jacobian.sum(0), atol=1e-4)  # the tasks conflict: PCGrad is not GD


@pytest.mark.parametrize('method', ['pcgrad', 'famo'])
def test_dtme_composes_with_mto(synthetic_root, tmp_path, method):
    runner = Runner.from_cfg(mto_config(synthetic_root, str(tmp_path), method, dtme=True))
    runner.train()
    backbone, wrapper = runner.model.backbone, runner.optim_wrapper
    assert backbone.is_expanded
    groups = wrapper.optimizer.param_groups
    new_params = [*backbone.token_modulation.parameters(), *backbone.token_expansion.parameters()]
    assert len(groups) == 2 and {id(p) for p in groups[1]['params']} == {id(p) for p in new_params}
    assert all(steps_of(runner, p) == 2 for p in new_params)  # the new parameters are trained ...
    shared, others = wrapper._split_parameters(runner.model) if method == 'pcgrad' else ([], [])
    assert not {id(p) for p in new_params} & {id(p) for p in shared}  # ... as task-specific ones
    if method == 'pcgrad':
        assert wrapper.num_aggregations == 2 and {id(p) for p in new_params} <= {id(p) for p in others}
    else:
        assert wrapper.weighter.optimizer.state_dict()['state'][0]['step'] == 2


@pytest.mark.parametrize('method', ['famo'])  # the richest state: logits + their Adam (UW: see the constructor test)
def test_resume_restores_the_weighter_state(synthetic_root, tmp_path, method):

    def config(work_dir):
        cfg = mto_config(synthetic_root, work_dir, method, max_iters=4)
        cfg.default_hooks.checkpoint.interval = 2
        cfg.default_hooks.checkpoint.save_last = True
        return cfg

    straight = Runner.from_cfg(config(str(tmp_path / 'straight')))
    straight.train()
    first = Runner.from_cfg(config(str(tmp_path / 'resumed')))
    first.train_loop._max_iters = 2  # interrupted after the checkpoint at iteration 2
    first.train()
    cfg = config(str(tmp_path / 'resumed'))
    cfg.resume = True
    resumed = Runner.from_cfg(cfg)
    resumed.train()

    checkpoint = torch.load(str(tmp_path / 'resumed' / 'iter_2.pth'), weights_only=True)
    weighter_state = checkpoint['optimizer']['mto']['weighter']
    assert weighter_state and all(torch.isfinite(v).all() for v in weighter_state.values() if torch.is_tensor(v))
    expected, actual = straight.optim_wrapper.weighter.state_dict(), resumed.optim_wrapper.weighter.state_dict()
    for key in expected:
        if torch.is_tensor(expected[key]):
            torch.testing.assert_close(actual[key], expected[key], msg=key)
    if method == 'famo':
        assert resumed.optim_wrapper.weighter.optimizer.state_dict()['state'][0]['step'] == 4
    for key, value in straight.model.state_dict().items():
        torch.testing.assert_close(resumed.model.state_dict()[key], value, msg=key)


def test_a_summed_loss_is_refused(synthetic_root, tmp_path):
    model, wrapper = build_model_and_wrapper(tiny_synth_config(synthetic_root, str(tmp_path)), dict(type='PCGrad'))
    with pytest.raises(RuntimeError, match='MultiTaskDDP'):
        wrapper.update_params(torch.tensor(1.0, requires_grad=True))
    with pytest.raises(ValueError, match='MultiTaskOptimWrapperConstructor'):
        from mmdtme.engine.optimizers import MultiTaskOptimWrapper
        MultiTaskOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=1.0))


def test_constructor_keeps_the_multi_task_logic_for_plain_and_amp_types(synthetic_root, tmp_path):
    from mmengine.optim import AmpOptimWrapper

    from mmdtme.engine.optimizers import MultiTaskOptimWrapper, MultiTaskOptimWrapperMixin
    from mmdtme.registry import OPTIM_WRAPPERS
    model = MODELS.build(tiny_synth_config(synthetic_root, str(tmp_path)).model)
    wrapper = MultiTaskOptimWrapperConstructor(
        dict(type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1), loss_weighting=dict(type='UW')))(
            model)
    assert isinstance(wrapper, MultiTaskOptimWrapper) and wrapper.tasks == tuple(model.tasks)
    # UW's log-variances: their own param group, and saved / restored with the optimizer state
    assert wrapper.optimizer.param_groups[-1]['params'] == [wrapper.weighter.log_vars]
    with torch.no_grad():
        wrapper.weighter.log_vars.copy_(torch.tensor([0.1, 0.2, 0.3, 0.4]))
    restored = MultiTaskOptimWrapperConstructor(
        dict(type='MultiTaskOptimWrapper', loss_weighting=dict(type='UW'), optimizer=dict(type='SGD', lr=0.1)))(
            model)
    restored.load_state_dict(copy.deepcopy(wrapper.state_dict()))
    torch.testing.assert_close(restored.weighter.log_vars.detach(), torch.tensor([0.1, 0.2, 0.3, 0.4]))
    # tools/train.py --amp sets type='AmpOptimWrapper'; it maps to the AMP multi-task wrapper (GPU only)
    amp = OPTIM_WRAPPERS.get(MultiTaskOptimWrapperConstructor.MULTI_TASK_TYPES['AmpOptimWrapper'])
    assert issubclass(amp, AmpOptimWrapper) and issubclass(amp, MultiTaskOptimWrapperMixin)


def test_famo_recomputes_its_losses_under_the_training_forward_context():
    """FAMO's after-step forward runs inside the optim wrapper's context (autocast under AMP), like the training
    forward, so its before / after losses have the same precision."""
    from contextlib import contextmanager

    from mmdtme.models.wrappers.multi_task_ddp import multi_task_train_step

    class Wrapper:
        inside = False
        seen = []

        @contextmanager
        def optim_context(self, model):
            Wrapper.inside = True
            yield
            Wrapper.inside = False

        def update_task_params(self, task_losses, model, recompute, synced_by_ddp):
            recompute()
            return {}

    class Module(torch.nn.Module):

        def data_preprocessor(self, data, training):
            return data

        def _run_forward(self, data, mode):
            Wrapper.seen.append(Wrapper.inside)
            return {'a.loss': torch.ones(())}

        def parse_losses(self, losses):
            return sum(losses.values()), {}

        def task_losses(self, losses):
            return {'a': losses['a.loss']}

    module = Module()
    multi_task_train_step(module, module, {}, Wrapper())
    assert Wrapper.seen == [True, True]  # the training forward, then FAMO's recompute
