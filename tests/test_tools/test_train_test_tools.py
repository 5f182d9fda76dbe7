"""The README's workflow on a tiny model: train, resume, evaluate a checkpoint, and train with 2 processes."""
import json
import math
import os
import os.path as osp
import subprocess
import sys

import pytest

from helpers import REPO_ROOT, free_port, run_tool, tiny_synth_config

pytestmark = pytest.mark.slow  # real Runners or tool subprocesses


def logged_losses(work_dir):
    runs = sorted(d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d, 'vis_data')))
    with open(osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')) as f:
        records = [json.loads(line) for line in f]
    return [(r['iter'], r['loss']) for r in records if 'loss' in r]


@pytest.fixture(scope='module')
def trained(synthetic_root, tmp_path_factory):
    """20 iterations of the tiny demo config through tools/train.py."""
    work_dir = str(tmp_path_factory.mktemp('work'))
    config = osp.join(work_dir, 'tiny_synth.py')
    tiny_synth_config(synthetic_root, work_dir, max_iters=20).dump(config)
    log = run_tool(sys.executable, 'tools/train.py', config, '--work-dir', work_dir)
    return config, work_dir, log


def test_train_lowers_the_loss_and_writes_a_checkpoint(trained):
    _, work_dir, log = trained
    losses = logged_losses(work_dir)
    assert {5, 10, 15, 20} <= {it for it, _ in losses}
    values = [loss for it, loss in losses if it in (5, 10, 15, 20)]
    assert all(later < earlier for earlier, later in zip(values, values[1:])), losses
    assert values[-1] < 0.95 * values[0], losses
    assert osp.isfile(osp.join(work_dir, 'iter_20.pth'))
    assert 'eta:' in log  # progress with ETA
    assert 'semseg/mIoU' in log  # evaluated on the val split at the end


def test_resume_continues_from_the_checkpoint(trained):
    config, work_dir, _ = trained
    log = run_tool(sys.executable, 'tools/train.py', config, '--work-dir', work_dir, '--resume', '--cfg-options',
                   'train_cfg.max_iters=25', 'default_hooks.checkpoint.interval=5', 'train_cfg.val_interval=100')
    assert 'resumed epoch: 0, iter: 20' in log.lower() or 'resumed' in log.lower()
    assert osp.isfile(osp.join(work_dir, 'iter_25.pth'))
    assert logged_losses(work_dir)[-1][0] == 25


def test_test_tool_reports_every_metric(trained):
    config, work_dir, _ = trained
    out = osp.join(work_dir, 'metrics.json')
    run_tool(sys.executable, 'tools/test.py', config, osp.join(work_dir, 'iter_20.pth'), '--work-dir', work_dir,
             '--out', out)
    with open(out) as f:
        metrics = json.load(f)
    for key in ('semseg/mIoU', 'depth/rmse', 'normals/mean', 'edge/pixel_odsF'):
        assert key in metrics and math.isfinite(metrics[key]), (key, metrics)
    assert 0 < metrics['semseg/mIoU'] <= 100 and metrics['depth/rmse'] > 0 and 0 < metrics['normals/mean'] < 180


def test_test_tool_with_missing_checkpoint_says_so(trained):
    config, work_dir, _ = trained
    result = subprocess.run([sys.executable, 'tools/test.py', config,
                             osp.join(work_dir, 'nope.pth')],
                            cwd=REPO_ROOT,
                            capture_output=True,
                            text=True)
    assert result.returncode != 0 and 'nope.pth' in result.stderr and 'does not exist' in result.stderr


@pytest.mark.distributed
def test_dist_train_with_two_cpu_processes(synthetic_root, tmp_path):
    work_dir = str(tmp_path)
    config = osp.join(work_dir, 'tiny_synth.py')
    cfg = tiny_synth_config(synthetic_root, work_dir, max_iters=4)
    cfg.train_cfg.val_interval = 100
    cfg.dump(config)
    log = run_tool('bash', 'tools/dist_train.sh', config, '2', '--work-dir', work_dir, PORT=str(free_port()))
    assert 'Distributed training is not used' not in log
    assert osp.isfile(osp.join(work_dir, 'iter_4.pth'))
    assert logged_losses(work_dir)[-1][0] == 4
