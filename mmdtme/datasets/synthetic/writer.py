"""Seeded, resumable writing of synthetic scenes in the NYUD-v2 multi-task (InvPT) layout."""
from __future__ import annotations
import json
import os
import shutil
import tempfile
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

from .render import render_scene
from .scene import CLASSES, PALETTE

GENERATOR_VERSION: int = 1
_GENERATOR_ID = 'mmdtme.datasets.synthetic'  # written to meta.json: datasets on disk stay valid
_SPLITS = ('train', 'val')
_SUBDIRS = ('images', 'segmentation', 'depth', 'normals', 'edge', 'gt_sets')


def _scene_seed(seed: int, split: str, index: int) -> int:
    """Each scene gets its own stream, so it does not depend on how many other scenes are generated."""
    state = np.random.SeedSequence([seed, _SPLITS.index(split), index]).generate_state(2, dtype=np.uint32)
    return int(state[0]) << 32 | int(state[1])


def _scene_names(split: str, count: int) -> list[str]:
    return [f'{split}_{index:06d}' for index in range(count)]


def _read_meta(root: str) -> dict | None:
    """Returns meta.json when it was written by this generator, else None."""
    try:
        with open(os.path.join(root, 'meta.json'), encoding='utf-8') as file:
            meta = json.load(file)
    except (OSError, ValueError):
        return None
    return meta if isinstance(meta, dict) and meta.get('generator') == _GENERATOR_ID else None


def dataset_is_complete(root: str, **params: Any) -> bool:
    """Tells whether ``root`` holds a finished dataset of the current generator version with the given parameters.

    Args:
        root: Dataset directory.
        **params: Any of ``seed``, ``num_train``, ``num_val``, ``height``, ``width`` that must match meta.json.

    Returns:
        True iff meta.json matches and every file listed in ``gt_sets`` exists.
    """
    meta = _read_meta(root)
    if meta is None or meta.get('generator_version') != GENERATOR_VERSION:
        return False
    if any(meta.get(key) != value for key, value in params.items()):
        return False
    for split in _SPLITS:
        try:
            with open(os.path.join(root, 'gt_sets', f'{split}.txt'), encoding='utf-8') as file:
                names = file.read().split()
        except OSError:
            return False
        if len(names) != meta.get(f'num_{split}'):
            return False
        for name in names:
            files = [
                f'images/{name}.png', f'segmentation/{name}.png', f'depth/{name}.npy', f'normals/{name}.png',
                f'edge/{name}.png'
            ]
            if not all(os.path.isfile(os.path.join(root, path)) for path in files):
                return False
    return True


def _write_scene(root: str, name: str, scene: dict[str, np.ndarray]) -> None:
    Image.fromarray(scene['image'], mode='RGB').save(os.path.join(root, 'images', f'{name}.png'))
    # 0 is "unlabelled" in NYUD, which the loaders turn into the ignore index after subtracting 1.
    Image.fromarray(scene['semseg'] + 1, mode='L').save(os.path.join(root, 'segmentation', f'{name}.png'))
    np.save(os.path.join(root, 'depth', f'{name}.npy'), scene['depth'])
    encoded_normals = np.clip(np.round((scene['normals'] + 1) / 2 * 255), 0, 255).astype(np.uint8)
    Image.fromarray(encoded_normals, mode='RGB').save(os.path.join(root, 'normals', f'{name}.png'))
    Image.fromarray(scene['edge'] * 255, mode='L').save(os.path.join(root, 'edge', f'{name}.png'))


def _move_into_place(built: str, root: str) -> None:
    """Replaces ``root`` by ``built`` with renames only, so ``root`` is never left half written."""
    if not os.path.lexists(root):
        os.rename(built, root)
        return
    graveyard = tempfile.mkdtemp(prefix=f'.{os.path.basename(root)}.old-', dir=os.path.dirname(root))
    old = os.path.join(graveyard, 'old')
    os.rename(root, old)
    try:
        os.rename(built, root)
    except OSError:
        os.rename(old, root)
        raise
    finally:
        shutil.rmtree(graveyard, ignore_errors=True)


