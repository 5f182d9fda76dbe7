"""MTO under DDP: 2 gloo processes end with identical parameters, equal to one process on the concatenated batch.

Run as a script (``torchrun --nproc_per_node 2 tests/test_engine/test_mto_ddp.py OUT CONFIG...``) this file is the
worker: it trains each config with the ``pytorch`` launcher and saves every rank's final state.
"""
import os
import os.path as osp
import sys

import pytest
import torch

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))  # tests/helpers.py when run as a script

from helpers import free_port, run_tool, tiny_synth_config  # noqa: E402

pytestmark = pytest.mark.slow  # real Runners or tool subprocesses

METHODS = {
    'pcgrad': dict(aggregator=dict(type='PCGrad')),  # random draws: must agree across processes
    'famo': dict(loss_weighting=dict(type='FAMO')),  # statistics of the losses: must be the averaged ones
    # no aggregator: DDP's reducer averages the model's gradients, the wrapper only the weighter's parameters
    'uw': dict(loss_weighting=dict(type='UW')),
}
ITERS = 3


def ddp_config(data_root, work_dir, method, batch_size):
    """Deterministic data (no augmentation, no shuffle) and heads without BN, so one process on the concatenated
    batch computes the same batch-mean losses as the two processes together."""
    cfg = tiny_synth_config(data_root, work_dir, max_iters=ITERS)
    cfg.train_dataloader.batch_size = batch_size
    cfg.train_dataloader.sampler = dict(type='DefaultSampler', shuffle=False)
    cfg.train_dataloader.dataset.pipeline = [
        dict(type='LoadImageWithCheck'),
        dict(type='LoadMultiTaskAnnotations'),
        dict(type='PackMultiTaskInputs')
    ]
    for head in cfg.model.heads.values():
        head.norm_cfg = None
    cfg.optim_wrapper = dict(
        type='MultiTaskOptimWrapper',
        constructor='MultiTaskOptimWrapperConstructor',
        optimizer=dict(type='SGD', lr=0.01),
        **METHODS[method])
    cfg.model_wrapper_cfg = dict(type='MultiTaskDDP')
    cfg.train_cfg.val_interval = 1000
    cfg.val_dataloader = cfg.val_cfg = cfg.val_evaluator = None
    cfg.default_hooks.checkpoint.interval = 1000
    cfg.default_hooks.checkpoint.save_last = False
    return cfg


def final_state(runner) -> dict:
    module = runner.model.module if hasattr(runner.model, 'module') else runner.model
    weighter = runner.optim_wrapper.weighter
    return dict(
        model={
            k: v.detach().clone()
            for k, v in module.state_dict().items()
        },
        weighter=weighter.state_dict() if weighter is not None else {},
        wrapper=type(runner.model).__name__)


@pytest.fixture(scope='module')
def ddp_states(synthetic_root, tmp_path_factory):
    work = tmp_path_factory.mktemp('mto_ddp')
    configs = []
    for method in METHODS:
        path = str(work / f'{method}.py')
        ddp_config(synthetic_root, str(work / method), method, batch_size=4).dump(path)
        configs.append(path)
    out = str(work / 'states')
    run_tool(sys.executable, '-m', 'torch.distributed.run', '--nproc_per_node', '2', '--master_port', str(free_port()),
             osp.abspath(__file__), out, *configs)
    return {
        method: [torch.load(osp.join(out, f'{method}_rank{rank}.pth'), weights_only=True) for rank in (0, 1)]
        for method in METHODS
    }


@pytest.mark.parametrize('method', list(METHODS))
@pytest.mark.distributed
def test_ranks_agree_and_match_one_process_on_the_concatenated_batch(ddp_states, synthetic_root, tmp_path, method):
    from mmengine.runner import Runner
    rank0, rank1 = ddp_states[method]
    assert rank0['wrapper'] == rank1['wrapper'] == 'MultiTaskDDP'
    for key, value in rank0['model'].items():
        assert torch.equal(value, rank1['model'][key]), f'{key} differs between the ranks'
    single = Runner.from_cfg(ddp_config(synthetic_root, str(tmp_path), method, batch_size=8))
    single.train()
    reference = final_state(single)
    for key, value in reference['model'].items():
        torch.testing.assert_close(rank0['model'][key], value, atol=2e-5, rtol=1e-4, msg=key)
    for key, value in reference['weighter'].items():
        if torch.is_tensor(value):
            torch.testing.assert_close(rank0['weighter'][key], value, atol=1e-5, rtol=1e-4, msg=key)
    if method == 'famo':  # the logits moved, identically on both ranks
        assert not torch.equal(rank0['weighter']['logits'], torch.zeros(4))
        assert torch.equal(rank0['weighter']['logits'], rank1['weighter']['logits'])


def _worker(out: str, configs) -> None:
    from mmengine.runner import Runner

    from mmdtme.utils import load_config, setup_runtime, teardown_distributed
    os.makedirs(out, exist_ok=True)
    rank = int(os.environ['RANK'])
    for path in configs:
        cfg = load_config(path, None, None, 'pytorch')
        setup_runtime(cfg)
        runner = Runner.from_cfg(cfg)
        runner.train()
        torch.save(final_state(runner), osp.join(out, f'{osp.splitext(osp.basename(path))[0]}_rank{rank}.pth'))
        del runner
    teardown_distributed()


if __name__ == '__main__':
    _worker(sys.argv[1], sys.argv[2:])
