import json
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from mmdtme.datasets.synthetic import (CLASSES, GENERATOR_VERSION, PALETTE, backproject_depth, camera_intrinsics,
                                       dataset_is_complete, generate_dataset, render_scene, scene, writer)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEIGHT, WIDTH = 32, 40
SMALL = dict(num_train=3, num_val=2, height=HEIGHT, width=WIDTH, seed=7)
LAYOUT = {'images': '.png', 'segmentation': '.png', 'depth': '.npy', 'normals': '.png', 'edge': '.png'}


def _tree_bytes(root):
    contents = {}
    for directory, _, files in os.walk(root):
        for name in files:
            path = os.path.join(directory, name)
            with open(path, 'rb') as file:
                contents[os.path.relpath(path, root)] = file.read()
    return contents


def test_constants():
    assert len(CLASSES) >= 8 and len(set(CLASSES)) == len(CLASSES)
    assert len(PALETTE) == len(CLASSES) and all(len(colour) == 3 for colour in PALETTE)
    assert isinstance(GENERATOR_VERSION, int)


def test_render_is_deterministic_and_seed_dependent():
    first, second = render_scene(3, HEIGHT, WIDTH), render_scene(3, HEIGHT, WIDTH)
    assert first.keys() == second.keys()
    for key in first:
        assert first[key].tobytes() == second[key].tobytes(), key
    assert not np.array_equal(first['image'], render_scene(4, HEIGHT, WIDTH)['image'])


@pytest.mark.parametrize('seed', range(6))
def test_render_shapes_dtypes_and_ranges(seed):
    scene = render_scene(seed, HEIGHT, WIDTH, return_camera=True)
    assert scene['image'].shape == (HEIGHT, WIDTH, 3) and scene['image'].dtype == np.uint8
    assert scene['semseg'].shape == (HEIGHT, WIDTH) and scene['semseg'].dtype == np.uint8
    assert scene['semseg'].max() < len(CLASSES)
    assert scene['depth'].shape == (HEIGHT, WIDTH) and scene['depth'].dtype == np.float32
    assert np.all(scene['depth'] > 0), 'the closed room is hit by every ray'
    assert np.all(scene['depth'] < 20)
    normals = scene['normals']
    assert normals.shape == (HEIGHT, WIDTH, 3) and normals.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(normals, axis=-1), 1, atol=1e-3)
    # Every normal faces the camera; with perspective this gives z > 0 except on grazing surfaces seen off-axis
    # (e.g. the ceiling at the top of a downward-looking view), so z > 0 is checked on most pixels only.
    rays = backproject_depth(scene['depth'], scene['intrinsics'])
    assert np.all(np.einsum('hwc,hwc->hw', normals, rays) < 0)
    assert (normals[..., 2] > 0).mean() > 0.75
    assert scene['edge'].dtype == np.uint8 and set(np.unique(scene['edge'])) <= {0, 1}


def test_normals_z_positive_on_almost_all_pixels():
    fractions = [(render_scene(seed, HEIGHT, WIDTH)['normals'][..., 2] > 0).mean() for seed in range(20)]
    assert np.mean(fractions) > 0.9


def test_same_scene_at_any_resolution():
    small, large = render_scene(11, 24, 32), render_scene(11, 48, 64)
    # Pixel (i, j) of the small image covers pixels 2i..2i+1 of the large one: compare away from boundaries.
    stable = (small['edge'] == 0) & (large['semseg'][::2, ::2] == large['semseg'][1::2, 1::2])
    assert (small['semseg'][stable] == large['semseg'][::2, ::2][stable]).mean() > 0.95


def test_camera_intrinsics():
    intrinsics = camera_intrinsics(96, 128, 60.0)
    assert intrinsics[0, 0] == pytest.approx(48 / np.tan(np.radians(30)))
    assert intrinsics[0, 0] == intrinsics[1, 1]
    assert (intrinsics[0, 2], intrinsics[1, 2]) == (64, 48)


@pytest.mark.parametrize('seed', [0, 1, 2, 5])
def test_floor_normals_match_backprojected_depth(seed):
    scene = render_scene(seed, 48, 64, return_camera=True)
    points = backproject_depth(scene['depth'].astype(np.float64), scene['intrinsics'].astype(np.float64))
    floor = (scene['semseg'] == CLASSES.index('floor')) & (scene['edge'] == 0)
    usable = floor[:-1, :-1] & floor[1:, :-1] & floor[:-1, 1:]
    assert usable.sum() > 20, 'seed chosen to show some floor'
    along_row = points[:-1, 1:] - points[:-1, :-1]
    along_column = points[1:, :-1] - points[:-1, :-1]
    from_depth = np.cross(along_row, along_column)[usable]
    from_depth /= np.linalg.norm(from_depth, axis=-1, keepdims=True)
    from_depth *= -np.sign(np.einsum('nc,nc->n', from_depth, points[:-1, :-1][usable]))[:, None]
    rendered = scene['normals'][:-1, :-1][usable]
    angles = np.degrees(np.arccos(np.clip(np.einsum('nc,nc->n', from_depth, rendered), -1, 1)))
    assert np.mean(angles < 3) > 0.9 and np.median(angles) < 1
    # The floor normal is world up expressed in the camera frame.
    world_up_in_camera = scene['cam_to_world'][:3, :3].T @ np.array([0, 1, 0], np.float32)
    np.testing.assert_allclose(rendered, np.broadcast_to(world_up_in_camera, rendered.shape), atol=1e-4)


