import json
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.runner import Runner

from helpers import tiny_synth_config
from mmdtme.engine.hooks import ConflictMonitorHook

pytestmark = pytest.mark.slow  # real Runners or tool subprocesses


def monitored_run(data_root, work_dir, dtme: bool, measure_before_train: bool = False):
    cfg = tiny_synth_config(data_root, work_dir, max_iters=4)
    cfg.train_cfg.val_interval = 1000
    cfg.custom_hooks = [
        dict(type='ConflictMonitorHook', interval=2, num_batches=1, measure_before_train=measure_before_train)
    ]
    if dtme:
        cfg.model.backbone.type = 'DTMEViT'
        cfg.custom_hooks.append(dict(type='DTMEHook', max_batches=1))
    runner = Runner.from_cfg(cfg)
    runner.train()
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        records = [json.loads(line) for line in f]
    monitor = next(hook for hook in runner.hooks if type(hook).__name__ == 'ConflictMonitorHook')
    return [r for r in records if 'conflicts/range/block_00' in r], monitor.history


@pytest.mark.parametrize('dtme', [False, True], ids=['mt', 'dtme'])
def test_conflicts_are_logged_every_interval(synthetic_root, tmp_path, dtme):
    records, history = monitored_run(synthetic_root, str(tmp_path), dtme, measure_before_train=dtme)
    expected_steps = [0, 2, 4] if dtme else [2, 4]
    assert [r['step'] for r in records] == expected_steps
    assert [entry['iter'] for entry in history] == expected_steps
    for record, entry in zip(records, history):
        values = [record[f'conflicts/{space}/block_{layer:02d}'] for space in ('range', 'null') for layer in range(4)]
        assert all(0.0 < value < 1.0 for value in values), record
        assert values[:4] == pytest.approx(entry['range_conflict'])
        assert values[4:] == pytest.approx(entry['null_conflict'])


def test_angle_histogram_counts_the_cosines_of_hand_made_gradients():
    # losses linear in each layer's weight: task t's gradient on layer u is exactly its direction D[t][u]
    directions = {
        'a': [[1.0, 0.0], [1.0, 0.0], [1.0, 0.0], [1.0, 0.0]],
        'b': [[-0.9, 0.1 * 19**0.5], [-0.15, (1 - 0.15**2)**0.5], [0.03, (1 - 0.03**2)**0.5], [0.7, 0.51**0.5]],
    }  # cos(a, b) per layer: -0.9, -0.15, 0.03, 0.7
    blocks = torch.nn.ModuleList(torch.nn.Sequential(torch.nn.Linear(2, 1, bias=False)) for _ in range(4))
    backbone = SimpleNamespace(vit=SimpleNamespace(blocks=blocks), plan=None)

    def task_losses(batch):
        return {
            task: sum((block[0].weight * torch.tensor(direction)).sum() for block, direction in zip(blocks, rows))
            for task, rows in directions.items()
        }

    hook = ConflictMonitorHook(angle_histogram=True, angle_bins=(-1.0, -0.5, -0.1, 0.0, 0.5, 1.0))
    hook._batches = [None, None]  # two batches: every layer's cosine counted twice
    counts = hook.measure_angles(backbone, task_losses, ['a', 'b'])
    assert counts == [2.0, 2.0, 0.0, 2.0, 2.0]
    assert hook.bin_labels == ['[-1,-0.5)', '[-0.5,-0.1)', '[-0.1,0)', '[0,0.5)', '[0.5,1]']
    with pytest.raises(ValueError, match='increasing'):
        ConflictMonitorHook(angle_histogram=True, angle_bins=(0.0, -1.0))


def test_angle_histogram_is_logged_and_plotted_over_training(synthetic_root, tmp_path):
    cfg = tiny_synth_config(synthetic_root, str(tmp_path), max_iters=4)
    cfg.train_cfg.val_interval = 1000
    cfg.custom_hooks = [dict(type='ConflictMonitorHook', interval=2, num_batches=1, angle_histogram=True)]
    runner = Runner.from_cfg(cfg)
    runner.train()
    with open(osp.join(runner.log_dir, 'vis_data', 'scalars.json')) as f:
        records = [r for r in map(json.loads, f) if 'gradient_angles/cos_[-1,-0.5)' in r]
    monitor = next(hook for hook in runner.hooks if isinstance(hook, ConflictMonitorHook))
    assert [r['step'] for r in records] == [2, 4] and len(monitor.history) == 2
    for record, entry in zip(records, monitor.history):
        shares = [record[f'gradient_angles/cos_{label}'] for label in monitor.bin_labels]
        assert sum(shares) == pytest.approx(1.0)
        # 4 blocks x 6 layers with parameters (norm1, attn.qkv, attn.proj, norm2, mlp.fc1, mlp.fc2) x 6 pairs
        assert sum(entry['angle_counts']) == 4 * 6 * 6
        assert shares == pytest.approx([c / sum(entry['angle_counts']) for c in entry['angle_counts']])
    assert osp.isfile(osp.join(str(tmp_path), 'gradient_angles.png'))
