"""Every shipped config parses and builds its model."""
import glob
import os.path as osp

import pytest
from mmengine.config import Config

from helpers import REPO_ROOT
from mmdtme.registry import MODELS

CONFIGS = sorted(p for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'), recursive=True)
                 if '_base_' not in p)


def test_configs_exist():
    names = {osp.relpath(p, osp.join(REPO_ROOT, 'configs')) for p in CONFIGS}
    for required in ('baseline/vitt_synth.py', 'baseline/vitb_nyud.py', 'baseline/vits_nyud.py',
                     'baseline/vitl_nyud.py', 'baseline/vitt_nyud.py', 'baseline/vitt_synth_st_semseg.py'):
        assert required in names


@pytest.mark.parametrize('path', CONFIGS, ids=lambda p: osp.relpath(p, REPO_ROOT))
def test_config_builds_its_model(path):
    cfg = Config.fromfile(path)
    assert cfg.default_scope == 'mmdtme'
    model = MODELS.build(cfg.model)
    assert list(model.heads) == list(cfg.model.tasks)
    for task in cfg.model.tasks:
        assert cfg.model.heads[task].out_channels > 0
