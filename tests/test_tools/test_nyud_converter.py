"""tools/dataset_converters/nyud.py on a tiny .mat in the real v7.3 (HDF5) layout: byte-for-byte outputs."""
import importlib.util
import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image

from helpers import REPO_ROOT, run_tool

h5py = pytest.importorskip('h5py')
scipy_io = pytest.importorskip('scipy.io')

N = 3


def load_converter():
    spec = importlib.util.spec_from_file_location('nyud_converter',
                                                  osp.join(REPO_ROOT, 'tools', 'dataset_converters', 'nyud.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope='module')
def raw_nyud(tmp_path_factory):
    """nyu_depth_v2_labeled.mat as MATLAB writes it (column-major: h5py sees [N, 3, W, H] / [N, W, H]),
    classMapping40.mat and splits.mat (MATLAB v5), with H×W images known to the test."""
    root = tmp_path_factory.mktemp('raw_nyud')
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (N, 480, 640, 3), dtype=np.uint8)
    depths = rng.uniform(0.5, 10, (N, 480, 640)).astype(np.float32)
    labels = np.zeros((N, 480, 640), dtype=np.uint16)
    labels[:, 100:300, 50:400] = 7
    labels[:, 200:, 300:] = 894
    labels[1, :, 320:] = 12
    with h5py.File(root / 'nyu_depth_v2_labeled.mat', 'w') as mat:
        mat.create_dataset('images', data=images.transpose(0, 3, 2, 1))  # [N, 3, W, H]
        mat.create_dataset('depths', data=depths.transpose(0, 2, 1))
        mat.create_dataset('rawDepths', data=np.where(depths > 5, 0, depths).transpose(0, 2, 1))
        mat.create_dataset('labels', data=labels.transpose(0, 2, 1))
    mapping = np.zeros(894)
    mapping[6], mapping[11], mapping[893] = 3, 40, 1  # classes 7 -> 3, 12 -> 40, 894 -> 1
    scipy_io.savemat(root / 'classMapping40.mat', {'mapClass': mapping[None]})
    scipy_io.savemat(root / 'splits.mat', {'trainNdxs': np.array([[1], [3]]), 'testNdxs': np.array([[2]])})
    return root, images, depths, labels


def test_converter_crop_is_the_datasets_crop():
    from mmdtme.datasets.transforms.nyud_loading import KINECT_FRAME, NYUD_MT_CROP, NYUD_MT_FRAME
    converter = load_converter()
    assert (converter.NYUD_MT_CROP, converter.KINECT_FRAME, converter.NYUD_MT_FRAME) == (NYUD_MT_CROP, KINECT_FRAME,
                                                                                         NYUD_MT_FRAME)


def test_converter_writes_the_nyud_mt_layout_byte_for_byte(raw_nyud, tmp_path):
    root, images, depths, labels = raw_nyud
    out = str(tmp_path / 'NYUDv2')
    written = load_converter().convert(
        str(root / 'nyu_depth_v2_labeled.mat'),
        str(root / 'classMapping40.mat'),
        str(root / 'splits.mat'),
        out,
        progress=False)
    assert written == {'train': ['img_5001', 'img_5003'], 'val': ['img_5002']}
    assert open(osp.join(out, 'gt_sets', 'val.txt')).read() == 'img_5002\n'
    crop = (slice(45, 470), slice(40, 600))
    for index, name in enumerate(['img_5001', 'img_5002', 'img_5003']):
        image = np.asarray(Image.open(osp.join(out, 'images', f'{name}.png')))
        np.testing.assert_array_equal(image, images[index][crop])
        depth = np.load(osp.join(out, 'depth', f'{name}.npy'))
        assert depth.dtype == np.float32
        np.testing.assert_array_equal(depth, depths[index][crop])
        stored = np.asarray(Image.open(osp.join(out, 'segmentation', f'{name}.png')))
        expected = np.select([labels[index] == 7, labels[index] == 12, labels[index] == 894], [3, 40, 1], 0)
        np.testing.assert_array_equal(stored, expected[crop].astype(np.uint8))
        edge = np.asarray(Image.open(osp.join(out, 'edge', f'{name}.png')))
        label = expected[crop]
        brute = np.zeros_like(edge)
        for y in range(label.shape[0]):
            for x in range(label.shape[1]):
                right = x + 1 < label.shape[1] and label[y, x] != label[y, x + 1]
                below = y + 1 < label.shape[0] and label[y, x] != label[y + 1, x]
                brute[y, x] = 255 if right or below else 0
        np.testing.assert_array_equal(edge, brute)
    assert set(np.unique(edge)) == {0, 255}
    assert not osp.exists(osp.join(out, 'normals'))


def test_converter_cli_with_normals_raw_depth_and_errors(raw_nyud, tmp_path, monkeypatch, capsys):
    root, images, depths, _ = raw_nyud
    normals_dir = tmp_path / 'normals'
    normals_dir.mkdir()
    rng = np.random.default_rng(1)
    normals = {}
    for index in range(N):
        normals[index] = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        Image.fromarray(normals[index]).save(normals_dir / f'img_{5001 + index}.png')
    out = str(tmp_path / 'out')
    args = [str(root / name) for name in ('nyu_depth_v2_labeled.mat', 'classMapping40.mat', 'splits.mat')]
    log = run_tool(sys.executable, 'tools/dataset_converters/nyud.py', *args, '--out', out, '--raw-depth', '--normals',
                   str(normals_dir))
    assert 'wrote 2 train / 1 val samples' in log and 'NYUD-v2 -> NYUD-MT' in log  # the progress bar
    crop = (slice(45, 470), slice(40, 600))
    np.testing.assert_array_equal(np.asarray(Image.open(osp.join(out, 'normals', 'img_5002.png'))), normals[1][crop])
    raw = np.load(osp.join(out, 'depth', 'img_5002.npy'))
    np.testing.assert_array_equal(raw, np.where(depths[1] > 5, 0, depths[1])[crop])
    converter = load_converter()
    monkeypatch.setattr(sys, 'argv', ['nyud.py', *args, '--out', str(tmp_path / 'b')])
    converter.main()
    assert 'no normals written' in capsys.readouterr().out
    (normals_dir / 'img_5003.png').unlink()
    with pytest.raises(FileNotFoundError, match='img_5003.png'):
        converter.convert(*args, str(tmp_path / 'c'), normals=str(normals_dir), progress=False)
    with pytest.raises(KeyError, match='trainNdxs'):
        converter.convert(args[0], args[1], args[1], str(tmp_path / 'd'), progress=False)
