"""The README's workflow on a tiny model: train, resume, evaluate a checkpoint, and train with 2 processes."""
import json
import math
import os
import os.path as osp
import subprocess
import sys
import time

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


def test_auto_scale_lr_rescales_to_the_total_batch_and_the_log_says_so(synthetic_root, tmp_path):
    work_dir = str(tmp_path / 'scaled')
    config = str(tmp_path / 'tiny_synth.py')  # outside the work dir, where the runner dumps the config it ran
    cfg = tiny_synth_config(synthetic_root, work_dir, max_iters=5)
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=8) and cfg.train_dataloader.batch_size == 4
    cfg.dump(config)
    log = run_tool(sys.executable, 'tools/train.py', config, '--work-dir', work_dir, '--auto-scale-lr')
    assert 'batch: 1 process(es) x 4 = 4; lr 0.001 x 4/8 = 0.0005 (auto_scale_lr)' in log
    runs = sorted(d for d in os.listdir(work_dir) if osp.isdir(osp.join(work_dir, d, 'vis_data')))
    with open(osp.join(work_dir, runs[-1], 'vis_data', 'scalars.json')) as f:
        lrs = [record['lr'] for record in map(json.loads, f) if 'lr' in record]
    assert lrs and lrs == pytest.approx([5e-4] * len(lrs))
    plain = run_tool(sys.executable, 'tools/train.py', config, '--work-dir', str(tmp_path / 'plain'))
    assert 'lr 0.001 (set for a total batch of 8; --auto-scale-lr rescales it)' in plain


def test_a_paper_config_without_its_weights_stops_within_seconds_before_reading_data(tmp_path):
    # no cached weights (an empty hub cache) and a hub that refuses connections: the run must not hang on retries
    env = dict(
        os.environ, HF_HOME=str(tmp_path / 'hf'), HF_ENDPOINT=f'http://127.0.0.1:{free_port()}', PYTHONUNBUFFERED='1')
    env.pop('HF_HUB_OFFLINE', None)
    start = time.monotonic()
    result = subprocess.run(
        [sys.executable, 'tools/train.py', 'configs/dtme/vitb_nyud.py', '--work-dir',
         str(tmp_path / 'work')],
        cwd=REPO_ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120)
    elapsed = time.monotonic() - start
    output = result.stdout + result.stderr
    assert result.returncode != 0 and elapsed < 60, (elapsed, output)  # imports included; the check itself is ~0 s
    assert 'error: the pretrained weights of vit_base_patch16_384 are not cached' in output
    assert '--cfg-options model.backbone.pretrained=checkpoints/vit_base_patch16_384.augreg_in21k_ft_in1k' \
        '.safetensors' in output
    assert 'Traceback' not in output and 'NYUDv2' not in output  # one message, before the data is looked at
    assert not osp.exists(tmp_path / 'work')