@pytest.mark.parametrize('seed', range(5))
def test_edges_cover_label_changes_and_stay_thin(seed):
    scene = render_scene(seed, 48, 64)
    semseg, edge = scene['semseg'], scene['edge'].astype(bool)
    right = semseg[:, :-1] != semseg[:, 1:]
    assert np.all(edge[:, :-1][right] | edge[:, 1:][right])
    down = semseg[:-1] != semseg[1:]
    assert np.all(edge[:-1][down] | edge[1:][down])
    assert 0 < edge.mean() < 0.3


def test_generate_dataset_layout_and_decoding(tmp_path):
    root = str(tmp_path / 'synthetic')
    assert generate_dataset(root, progress=False, **SMALL) == root
    assert sorted(os.listdir(root)) == sorted([*LAYOUT, 'gt_sets', 'meta.json'])
    names = {split: open(os.path.join(root, 'gt_sets', f'{split}.txt')).read().split() for split in ('train', 'val')}
    assert len(names['train']) == 3 and len(names['val']) == 2
    assert len(set(names['train']) | set(names['val'])) == 5
    for folder, extension in LAYOUT.items():
        expected = sorted(name + extension for split in names.values() for name in split)
        assert sorted(os.listdir(os.path.join(root, folder))) == expected
    meta = json.load(open(os.path.join(root, 'meta.json')))
    assert meta['generator_version'] == GENERATOR_VERSION and meta['classes'] == list(CLASSES)
    assert meta['palette'] == PALETTE and (meta['height'], meta['width']) == (HEIGHT, WIDTH)
    assert dataset_is_complete(root, **SMALL) and not dataset_is_complete(root, **{**SMALL, 'seed': 8})

    name = names['val'][1]
    expected = render_scene(writer._scene_seed(SMALL['seed'], 'val', 1), HEIGHT, WIDTH)
    image = np.array(Image.open(os.path.join(root, 'images', f'{name}.png')))
    assert image.dtype == np.uint8 and np.array_equal(image, expected['image'])
    label = np.array(Image.open(os.path.join(root, 'segmentation', f'{name}.png'))).astype(np.int64) - 1
    label[label == -1] = 255  # loader convention; our files never contain 0
    assert label.ndim == 2 and np.array_equal(label, expected['semseg'])
    depth = np.load(os.path.join(root, 'depth', f'{name}.npy'))
    assert depth.dtype == np.float32 and np.array_equal(depth, expected['depth'])
    encoded = np.array(Image.open(os.path.join(root, 'normals', f'{name}.png')))
    decoded = 2 * encoded.astype(np.float32) / 255 - 1
    assert encoded.shape == (HEIGHT, WIDTH, 3)
    np.testing.assert_allclose(decoded, expected['normals'], atol=1.01 / 255)
    edge = np.array(Image.open(os.path.join(root, 'edge', f'{name}.png')))
    assert edge.ndim == 2 and set(np.unique(edge)) <= {0, 255}
    assert np.array_equal(edge // 255, expected['edge'])


def test_generate_dataset_is_byte_identical_for_a_seed(tmp_path):
    first = _tree_bytes(generate_dataset(str(tmp_path / 'a'), progress=False, **SMALL))
    second = _tree_bytes(generate_dataset(str(tmp_path / 'b'), progress=False, **SMALL))
    assert first == second
    other = _tree_bytes(generate_dataset(str(tmp_path / 'c'), progress=False, **{**SMALL, 'seed': 8}))
    assert other['images/train_000000.png'] != first['images/train_000000.png']


def test_generate_dataset_scene_does_not_depend_on_counts(tmp_path):
    few = generate_dataset(str(tmp_path / 'few'), progress=False, **SMALL)
    more = generate_dataset(str(tmp_path / 'more'), progress=False, **{**SMALL, 'num_train': 4, 'num_val': 1})
    for name in ('images/train_000002.png', 'images/val_000000.png'):
        assert open(os.path.join(few, name), 'rb').read() == open(os.path.join(more, name), 'rb').read()


def test_generate_dataset_second_call_is_a_noop(tmp_path, monkeypatch):
    root = generate_dataset(str(tmp_path / 'synthetic'), progress=False, **SMALL)
    watched = [os.path.join(root, 'meta.json'), os.path.join(root, 'images', 'train_000000.png')]
    before = [os.stat(path).st_mtime_ns for path in watched]
    monkeypatch.setattr(writer, 'render_scene', lambda *args, **kwargs: pytest.fail('should not render'))
    assert generate_dataset(root, progress=False, **SMALL) == root
    assert [os.stat(path).st_mtime_ns for path in watched] == before


def test_generate_dataset_refuses_foreign_directory(tmp_path):
    root = tmp_path / 'my_data'
    root.mkdir()
    (root / 'notes.txt').write_text('precious')
    with pytest.raises(FileExistsError, match='my_data') as error:
        generate_dataset(str(root), progress=False, **SMALL)
    assert 'force' in str(error.value)
    assert (root / 'notes.txt').read_text() == 'precious'
    generate_dataset(str(root), progress=False, force=True, **SMALL)
    assert not (root / 'notes.txt').exists() and dataset_is_complete(str(root), **SMALL)


def test_generate_dataset_accepts_empty_directory(tmp_path):
    (tmp_path / 'empty').mkdir()
    assert dataset_is_complete(generate_dataset(str(tmp_path / 'empty'), progress=False, **SMALL), **SMALL)


def test_generate_dataset_parameter_mismatch(tmp_path):
    root = generate_dataset(str(tmp_path / 'synthetic'), progress=False, **SMALL)
    changed = {**SMALL, 'num_train': 4}
    with pytest.raises(FileExistsError, match='force'):
        generate_dataset(root, progress=False, **changed)
    assert dataset_is_complete(root, **SMALL)
    generate_dataset(root, progress=False, force=True, **changed)
    assert dataset_is_complete(root, **changed) and not dataset_is_complete(root, **SMALL)
    assert sorted(os.listdir(tmp_path)) == ['synthetic'], 'no temporary directories left behind'


def _failing_render(monkeypatch, fail_at_call):
    calls, real_render = [], writer.render_scene

    def render(*args, **kwargs):
        calls.append(args)
        if len(calls) == fail_at_call:
            raise KeyboardInterrupt
        return real_render(*args, **kwargs)

    monkeypatch.setattr(writer, 'render_scene', render)


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    _failing_render(monkeypatch, fail_at_call=3)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(str(tmp_path / 'synthetic'), progress=False, **SMALL)
    assert os.listdir(tmp_path) == []


def test_interrupted_regeneration_keeps_previous_dataset(tmp_path, monkeypatch):
    root = generate_dataset(str(tmp_path / 'synthetic'), progress=False, **SMALL)
    _failing_render(monkeypatch, fail_at_call=2)
    with pytest.raises(KeyboardInterrupt):
        generate_dataset(root, progress=False, force=True, **{**SMALL, 'seed': 9})
    assert dataset_is_complete(root, **SMALL) and os.listdir(tmp_path) == ['synthetic']


def test_cli(tmp_path):
    out = tmp_path / 'cli_data'
    command = [
        sys.executable,
        os.path.join('tools', 'generate_synthetic.py'), '--out',
        str(out), '--num-train', '2', '--num-val', '1', '--height', '16', '--width', '20', '--seed', '5'
    ]
    environment = {key: value for key, value in os.environ.items() if key != 'PYTHONPATH'}
    result = subprocess.run(command, cwd=REPO_ROOT, env=environment, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert str(out) in result.stdout
    assert dataset_is_complete(str(out), num_train=2, num_val=1, height=16, width=20, seed=5)
    assert np.array(Image.open(out / 'images' / 'train_000001.png')).shape == (16, 20, 3)
    (tmp_path / 'foreign').mkdir()
    (tmp_path / 'foreign' / 'x').write_text('x')
    refused = subprocess.run(
        command[:3] + [str(tmp_path / 'foreign')],
        cwd=REPO_ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60)
    assert refused.returncode != 0 and 'foreign' in refused.stderr


def test_appearance_matches_class_about_half_the_time():
    rng = np.random.default_rng(0)
    draws = [scene.sample_appearance(rng, 'floor') for _ in range(2000)]
    canonical = np.mean([look == scene.CANONICAL_APPEARANCE['floor'] for look in draws])
    borrowed = np.mean([look in scene.CANONICAL_APPEARANCE.values() for look in draws]) - canonical
    assert abs(canonical - scene.CANONICAL_APPEARANCE_PROB) < 0.05
    expected_borrowed = (1 - scene.CANONICAL_APPEARANCE_PROB) * scene.BORROWED_APPEARANCE_PROB
    assert abs(borrowed - expected_borrowed) < 0.05
