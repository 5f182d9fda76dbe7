"""A new user's first real-data session: one data-root switch, tools that never overwrite a run, strict checkpoint
loading, annotations checked when read, errors before the first iteration, a short console."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from mmengine.config import Config
from PIL import Image

from helpers import REPO_ROOT, expanding_config, run_tool, tiny_synth_config, write_nyud_fixture
from mmdtme.utils import load_config
from mmdtme.utils.checkpoint import checkpoint_mismatch

pytestmark = pytest.mark.slow  # real Runners or tool subprocesses


def file_bytes(path):
    with open(path, 'rb') as f:
        return f.read()


def tool(*args):
    """Run a tool from the repository root and return (exit code, stdout + stderr)."""
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1')
    result = subprocess.run([sys.executable, *args],
                            cwd=REPO_ROOT,
                            env=env,
                            capture_output=True,
                            text=True,
                            timeout=600)
    return result.returncode, result.stdout + result.stderr


@pytest.fixture(scope='module')
def runs(synthetic_root, tmp_path_factory):
    """Two tiny runs through tools/train.py: Baseline MT and DTME (expanded at iteration 0), 2 iterations each."""
    root = tmp_path_factory.mktemp('runs')
    made = {}
    for name in ('baseline', 'dtme'):
        work_dir = str(root / name)
        os.makedirs(work_dir)
        if name == 'dtme':
            cfg = expanding_config(
                synthetic_root, work_dir, max_iters=2, hook=dict(type='DTMEHook', expand_iter=0), checkpoint_interval=1)
        else:
            cfg = tiny_synth_config(synthetic_root, work_dir, max_iters=2)
        config = osp.join(work_dir, 'tiny_synth.py')
        cfg.dump(config)
        log = run_tool(sys.executable, 'tools/train.py', config, '--work-dir', work_dir)
        made[name] = dict(config=config, work_dir=work_dir, log=log, checkpoint=osp.join(work_dir, 'iter_2.pth'))
    return made


# --- one switch for the data ----------------------------------------------------------------------------------------


def test_data_root_sets_every_dataloader_and_the_analysis_set(tmp_path):
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs', 'dtme', 'vitb_nyud.py'))
    cfg.custom_hooks[0]['analysis_dataloader'] = dict(cfg.val_dataloader)
    config = str(tmp_path / 'dtme_nyud.py')
    cfg.dump(config)
    loaded = load_config(config, data_root='/data/my_nyud')
    roots = [loaded[name].dataset.data_root for name in ('train_dataloader', 'val_dataloader', 'test_dataloader')]
    assert roots + [loaded.custom_hooks[0]['analysis_dataloader']['dataset']['data_root']] == ['/data/my_nyud'] * 4


def test_val_options_reach_a_test_loader_copied_from_val():
    loaded = load_config(
        osp.join(REPO_ROOT, 'configs', 'baseline', 'vitb_nyud.py'),
        cfg_options={'val_dataloader.dataset.data_root': '/data/val_copy'})
    assert loaded.test_dataloader.dataset.data_root == '/data/val_copy'
    own = load_config(
        osp.join(REPO_ROOT, 'configs', 'baseline', 'vitb_nyud.py'),
        cfg_options={
            'val_dataloader.dataset.data_root': '/a',
            'test_dataloader.dataset.data_root': '/b'
        })
    assert own.test_dataloader.dataset.data_root == '/b'


def test_missing_data_names_the_switch(tmp_path):
    from mmdtme.datasets import NYUDMultiTaskDataset
    with pytest.raises(FileNotFoundError, match='--data-root PATH'):
        NYUDMultiTaskDataset(data_root=str(tmp_path / 'nowhere'), pipeline=[])


def test_unknown_top_level_option_is_a_warning(monkeypatch):
    from mmdtme.utils import runtime
    warnings = []
    monkeypatch.setattr(runtime, 'print_log', lambda message, **kwargs: warnings.append(message))
    load_config(osp.join(REPO_ROOT, 'configs', 'baseline', 'vitt_synth.py'), cfg_options={'train_cfgs.max_iters': 1})
    assert len(warnings) == 1 and "--cfg-options ['train_cfgs']: no such top-level key" in warnings[0]


def test_workers_are_capped_to_the_cores_unless_set():
    from mmdtme.utils.runtime import available_cores
    config = osp.join(REPO_ROOT, 'configs', 'baseline', 'vitb_nyud.py')  # num_workers=4
    assert load_config(config).train_dataloader.num_workers == min(4, available_cores())
    assert load_config(config, cfg_options={'train_dataloader.num_workers': 4}).train_dataloader.num_workers == 4
    in_process = load_config(config, cfg_options={'train_dataloader.num_workers': 0})
    assert in_process.train_dataloader.num_workers == 0
    assert not in_process.train_dataloader.persistent_workers  # torch refuses persistent workers without workers
    assert in_process.val_dataloader.num_workers == min(4, available_cores())  # the others are still capped


# --- evaluation needs only evaluation data, and no tool overwrites a run ----------------------------------------------


def test_test_tool_reads_no_training_data_and_keeps_the_run(runs, tmp_path):
    run = runs['baseline']
    dump = osp.join(run['work_dir'], 'tiny_synth.py')
    before = file_bytes(dump)
    absent = str(tmp_path / 'no_training_data')
    code, log = tool('tools/test.py', run['config'], run['checkpoint'], '--work-dir', run['work_dir'], '--show-dir',
                     str(tmp_path / 'panels'), '--cfg-options', f'train_dataloader.dataset.data_root={absent}')
    assert code == 0, log
    assert not osp.exists(absent), 'the training set was built (and rendered)'
    assert file_bytes(dump) == before, "tools/test.py replaced the run's config dump"
    test_dirs = [d for d in os.listdir(run['work_dir']) if d.startswith('test_')]
    assert len(test_dirs) == 1
    assert osp.isfile(osp.join(run['work_dir'], test_dirs[0], 'test_metrics.json'))
    assert len(os.listdir(tmp_path / 'panels')) > 0


def test_analyze_writes_a_new_folder_with_the_plan_training_made(runs):
    run = runs['dtme']
    trained_plan = osp.join(run['work_dir'], 'dtme_plan.json')
    before = file_bytes(trained_plan)
    code, log = tool('tools/analyze.py', run['config'])
    assert code == 0, log
    assert file_bytes(trained_plan) == before
    folders = [d for d in os.listdir(run['work_dir']) if d.startswith('analysis_')]
    assert len(folders) == 1
    with open(trained_plan) as f:
        trained = json.load(f)
    with open(osp.join(run['work_dir'], folders[0], 'dtme_plan.json')) as f:
        analysed = json.load(f)
    assert (analysed['tm_layers'], analysed['te_layers']) == (trained['tm_layers'], trained['te_layers'])
    np.testing.assert_allclose(analysed['range_conflict'], trained['range_conflict'], atol=1e-6)
    np.testing.assert_allclose(analysed['null_conflict'], trained['null_conflict'], atol=1e-6)


def test_analyze_refuses_to_replace_a_training_plan(runs):
    run = runs['dtme']
    trained_plan = osp.join(run['work_dir'], 'dtme_plan.json')
    before = file_bytes(trained_plan)
    code, log = tool('tools/analyze.py', run['config'], '--out', run['work_dir'])
    assert code != 0 and 'was not written by tools/analyze.py' in log and '--force' in log
    assert file_bytes(trained_plan) == before


# --- strict loading ------------------------------------------------------------------------------------------------


def built_state(cfg):
    from mmdtme.registry import MODELS
    return MODELS.build(cfg.model).state_dict()


def test_mismatched_checkpoints_are_named_with_their_likely_cause(synthetic_root, tmp_path):
    baseline = tiny_synth_config(synthetic_root, str(tmp_path))
    dtme = expanding_config(synthetic_root, str(tmp_path), 2, dict(type='DTMEHook'), 1)
    wider = tiny_synth_config(synthetic_root, str(tmp_path))
    wider.model.backbone.model_kwargs['embed_dim'] = 48
    baseline_state, dtme_model_state = built_state(baseline), built_state(dtme)
    assert checkpoint_mismatch(dtme_model_state, baseline_state) is None  # training may start from Baseline MT
    assert 'a Baseline checkpoint' in checkpoint_mismatch(dtme_model_state, baseline_state, allow_unexpanded=False)
    expanded = dict(dtme_model_state, **{'backbone.token_modulation.0.weight': torch.ones(4, 32)})
    assert 'DTME-expanded model' in checkpoint_mismatch(baseline_state, expanded)
    message = checkpoint_mismatch(built_state(wider), baseline_state)
    assert 'another backbone size' in message and 'backbone.vit.cls_token is (1, 1, 32)' in message
    assert 'strict_load=False' in message


def test_test_tool_refuses_a_checkpoint_of_another_model(runs):
    code, log = tool('tools/test.py', runs['dtme']['config'], runs['baseline']['checkpoint'])
    assert code != 0 and 'a Baseline checkpoint' in log and 'Traceback' not in log
    code, log = tool('tools/test.py', runs['baseline']['config'], runs['dtme']['checkpoint'])
    assert code != 0 and 'DTME-expanded model' in log and 'Traceback' not in log
    code, log = tool('tools/test.py', runs['dtme']['config'], runs['baseline']['checkpoint'], '--cfg-options',
                     'strict_load=False')
    assert code == 0, log


# --- annotations checked when read ---------------------------------------------------------------------------------


@pytest.fixture
def nyud_copy(tmp_path):
    root = str(tmp_path / 'nyud')
    write_nyud_fixture(root, {'train': ['a']})
    return root


def load_sample(root):
    from mmdtme.datasets import NYUDMultiTaskDataset
    pipeline = [dict(type='LoadImageWithCheck'), dict(type='LoadNYUDAnnotations', frame='auto')]
    return NYUDMultiTaskDataset(data_root=root, split='train', pipeline=pipeline)[0]


def test_labels_out_of_range_name_the_file(nyud_copy):
    path = osp.join(nyud_copy, 'segmentation', 'a.png')
    label = np.array(Image.open(path))
    label[0, 0] = 200  # stored class + 1: class 199 of 40
    Image.fromarray(label).save(path)
    with pytest.raises(ValueError, match=r"semseg ground truth '.*a\.png' holds labels 199 .*0\.\.39 of the 40"):
        load_sample(nyud_copy)


def test_maps_with_the_wrong_channel_count_name_the_file(nyud_copy):
    path = osp.join(nyud_copy, 'depth', 'a.npy')
    depth = np.load(path)
    np.save(path, np.repeat(depth[..., None], 3, axis=2))
    with pytest.raises(ValueError, match=r"depth ground truth '.*a\.npy' has shape \(24, 32, 3\); expected H×W"):
        load_sample(nyud_copy)


# --- errors before the first iteration -----------------------------------------------------------------------------


def test_dtme_checks_fail_before_the_first_iteration(synthetic_root, tmp_path):
    from mmengine.runner import Runner
    single = expanding_config(synthetic_root, str(tmp_path / 'single'), 10, dict(type='DTMEHook', expand_iter=5), 10)
    single.model.tasks = ['semseg']
    runner = Runner.from_cfg(single)
    with pytest.raises(ValueError, match=r"needs at least 2 tasks .* \['semseg'\]"):
        runner.train()
    assert runner.iter == 0
    missing = expanding_config(synthetic_root, str(tmp_path / 'plan'), 10,
                               dict(type='DTMEHook', expand_iter=5, plan_file=str(tmp_path / 'nope.json')), 10)
    with pytest.raises(FileNotFoundError, match='plan_file .*nope.json.* does not exist'):
        Runner.from_cfg(missing).train()


def test_truncated_checkpoint_under_resume_names_the_older_ones(runs, tmp_path):
    work_dir = str(tmp_path / 'copy')
    shutil.copytree(runs['dtme']['work_dir'], work_dir)
    last = osp.join(work_dir, 'iter_2.pth')
    with open(last, 'r+b') as f:
        f.truncate(os.path.getsize(last) // 2)
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(last)
    code, log = tool('tools/train.py', runs['dtme']['config'], '--work-dir', work_dir, '--resume')
    assert code != 0 and 'Traceback' not in log
    assert f"checkpoint '{last}' is truncated or corrupt" in log and 'iter_1.pth' in log


# --- a readable start ----------------------------------------------------------------------------------------------


def test_console_shows_a_short_start_and_the_log_keeps_everything(runs):
    log = runs['baseline']['log']
    assert 'Config:' not in log and 'System environment' not in log and 'Hooks will be executed' not in log
    assert 'work dir: ' in log and 'backbone weights: none' in log and 'M parameters' in log
    start = log[:log.index('Checkpoints will be saved')]  # the last line before the first iteration
    assert len(start.splitlines()) < 30, start
    work_dir = runs['baseline']['work_dir']
    stamp = sorted(d for d in os.listdir(work_dir) if osp.isfile(osp.join(work_dir, d, f'{d}.log')))[0]
    full = open(osp.join(work_dir, stamp, f'{stamp}.log')).read()
    assert 'Config:' in full and 'Hooks will be executed' in full
