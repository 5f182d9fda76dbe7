import os.path as osp

import numpy as np
import pytest

from helpers import write_nyud_fixture
from mmdtme.datasets import NYUDMultiTaskDataset, SyntheticNYUDDataset
from mmdtme.datasets.synthetic import CLASSES

TEST_PIPELINE = [
    dict(type='LoadImageWithCheck'),
    dict(type='LoadMultiTaskAnnotations'),
    dict(type='PackMultiTaskInputs')
]


@pytest.fixture
def nyud_root(tmp_path):
    root = str(tmp_path / 'NYUDv2')
    written = write_nyud_fixture(root, dict(train=['0003', '0007'], val=['0011']))
    return root, written


def test_reads_real_nyud_layout(nyud_root):
    root, written = nyud_root
    dataset = NYUDMultiTaskDataset(data_root=root, split='train', pipeline=TEST_PIPELINE)
    assert len(dataset) == 2
    sample = dataset[1]['data_samples']
    expected = written['0007']
    label = sample.gt_sem_seg.data[0].numpy()
    stored = expected['stored_label'].astype(np.int64)
    assert np.array_equal(label[stored == 0], np.full((stored == 0).sum(), 255))  # unlabelled -> ignore
    assert np.array_equal(label[stored > 0], stored[stored > 0] - 1)  # label - 1
    assert np.array_equal(sample.gt_depth_map.data[0].numpy(), expected['depth'])
    np.testing.assert_allclose(sample.gt_normal_map.data.numpy().transpose(1, 2, 0), expected['normals'], atol=1e-6)
    assert np.array_equal(sample.gt_edge_map.data[0].numpy(), (expected['edge'] > 0).astype(np.int64))
    image = dataset[1]['inputs'].numpy().transpose(1, 2, 0)
    assert np.array_equal(image[..., ::-1], expected['image'])  # packed BGR, as mmcv loads images
    assert len(NYUDMultiTaskDataset(data_root=root, split='val', pipeline=TEST_PIPELINE)) == 1


def test_missing_root_names_the_path_and_layout(tmp_path):
    missing = str(tmp_path / 'nowhere')
    with pytest.raises(FileNotFoundError, match='nowhere.*does not exist') as error:
        NYUDMultiTaskDataset(data_root=missing)
    assert 'gt_sets' in str(error.value) and 'data_root' in str(error.value)


def test_missing_task_file_is_reported(nyud_root):
    root, _ = nyud_root
    import os
    os.remove(osp.join(root, 'depth', '0003.npy'))
    with pytest.raises(FileNotFoundError, match=r'depth/0003\.npy'):
        NYUDMultiTaskDataset(data_root=root, split='train')
    assert len(NYUDMultiTaskDataset(data_root=root, split='train', tasks=['semseg'])) == 2


def test_corrupt_image_names_the_file(nyud_root):
    root, _ = nyud_root
    with open(osp.join(root, 'images', '0011.png'), 'wb') as f:
        f.write(b'not a png at all')
    dataset = NYUDMultiTaskDataset(data_root=root, split='val', pipeline=TEST_PIPELINE, serialize_data=False)
    with pytest.raises(OSError, match=r'images/0011\.png.*corrupt'):
        dataset[0]


def test_corrupt_depth_names_the_file(nyud_root):
    root, _ = nyud_root
    with open(osp.join(root, 'depth', '0011.npy'), 'wb') as f:
        f.write(b'\x00' * 10)
    dataset = NYUDMultiTaskDataset(data_root=root, split='val', pipeline=TEST_PIPELINE)
    with pytest.raises(OSError, match=r'depth ground truth .*0011\.npy'):
        dataset[0]


def test_synthetic_dataset_is_generated_on_first_use(tmp_path):
    root = str(tmp_path / 'scenes')
    generator = dict(num_train=3, num_val=2, height=16, width=24, seed=1)
    dataset = SyntheticNYUDDataset(data_root=root, generator=generator, split='train', pipeline=TEST_PIPELINE)
    assert len(dataset) == 3 and osp.isfile(osp.join(root, 'meta.json'))
    assert dataset.metainfo['classes'] == CLASSES
    sample = dataset[0]['data_samples']
    assert int(sample.gt_sem_seg.data.max()) < len(CLASSES)  # every synthetic pixel is labelled
    assert len(SyntheticNYUDDataset(data_root=root, generator=generator, split='val')) == 2


def test_synthetic_config_classes_match_generator():
    from mmengine.config import Config

    from helpers import REPO_ROOT
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/baseline/vitt_synth.py'))
    assert cfg.model.heads.semseg.out_channels == len(CLASSES)
