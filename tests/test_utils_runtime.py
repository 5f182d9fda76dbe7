import gc
import weakref

import pytest
import torch
import torch.distributed as dist
from mmengine.config import Config

from helpers import free_port
from mmdtme.utils.runtime import default_run_name, setup_runtime, teardown_distributed


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


def test_random_weights_on_real_data_are_one_warning_and_synthetic_runs_stay_quiet(monkeypatch, tmp_path):
    from mmdtme.utils import backbone_weights
    real = Config.fromfile('configs/baseline/vitb_nyud.py')
    synthetic = Config.fromfile('configs/baseline/vitt_synth.py')
    assert not backbone_weights.random_init_on_real_data(real)  # ImageNet-22K weights by default
    real.model.backbone.pretrained = None
    assert backbone_weights.random_init_on_real_data(real)
    assert not backbone_weights.random_init_on_real_data(synthetic)
    real.load_from = 'work_dirs/run/iter_1000.pth'
    assert not backbone_weights.random_init_on_real_data(real)  # the checkpoint's weights, not random ones
    real.load_from = None
    warnings = []
    monkeypatch.setattr(backbone_weights, 'print_log', lambda message, **kwargs: warnings.append((message, kwargs)))
    backbone_weights.warn_random_init(real)
    backbone_weights.warn_random_init(synthetic)
    assert len(warnings) == 1 and 'random weights' in warnings[0][0] and warnings[0][1]['level'] == 30


def test_resuming_drops_unavailable_weights_but_a_fresh_run_stops(tmp_path):
    from mmdtme.utils import prepare_backbone_weights
    cfg = Config.fromfile('configs/baseline/vitb_nyud.py')
    cfg.model.backbone.pretrained = str(tmp_path / 'missing.safetensors')
    with pytest.raises(FileNotFoundError, match='missing.safetensors'):
        prepare_backbone_weights(cfg)
    prepare_backbone_weights(cfg, resuming=True)  # the checkpoint replaces the weights
    assert cfg.model.backbone.pretrained is None


def test_teardown_frees_a_wrapper_held_only_by_reference_cycles_before_it_destroys_the_group():
    """A Runner's cycles keep its DDP wrapper (and through the reducer, the gloo group) alive until a collection;
    teardown collects before it destroys the group, so the interpreter's exit has nothing left to free."""
    dist.init_process_group('gloo', init_method=f'tcp://127.0.0.1:{free_port()}', rank=0, world_size=1)
    try:
        holder = {'model': torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(2, 2))}
        holder['self'] = holder  # a cycle, as the Runner's hooks and loops make
        wrapper = weakref.ref(holder['model'])
        gc.disable()  # no automatic collection may free it before teardown does
        del holder
        assert wrapper() is not None
        teardown_distributed()
        assert wrapper() is None and not dist.is_initialized()
    finally:
        gc.enable()
        if dist.is_initialized():
            dist.destroy_process_group()
