"""TaskonomyMultiTaskDataset on files written in the real Taskonomy formats (tests/fixtures_taskonomy.py)."""
import math
import os
import os.path as osp
from functools import partial

import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from PIL import Image

from fixtures_taskonomy import VIEWS, write_taskonomy_fixture
from helpers import REPO_ROOT
from mmdtme.datasets import TaskonomyMultiTaskDataset as _Dataset
from mmdtme.datasets.transforms.loading import ANNOTATION_LOADERS
from mmdtme.datasets.transforms.taskonomy_loading import TASKONOMY_TASKS, load_taskonomy_target

SIZE = 64  # stored size of the fixture; the pipeline brings it to 32x32
# mmengine's serialisation runs gc.collect() (~1 s here) per dataset; these tests build many.
TaskonomyMultiTaskDataset = partial(_Dataset, serialize_data=False)
PIPELINE = [
    dict(type='LoadImageWithCheck'),
    dict(type='LoadTaskonomyAnnotations', size=(32, 32)),
    dict(type='PackMultiTaskInputs')
]


@pytest.fixture(scope='module')
def taskonomy(tmp_path_factory):
    """(root, stored arrays) of 4 buildings x 4 views in the omnidata layout, written once for the module."""
    root = str(tmp_path_factory.mktemp('taskonomy'))
    return root, write_taskonomy_fixture(root, size=SIZE)


@pytest.fixture
def small_root(tmp_path):
    """2 buildings x 2 views, for tests that damage the files."""
    root = str(tmp_path / 'taskonomy')
    write_taskonomy_fixture(root, size=16, buildings=('allensville', 'beechwood'), views=((0, 0), (0, 1)))
    return root


def path_of(root, task, building='allensville', name='point_0_view_0'):
    return osp.join(root, task, 'taskonomy', building, f'{name}_domain_{task}.png')


def gaussian_blur_reference(image, sigma):
    """scipy's gaussian_filter (mode 'reflect', truncate 4), written out as two 1-D convolutions."""
    radius = int(4 * sigma + 0.5)
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma)**2)
    taps /= taps.sum()
    padded = np.pad(image, radius, mode='symmetric')
    rows = sum(w * padded[:, k:k + image.shape[1]] for k, w in enumerate(taps))
    return sum(w * rows[k:k + image.shape[0], :] for k, w in enumerate(taps))


def expected_target(task, v):
    """The target of each task computed by hand from the stored values (module docstring of the dataset)."""
    v = v.astype(np.float64)
    if task.startswith('depth'):
        return np.where(v == 65535, 255.0, np.log(v + 1) / np.log(65536))
    if task == 'edge_occlusion':
        return gaussian_blur_reference(2 * v / 409.6 - 1, sigma=4 * SIZE / 256)
    if task in ('edge_texture', 'keypoints2d', 'keypoints3d'):
        high = dict(edge_texture=5242.88, keypoints2d=327.68, keypoints3d=65536.0)[task]
        return 2 * np.minimum(v, high) / high - 1
    if task == 'normal':
        target = 2 * v / 255 - 1
        target[(v == 128).all(-1)] = 0.0
        return target
    if task == 'principal_curvature':
        target = (v[..., :2] - [123.572, 120.1]) / [31.922, 21.658]
        target[(v[..., :2] == 0).all(-1)] = 255.0
        return target
    if task == 'reshading':
        return 2 * v[..., 0] / 255 - 1
    return 2 * v / 255 - 1  # segment_unsup2d / 25d


@pytest.mark.parametrize('task', TASKONOMY_TASKS)
def test_every_task_decodes_its_stored_values(taskonomy, task):
    root, written = taskonomy
    stored = written['allensville/point_0_view_0'][task]
    target = load_taskonomy_target(path_of(root, task), task)
    assert target.dtype == np.float32
    np.testing.assert_allclose(target, expected_target(task, stored), rtol=1e-5, atol=1e-5)
    # the registered reader named in each sample's ann_formats gives the same
    np.testing.assert_array_equal(ANNOTATION_LOADERS[f'taskonomy_{task}'](path_of(root, task)), target)


