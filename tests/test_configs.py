"""Every shipped config parses and builds its model; ablation leaves differ from their parent only in the hook."""
import glob
import os.path as osp

import pytest
import torch
from mmengine.config import Config

from helpers import REPO_ROOT
from mmdtme.registry import HOOKS, MODELS

CONFIG_ROOT = osp.join(REPO_ROOT, 'configs')
CONFIGS = sorted(p for p in glob.glob(osp.join(CONFIG_ROOT, '**', '*.py'), recursive=True) if '_base_' not in p)
ABLATIONS = [p for p in CONFIGS if '/ablations/' in p]
MODEL_CONFIGS = [p for p in CONFIGS if p not in ABLATIONS]


def test_configs_exist():
    names = {osp.relpath(p, CONFIG_ROOT) for p in CONFIGS}
    for required in ('baseline/vitt_synth.py', 'baseline/vitb_nyud.py', 'baseline/vits_nyud.py',
                     'baseline/vitl_nyud.py', 'baseline/vitt_nyud.py', 'baseline/vitt_synth_st_semseg.py',
                     'dtme/vitb_nyud.py', 'dtme/vitt_synth.py', 'dtme/vitl_nyud.py', 'dtme/vitb_pascal.py',
                     'dtme/vitb_taskonomy.py', 'dtme/invpt_vitb_nyud.py', 'dtme/taskprompter_vitb_nyud.py',
                     'dtme/pcgrad_vitb_nyud.py', 'dtme/famo_vitb_nyud.py', 'dtme/pcgrad_vitt_synth.py',
                     'dtme/famo_vitt_synth.py', 'mto/recon_vitb_nyud.py'):
        assert required in names
    for model in ('invpt', 'taskprompter'):
        for size in ('b', 'l'):
            for dataset in ('nyud', 'pascal'):
                assert f'{model}/vit{size}_{dataset}.py' in names
    for method in ('gd', 'graddrop', 'mgda', 'pcgrad', 'cagrad', 'imtl', 'alignedmtl', 'nashmtl', 'uw', 'dwa', 'famo'):
        assert f'mto/{method}_vitb_nyud.py' in names and f'mto/{method}_vitt_synth.py' in names


@pytest.mark.parametrize('path', MODEL_CONFIGS, ids=lambda p: osp.relpath(p, CONFIG_ROOT))
def test_config_builds_its_model(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmdtme'
    with torch.device('meta'):  # structure only: ViT-L models build 20x faster without real weights
        model = MODELS.build(cfg.model)
    assert list(model.heads) == list(cfg.model.tasks)
    for hook in cfg.get('custom_hooks', []):
        HOOKS.build(hook)


@pytest.mark.parametrize('path', ABLATIONS, ids=lambda p: osp.relpath(p, CONFIG_ROOT))
def test_ablation_changes_only_the_dtme_hook(path):
    cfg = Config.fromfile(path)
    parent = Config.fromfile(osp.join(CONFIG_ROOT, 'dtme', 'vitb_nyud.py'))
    hook = HOOKS.build(cfg.custom_hooks[0])
    reference = HOOKS.build(parent.custom_hooks[0])
    changed = {key for key in vars(hook.settings) if getattr(hook.settings, key) != getattr(reference.settings, key)}
    changed |= {
        key
        for key in ('expand_iter', 'plan_file', 'max_batches') if getattr(hook, key) != getattr(reference, key)
    }
    assert len(changed) == 1 or changed == {'mode', 'seed'} or changed == {'mode'}, changed
    assert cfg.model == parent.model and cfg.train_dataloader == parent.train_dataloader
