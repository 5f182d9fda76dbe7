import numpy as np
import pytest

from helpers import write_nyud_fixture
from mmdtme.datasets import NYUDMultiTaskDataset


def load(root, pipeline):
    steps = [dict(type='LoadImageWithCheck'), dict(type='LoadMultiTaskAnnotations')] + pipeline
    return NYUDMultiTaskDataset(data_root=root, split='train', pipeline=steps, serialize_data=False)


@pytest.fixture
def root(tmp_path):
    root = str(tmp_path / 'nyud')
    write_nyud_fixture(root, dict(train=['a']), height=20, width=28)
    return root


def test_flip_mirrors_every_map_and_negates_normal_x(root):
    plain = load(root, [dict(type='PackMultiTaskInputs')])[0]
    flipped = load(root, [dict(type='MultiTaskRandomFlip', prob=1.0), dict(type='PackMultiTaskInputs')])[0]
    sample, flipped_sample = plain['data_samples'], flipped['data_samples']
    assert flipped_sample.flip and flipped_sample.flip_direction == 'horizontal'
    assert np.array_equal(flipped['inputs'].numpy(), plain['inputs'].numpy()[..., ::-1])
    for field in ('gt_sem_seg', 'gt_depth_map', 'gt_edge_map'):
        assert np.array_equal(
            getattr(flipped_sample, field).data.numpy(),
            getattr(sample, field).data.numpy()[..., ::-1])
    normals, flipped_normals = sample.gt_normal_map.data.numpy(), flipped_sample.gt_normal_map.data.numpy()
    assert np.array_equal(flipped_normals[0], -normals[0][..., ::-1])
    assert np.array_equal(flipped_normals[1:], normals[1:][..., ::-1])


def test_plain_flip_with_normals_is_refused(root):
    dataset = load(root, [dict(type='RandomFlip', prob=1.0), dict(type='PackMultiTaskInputs')])
    with pytest.raises(RuntimeError, match='MultiTaskRandomFlip'):
        dataset[0]


def test_resize_and_crop_keep_maps_aligned_and_never_interpolate_labels(root):
    plain = load(root, [dict(type='PackMultiTaskInputs')])[0]['data_samples']
    pipeline = [
        dict(type='RandomResize', scale=(28, 20), ratio_range=(1.3, 1.6), keep_ratio=True),
        dict(type='RandomCrop', crop_size=(20, 28)),
        dict(type='MultiTaskRandomFlip', prob=0.5),
        dict(type='PhotoMetricDistortion'),
        dict(type='PackMultiTaskInputs')
    ]
    dataset = load(root, pipeline)
    for _ in range(5):
        packed = dataset[0]
        sample = packed['data_samples']
        assert packed['inputs'].shape[-2:] == (20, 28)
        for field in ('gt_sem_seg', 'gt_depth_map', 'gt_normal_map', 'gt_edge_map'):
            assert getattr(sample, field).data.shape[-2:] == (20, 28), field
        # nearest-neighbour resizing: every value is one that was in the original map
        for field in ('gt_sem_seg', 'gt_depth_map', 'gt_edge_map'):
            assert set(np.unique(getattr(sample,
                                         field).data.numpy())) <= set(np.unique(getattr(plain,
                                                                                        field).data.numpy())), field
        lengths = np.linalg.norm(sample.gt_normal_map.data.numpy(), axis=0)
        np.testing.assert_allclose(lengths, 1.0, atol=0.02)  # unit normals up to 8-bit quantisation
