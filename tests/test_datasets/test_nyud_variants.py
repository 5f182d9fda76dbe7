"""NYUD-v2 copies with 480x640 Kinect frames: cropped to the NYUD-MT frame consistently, or refused clearly."""
import os.path as osp

import numpy as np
import pytest
from PIL import Image

from helpers import write_nyud_fixture
from mmdtme.datasets import NYUDMultiTaskDataset
from mmdtme.datasets.transforms.nyud_loading import NYUD_MT_CROP, LoadNYUDAnnotations, crop_to_nyud_mt

PIPELINE = [dict(type='LoadImageWithCheck'), dict(type='LoadNYUDAnnotations', frame='auto')]


def embed_in_kinect_frame(array: np.ndarray, seed: int = 1) -> np.ndarray:
    """A 480x640 frame whose NYUD-MT region is ``array`` and whose border is random."""
    rng = np.random.default_rng(seed)
    frame = rng.integers(0, 256, (480, 640) + array.shape[2:]).astype(array.dtype)
    frame[NYUD_MT_CROP] = array
    return frame


@pytest.fixture(scope='module')
def nyud_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('nyud_variants'))
    written = write_nyud_fixture(root, {'val': ['a', 'b']}, height=425, width=560)
    return root, written


def load(root, pipeline=PIPELINE):
    return NYUDMultiTaskDataset(data_root=root, split='val', pipeline=pipeline)


def test_the_crop_is_guptas_425x560_region():
    frame = np.arange(480 * 640).reshape(480, 640)
    crop = crop_to_nyud_mt(frame)
    assert crop.shape == (425, 560)
    assert crop[0, 0] == 45 * 640 + 40 and crop[-1, -1] == 469 * 640 + 599  # rows 45..469, cols 40..599
    with pytest.raises(ValueError, match='480x640'):
        crop_to_nyud_mt(np.zeros((426, 560)))


def test_full_frame_image_with_nyud_mt_annotations(nyud_root, tmp_path):
    root, written = nyud_root
    Image.fromarray(embed_in_kinect_frame(written['a']['image'])).save(osp.join(root, 'images', 'a.png'))
    results = load(root)[0]
    image = results['img']
    assert image.shape == (425, 560, 3) and results['ori_shape'] == (425, 560)
    np.testing.assert_array_equal(image[..., ::-1], written['a']['image'])  # BGR of the same pixels
    np.testing.assert_array_equal(results['gt_depth_map'], written['a']['depth'])
    np.testing.assert_array_equal(results['gt_edge_map'], written['a']['edge'] // 255)


def test_full_frame_annotations_with_nyud_mt_image(nyud_root):
    root, written = nyud_root
    sample = written['b']
    np.save(osp.join(root, 'depth', 'b.npy'), embed_in_kinect_frame(sample['depth']))
    Image.fromarray(embed_in_kinect_frame(sample['stored_label'])).save(osp.join(root, 'segmentation', 'b.png'))
    results = load(root)[1]
    assert results['img'].shape[:2] == (425, 560)
    np.testing.assert_array_equal(results['gt_depth_map'], sample['depth'])
    expected = np.where(sample['stored_label'] == 0, 256, sample['stored_label'].astype(int)) - 1
    np.testing.assert_array_equal(results['gt_seg_map'], expected.astype(np.uint8))


def test_strict_frames_and_other_sizes_are_errors(nyud_root, tmp_path):
    root, written = nyud_root
    Image.fromarray(embed_in_kinect_frame(written['a']['image'])).save(osp.join(root, 'images', 'a.png'))
    with pytest.raises(ValueError, match=r"480x640, but frame='425x560'"):
        load(root, [PIPELINE[0], dict(type='LoadNYUDAnnotations', frame='425x560')])[0]
    with pytest.raises(ValueError, match=r"425x560, but frame='480x640'"):
        load(root, [PIPELINE[0], dict(type='LoadNYUDAnnotations', frame='480x640')])[0]
    with pytest.raises(ValueError, match='frame must be one of'):
        LoadNYUDAnnotations(frame='426x560')
    other = str(tmp_path / 'other')
    write_nyud_fixture(other, {'val': ['c']}, height=24, width=32)
    assert load(other)[0]['img'].shape[:2] == (24, 32)  # equal sizes pass through
    np.save(osp.join(other, 'depth', 'c.npy'), np.ones((30, 40), np.float32))
    with pytest.raises(ValueError, match=r'depth ground truth .* is 30x40 but its image is 24x32'):
        load(other)[0]