def generate_dataset(root: str,
                     num_train: int = 400,
                     num_val: int = 100,
                     height: int = 96,
                     width: int = 128,
                     seed: int = 0,
                     progress: bool = True,
                     force: bool = False) -> str:
    """Renders a synthetic NYUD-MT dataset under ``root`` unless an identical one is already there.

    Layout: ``images/*.png`` (RGB), ``segmentation/*.png`` (class index + 1, 0 = unlabelled), ``depth/*.npy``
    (float32 metres), ``normals/*.png`` (round((n + 1) / 2 * 255)), ``edge/*.png`` ({0, 255}),
    ``gt_sets/{train,val}.txt`` and ``meta.json``. Files are written into a hidden sibling directory that is renamed
    into place at the end.

    Args:
        root: Output directory.
        num_train: Number of training scenes.
        num_val: Number of validation scenes.
        height: Image height in pixels.
        width: Image width in pixels.
        seed: Non-negative base seed; scene i of a split is seeded from (seed, split, i).
        progress: Show a tqdm progress bar.
        force: Replace whatever is at ``root`` (a dataset with other parameters or a foreign directory).

    Returns:
        ``root``.

    Raises:
        FileExistsError: ``root`` holds something else and ``force`` is False.
        ValueError: Invalid parameters.
    """
    params = dict(seed=seed, num_train=num_train, num_val=num_val, height=height, width=width)
    if seed < 0 or num_train < 0 or num_val < 0 or height < 2 or width < 2:
        raise ValueError(f'invalid synthetic dataset parameters {params}')
    if dataset_is_complete(root, **params):
        return root
    if os.path.lexists(root) and not force:
        meta = _read_meta(root)
        if meta is not None:
            old = {key: meta.get(key) for key in ['generator_version', *params]}
            if old != {'generator_version': GENERATOR_VERSION, **params}:
                raise FileExistsError(
                    f'{root} holds a synthetic dataset generated with {old}, but '
                    f'{dict(generator_version=GENERATOR_VERSION, **params)} was requested. Pass force=True '
                    f'(--force) to regenerate it, or choose another output directory.')
        elif not os.path.isdir(root) or os.listdir(root):
            raise FileExistsError(
                f'{root} exists and is not a synthetic dataset made by this generator (no meta.json of ours); '
                f'refusing to overwrite it. Choose another output directory, or pass force=True (--force) to '
                f'replace it.')
    parent = os.path.dirname(os.path.abspath(root))
    os.makedirs(parent, exist_ok=True)
    building = tempfile.mkdtemp(prefix=f'.{os.path.basename(os.path.abspath(root))}.partial-', dir=parent)
    try:
        os.chmod(building, 0o755)  # mkdtemp makes it private, unlike a directory created normally
        for subdir in _SUBDIRS:
            os.makedirs(os.path.join(building, subdir))
        intrinsics = {}
        jobs = [(split, name) for split in _SPLITS for name in _scene_names(split, params[f'num_{split}'])]
        for split, name in tqdm(jobs, desc='generating synthetic scenes', disable=not progress):
            scene = render_scene(
                _scene_seed(seed, split, int(name.rsplit('_', 1)[1])), height, width, return_camera=True)
            _write_scene(building, name, scene)
            matrix = scene['intrinsics']
            intrinsics[name] = [float(matrix[0, 0]), float(matrix[1, 1]), float(matrix[0, 2]), float(matrix[1, 2])]
        for split in _SPLITS:
            with open(os.path.join(building, 'gt_sets', f'{split}.txt'), 'w', encoding='utf-8') as file:
                file.writelines(f'{name}\n' for name in _scene_names(split, params[f'num_{split}']))
        meta = dict(
            generator=_GENERATOR_ID,
            generator_version=GENERATOR_VERSION,
            **params,
            classes=list(CLASSES),
            palette=PALETTE,
            segmentation_offset=1,
            depth_unit='metre',
            normals_encoding='round((n + 1) / 2 * 255), camera frame x right, y up, z towards the camera',
            intrinsics_fx_fy_cx_cy=intrinsics)
        with open(os.path.join(building, 'meta.json'), 'w', encoding='utf-8') as file:  # last: marks completion
            json.dump(meta, file, indent=1)
        _move_into_place(building, os.path.abspath(root))
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return root