def test_invalid_pixels_are_marked_only_with_mask_invalid(taskonomy):
    root, written = taskonomy
    stored = written['allensville/point_0_view_0']
    depth = load_taskonomy_target(path_of(root, 'depth_zbuffer'), 'depth_zbuffer')
    assert (depth[:3, :5] == 255.0).all() and (depth[3:] < 1.0).all()
    assert load_taskonomy_target(path_of(root, 'depth_zbuffer'), 'depth_zbuffer', mask_invalid=False)[0, 0] == 1.0
    normal = load_taskonomy_target(path_of(root, 'normal'), 'normal')
    assert (normal[-2:] == 0).all()
    np.testing.assert_allclose(np.linalg.norm(normal[:-2], axis=-1), 1.0, atol=0.02)
    unmasked = load_taskonomy_target(path_of(root, 'normal'), 'normal', mask_invalid=False)
    np.testing.assert_allclose(unmasked[-1, 0], [1 / 255] * 3, rtol=1e-5)
    curvature = load_taskonomy_target(path_of(root, 'principal_curvature'), 'principal_curvature')
    assert curvature.shape == (SIZE, SIZE, 2) and (curvature[-3:, -4:] == 255.0).all()
    assert (np.abs(curvature[:-3]) < 10).all()
    assert stored['principal_curvature'][-3:, -4:].max() == 0


def test_16bit_task_stored_as_8bit_is_named(small_root):
    path = path_of(small_root, 'depth_euclidean')
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(path)
    with pytest.raises(ValueError, match='16-bit single-channel'):
        load_taskonomy_target(path, 'depth_euclidean')


def test_samples_follow_the_split_in_point_view_order(taskonomy):
    root, _ = taskonomy
    dataset = TaskonomyMultiTaskDataset(root, split='train', pipeline=PIPELINE)
    names = [dataset.get_data_info(i)['name'] for i in range(len(dataset))]
    order = [f'point_{p}_view_{v}' for p, v in VIEWS]  # point 10 after point 2
    assert names == [f'{b}/{n}' for b in ('allensville', 'beechwood') for n in order]
    assert [len(TaskonomyMultiTaskDataset(root, split=s, pipeline=PIPELINE)) for s in ('val', 'test', 'train+val')] \
        == [4, 4, 12]
    only = TaskonomyMultiTaskDataset(root, buildings=['ihlen'], pipeline=PIPELINE)
    assert {only.get_data_info(i)['building'] for i in range(len(only))} == {'ihlen'}


