import json
import os.path as osp

import pytest
from mmengine.runner import Runner

from helpers import tiny_synth_config

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
