"""Every shipped config parses and builds its model; ablation leaves differ from their parent only in the hook; paper
configs carry the paper's weights, batch and protocols, and say so in their header."""
import copy
import functools
import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config

from helpers import REPO_ROOT
from mmdtme.registry import HOOKS, MODELS

CONFIG_ROOT = osp.join(REPO_ROOT, 'configs')
CONFIGS = sorted(p for p in glob.glob(osp.join(CONFIG_ROOT, '**', '*.py'), recursive=True) if '_base_' not in p)
ABLATIONS = [p for p in CONFIGS if '/ablations/' in p]
SYNTHETIC = [p for p in CONFIGS if 'synth' in osp.basename(p)]
REAL_DATA = [p for p in CONFIGS if p not in SYNTHETIC]
# Baseline / DTME / MTO rows on NYUD-v2 and PASCAL-Context: the paper's batch 6 and 60k iterations (InvPT and
# TaskPrompter keep their references' schedules)
PAPER_SCHEDULE = [
    p for p in REAL_DATA if re.search(r'/(baseline|dtme|mto)/', p) and re.search(r'(nyud|pascal)', osp.basename(p))
    and not re.search(r'(invpt|taskprompter)', osp.basename(p))
]
MODEL_CONFIGS = [p for p in CONFIGS if p not in ABLATIONS]


@functools.lru_cache(maxsize=None)
def _parsed(path):
    return Config.fromfile(path)


def load(path):
    """The parsed config (parsed once per session: the tests below read every config several times)."""
    return copy.deepcopy(_parsed(path))


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
        assert f'mto/{method}_vitb_taskonomy.py' in names  # Tab. 3
    for size in 'tsbl':  # Tabs. 3, 8-10
        assert f'dtme/vit{size}_taskonomy.py' in names and f'baseline/vit{size}_taskonomy.py' in names
    for model in ('invpt', 'taskprompter'):  # Tabs. 4-5
        assert {f'dtme/{model}_vitl_nyud.py', f'dtme/{model}_vitl_pascal.py'} <= names
    taskonomy = load(osp.join(CONFIG_ROOT, 'baseline', 'vitb_taskonomy.py')).model.tasks
    assert {f'baseline/vitb_taskonomy_st_{task}.py' for task in taskonomy} <= names
    pascal = load(osp.join(CONFIG_ROOT, 'baseline', 'vitb_pascal.py')).model.tasks
    assert {f'baseline/vitb_pascal_st_{task}.py' for task in pascal} <= names
    for ablation in ('r-1', 'r-10', 'r-500', 'r-1000', 'freeze', 'expand-quarter', 'expand-half',
                     'expand-three-quarters'):
        assert f'dtme/ablations/vitb_nyud_{ablation}.py' in names


@pytest.mark.parametrize('path', MODEL_CONFIGS, ids=lambda p: osp.relpath(p, CONFIG_ROOT))
def test_config_builds_its_model(path):
    cfg = load(path)
    assert cfg.default_scope == 'mmdtme'
    with torch.device('meta'):  # structure only: ViT-L models build 20x faster without real weights
        model = MODELS.build(cfg.model)
    assert list(model.heads) == list(cfg.model.tasks)
    for hook in cfg.get('custom_hooks', []):
        HOOKS.build(hook)


@pytest.mark.parametrize('path', ABLATIONS, ids=lambda p: osp.relpath(p, CONFIG_ROOT))
def test_ablation_changes_only_the_dtme_hook(path):
    cfg = load(path)
    parent = load(osp.join(CONFIG_ROOT, 'dtme', 'vitb_nyud.py'))
    hook = HOOKS.build(cfg.custom_hooks[0])
    reference = HOOKS.build(parent.custom_hooks[0])
    changed = {key for key in vars(hook.settings) if getattr(hook.settings, key) != getattr(reference.settings, key)}
    changed |= {
        key
        for key in ('expand_iter', 'plan_file', 'max_batches', 'freeze_backbone')
        if getattr(hook, key) != getattr(reference, key)
    }
    assert len(changed) == 1 or changed == {'mode', 'seed'} or changed == {'mode'}, changed
    assert cfg.model == parent.model and cfg.train_dataloader == parent.train_dataloader


def _name(path):
    return osp.relpath(path, CONFIG_ROOT)


def _header(path):
    with open(path) as f:
        return ' '.join(line[1:].strip() for line in f.read().split('\n') if line.startswith('#'))


@pytest.mark.parametrize('path', REAL_DATA, ids=_name)
def test_real_data_configs_start_from_imagenet_22k_weights(path):
    cfg = load(path)
    assert cfg.model.backbone.pretrained == 'timm'
    assert "ImageNet-22K ViT weights (pretrained='timm')" in _header(path)


@pytest.mark.parametrize('path', SYNTHETIC, ids=_name)
def test_synthetic_configs_train_from_scratch(path):
    assert load(path).model.backbone.pretrained is None


@pytest.mark.parametrize('path', CONFIGS, ids=_name)
def test_header_states_gpus_batch_and_schedule_and_auto_scale_lr_matches(path):
    cfg = load(path)
    match = re.search(r'(\d+) (?:GPU|process) x batch (\d+)', _header(path))
    assert match, f'{_name(path)}: the header must state GPUs x batch per GPU'
    processes, batch = int(match.group(1)), int(match.group(2))
    assert batch == cfg.train_dataloader.batch_size
    assert cfg.auto_scale_lr == dict(enable=False, base_batch_size=processes * batch)
    iters = cfg.train_cfg.max_iters
    assert f'{iters // 1000}k it' in _header(path) or f'{iters} it' in _header(path)


@pytest.mark.parametrize('path', PAPER_SCHEDULE, ids=_name)
def test_nyud_and_pascal_rows_train_the_papers_batch_and_schedule(path):
    cfg = load(path)
    assert cfg.train_dataloader.batch_size == 6
    hooks = [hook for hook in cfg.get('custom_hooks', []) if hook.type == 'DTMEHook']
    after_expansion = cfg.train_cfg.max_iters - (hooks[0].get('expand_iter', 0) if hooks else 0)
    assert after_expansion == 60000, 'the paper trains 60k iterations (after the expansion)'
    polys = [s for s in cfg.param_scheduler if s.type == 'PolyLR']
    assert polys[-1].end - polys[-1].begin == 60000 and polys[-1].end == cfg.train_cfg.max_iters


@pytest.mark.parametrize('r, tau', [(1, 0.5), (10, 10 / 11), (500, 500 / 501), (1000, 1000 / 1001)])
def test_r_ablations_set_the_papers_split_knob(r, tau):
    cfg = load(osp.join(CONFIG_ROOT, 'dtme', 'ablations', f'vitb_nyud_r-{r}.py'))
    assert HOOKS.build(cfg.custom_hooks[0]).settings.range_variance == pytest.approx(tau)
    assert HOOKS.build(load(osp.join(
        CONFIG_ROOT, 'dtme', 'vitb_nyud.py')).custom_hooks[0]).settings.range_variance == pytest.approx(100 / 101)