def test_pipeline_resizes_image_and_targets_to_the_evaluation_size(taskonomy):
    root, written = taskonomy
    dataset = TaskonomyMultiTaskDataset(root, split='train', pipeline=PIPELINE)
    item = dataset[2]  # allensville/point_2_view_0
    sample = item['data_samples']
    assert item['inputs'].shape == (3, 32, 32) and tuple(sample.ori_shape) == (32, 32)
    stored = written['allensville/point_2_view_0']
    for task in TASKONOMY_TASKS:
        gt = sample.get_task_gt(task).data
        expected = expected_target(task, stored[task])[::2, ::2]  # nearest 2x downsampling keeps even pixels
        expected = expected[None] if expected.ndim == 2 else expected.transpose(2, 0, 1)
        torch.testing.assert_close(gt, torch.from_numpy(expected).float(), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('layout', ['task_first', 'building_first'])
def test_other_layouts(tmp_path, layout):
    written = write_taskonomy_fixture(str(tmp_path), layout=layout, size=16, buildings=('ihlen', ), views=((3, 1), ))
    stored_size = [PIPELINE[0], dict(type='LoadTaskonomyAnnotations', size=None), PIPELINE[2]]
    dataset = TaskonomyMultiTaskDataset(str(tmp_path), split='test', layout=layout, pipeline=stored_size)
    assert len(dataset) == 1
    assert dataset.get_data_info(0)['img_path'].endswith({
        'task_first': 'rgb/ihlen/point_3_view_1_domain_rgb.png',
        'building_first': 'ihlen/rgb/point_3_view_1_domain_rgb.png'
    }[layout])
    target = dataset[0]['data_samples'].get_task_gt('keypoints3d').data
    expected = expected_target('keypoints3d', written['ihlen/point_3_view_1']['keypoints3d'])
    torch.testing.assert_close(target, torch.from_numpy(expected[None]).float())


def test_max_samples_and_subset_are_seeded_draws(taskonomy):
    root, _ = taskonomy

    def names(**kwargs):
        dataset = TaskonomyMultiTaskDataset(root, split='train+val+test', pipeline=PIPELINE, **kwargs)
        return [dataset.get_data_info(i)['name'] for i in range(len(dataset))]

    everything = names()
    assert len(everything) == 16
    drawn = names(max_samples=5, seed=0)
    assert len(drawn) == 5 and drawn == names(max_samples=5, seed=0)
    assert drawn != names(max_samples=5, seed=1)
    assert drawn == [name for name in everything if name in drawn]  # a subset, in the listing order
    assert len(names(subset=0.25, seed=3)) == 4
    assert len(names(subset=0.5, max_samples=3)) == 3
    assert names(max_samples=100) == everything


def test_missing_data_is_named(small_root):
    with pytest.raises(FileNotFoundError, match='does not exist'):
        TaskonomyMultiTaskDataset(small_root + '_nowhere', pipeline=PIPELINE)
    with pytest.raises(FileNotFoundError, match="building 'nowhere' has no rgb folder"):
        TaskonomyMultiTaskDataset(small_root, buildings=['nowhere'], pipeline=PIPELINE)
    with pytest.raises(FileNotFoundError, match='splits_taskonomy/train_val_test_medium.csv'):
        TaskonomyMultiTaskDataset(small_root, partition='medium', pipeline=PIPELINE)

    folder = osp.dirname(path_of(small_root, 'reshading', building='beechwood'))
    os.rename(folder, folder + '_moved')
    with pytest.raises(FileNotFoundError, match=f"no reshading folder '{folder}'"):
        TaskonomyMultiTaskDataset(small_root, pipeline=PIPELINE)
    kept = TaskonomyMultiTaskDataset(small_root, skip_incomplete=True, pipeline=PIPELINE)
    assert [kept.get_data_info(i)['building'] for i in range(len(kept))] == ['allensville'] * 2
    os.rename(folder + '_moved', folder)

    missing = path_of(small_root, 'keypoints2d', name='point_0_view_1')
    os.remove(missing)
    with pytest.raises(FileNotFoundError, match=missing):
        TaskonomyMultiTaskDataset(small_root, pipeline=PIPELINE)
    kept = TaskonomyMultiTaskDataset(small_root, skip_incomplete=True, pipeline=PIPELINE)
    assert 'allensville/point_0_view_1' not in [kept.get_data_info(i)['name'] for i in range(len(kept))]
    assert len(kept) == 3


def test_corrupt_file_is_named(small_root):
    path = path_of(small_root, 'normal', name='point_0_view_1')
    with open(path, 'rb') as f:
        data = f.read()
    with open(path, 'wb') as f:
        f.write(data[:len(data) // 2])
    dataset = TaskonomyMultiTaskDataset(small_root, pipeline=PIPELINE)
    dataset[0]  # the intact view loads
    with pytest.raises(OSError, match='cannot read the normal ground truth .*point_0_view_1_domain_normal.png'):
        dataset[1]


def test_bad_arguments_are_refused(small_root):
    with pytest.raises(ValueError, match="tasks \\['depth'\\]"):
        TaskonomyMultiTaskDataset(small_root, tasks=['depth'])
    with pytest.raises(ValueError, match='split must be'):
        TaskonomyMultiTaskDataset(small_root, split='training')
    with pytest.raises(ValueError, match='layout must be'):
        TaskonomyMultiTaskDataset(small_root, layout='flat')
    with pytest.raises(ValueError, match='max_samples'):
        TaskonomyMultiTaskDataset(small_root, max_samples=0)
    with pytest.raises(ValueError, match='subset'):
        TaskonomyMultiTaskDataset(small_root, subset=1.5)
    flip = PIPELINE[:2] + [dict(type='MultiTaskRandomFlip', prob=0.5)] + PIPELINE[2:]
    with pytest.raises(ValueError, match="negates the x component of Taskonomy's 'normal'"):
        TaskonomyMultiTaskDataset(small_root, pipeline=flip)
    assert len(TaskonomyMultiTaskDataset(small_root, tasks=['depth_zbuffer'], pipeline=flip)) == 4


@pytest.mark.parametrize('config', ['vitb_taskonomy.py', 'vitb_taskonomy_st_normal.py'])
def test_baseline_config_trains_and_evaluates_on_the_fixture(taskonomy, tmp_path, config):
    """configs/baseline/vitb_taskonomy.py (and a single-task one) shrunk to a tiny ViT: one training step, then
    MultiTaskMetric."""
    root, _ = taskonomy
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/baseline', config))
    tasks = list(cfg.model.tasks)
    cfg.work_dir = str(tmp_path / 'work')
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[name]
        loader.batch_size, loader.num_workers, loader.persistent_workers = 2, 0, False
        loader.dataset.data_root = root
        loader.dataset.subset = None
        for step in loader.dataset.pipeline:
            if step.type == 'LoadTaskonomyAnnotations':
                step.size = (32, 32)
    cfg.model.data_preprocessor.size = (32, 32)
    cfg.model.backbone.img_size = (32, 32)
    cfg.model.backbone.model_kwargs = dict(patch_size=8, embed_dim=32, depth=4, num_heads=2)
    cfg.model.backbone.pretrained = None  # a shrunk ViT: the ImageNet-22K weights do not fit it
    for head in cfg.model.heads.values():
        head.channels = 16
    cfg.train_cfg.max_iters = cfg.train_cfg.val_interval = 1
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.default_hooks.checkpoint.interval = 1
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    runner = Runner.from_cfg(cfg)
    runner.train()
    metrics = runner.val_loop.run()
    for task in tasks:
        assert math.isfinite(metrics[f'{task}/l1']) and metrics[f'{task}/l1'] > 0
        assert metrics[f'{task}/rmse'] >= metrics[f'{task}/l1']
    assert len(runner.model.heads) == len(tasks) and len(tasks) in (1, len(TASKONOMY_TASKS))
    assert not any(key.startswith(tuple(set(TASKONOMY_TASKS) - set(tasks))) for key in metrics)


def test_the_reference_split_leaves_out_woodbine_and_wiconisco(tmp_path):
    root = str(tmp_path / 'taskonomy')
    write_taskonomy_fixture(
        root, size=16, buildings=('allensville', 'woodbine', 'collierville', 'wiconisco'), views=((0, 0), ))
    with open(osp.join(root, 'splits_taskonomy', 'train_val_test_tiny.csv'), 'w') as f:  # flags as published
        f.write('id,train,val,test\nallensville,1,0,0\nwoodbine,1,0,0\ncollierville,0,1,0\nwiconisco,0,1,0\n')

    def buildings(**kwargs):
        dataset = TaskonomyMultiTaskDataset(root, split='train+val', pipeline=PIPELINE, **kwargs)
        return sorted({dataset.get_data_info(i)['building'] for i in range(len(dataset))})

    assert buildings() == ['allensville', 'collierville']
    assert buildings(exclude_buildings=()) == ['allensville', 'collierville', 'wiconisco', 'woodbine']
    # named buildings are taken as given
    only = TaskonomyMultiTaskDataset(root, buildings=['woodbine'], pipeline=PIPELINE)
    assert {only.get_data_info(i)['building'] for i in range(len(only))} == {'woodbine'}
