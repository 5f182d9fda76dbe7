import pytest
import torch
from mmengine.config import Config

from mmdtme.utils.runtime import default_run_name, setup_runtime


def test_default_work_dirs_do_not_collide_between_config_folders():
    assert default_run_name('configs/baseline/vitt_synth.py') == 'baseline/vitt_synth'
    assert default_run_name('configs/dtme/vitt_synth.py') == 'dtme/vitt_synth'
    assert default_run_name('/data/repo/configs/dtme/ablations/vitb_nyud_tm.py') == 'dtme/ablations/vitb_nyud_tm'
    assert default_run_name('/tmp/my_config.py') == 'my_config'


@pytest.mark.parametrize('cuda', [False, True])
def test_distributed_runs_wrap_the_same_way_on_cpus_and_gpus(monkeypatch, cuda):
    monkeypatch.setattr(torch.cuda, 'is_available', lambda: cuda)
    cfg = Config(dict(launcher='slurm', find_unused_parameters=True))
    setup_runtime(cfg)
    expected = dict(type='MMDistributedDataParallel', broadcast_buffers=True, find_unused_parameters=True)
    if not cuda:  # gloo and no device ids on a CPU-only machine
        expected['device_ids'] = None
        assert cfg.env_cfg['dist_cfg']['backend'] == 'gloo'
    assert cfg.model_wrapper_cfg == expected
    own = Config(dict(launcher='slurm', model_wrapper_cfg=dict(type='MultiTaskDDP', broadcast_buffers=False)))
    setup_runtime(own)
    assert own.model_wrapper_cfg['type'] == 'MultiTaskDDP' and own.model_wrapper_cfg['broadcast_buffers'] is False
    single = Config(dict(launcher='none'))
    setup_runtime(single)
    assert 'model_wrapper_cfg' not in single
