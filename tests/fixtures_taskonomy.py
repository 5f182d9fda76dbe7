"""A few Taskonomy buildings written in the real file formats, for the dataset and end-to-end tests.

Each view gets ``point_P_view_V_domain_<task>.png`` for ``rgb`` and the 11 tasks, stored as Taskonomy stores them:
16-bit grey PNGs for depth (1/512 m, 65535 = invalid), edges and keypoints; 8-bit RGB for normals (grey =
invalid), principal curvature (R = G = 0 invalid) and reshading; 8-bit grey for the unsupervised segmentations.
The split file has the header and 0/1 flags of ``splits_taskonomy/train_val_test_tiny.csv``.
"""
import os
import os.path as osp
from typing import Dict, Sequence, Tuple

import numpy as np
from PIL import Image

# building -> (train, val, test) flags, as in the tiny split (these four are tiny-split buildings)
BUILDINGS = {'allensville': (1, 0, 0), 'beechwood': (1, 0, 0), 'collierville': (0, 1, 0), 'ihlen': (0, 0, 1)}
# (point, view) of each building's views; point 10 sorts after point 2
VIEWS = ((0, 0), (0, 1), (2, 0), (10, 1))
LAYOUT_TEMPLATES = {
    'omnidata': '{task}/taskonomy/{building}',
    'task_first': '{task}/{building}',
    'building_first': '{building}/{task}'
}


def _stored_maps(rng: np.random.Generator, size: int) -> Dict[str, np.ndarray]:
    """Stored values of every task for one view, with a few invalid pixels where the format has them."""
    shape = (size, size)
    maps = dict(rgb=rng.integers(0, 256, shape + (3, ), dtype=np.uint8))
    for task in ('depth_euclidean', 'depth_zbuffer'):
        depth = rng.integers(256, 20000, shape).astype(np.uint16)  # 0.5 m .. 39 m
        depth[:3, :5] = 65535  # no mesh
        maps[task] = depth
    # Ranges cross the clipping points of the decoders (409.6 is not clipped, 5242.88 and 327.68 are).
    maps['edge_occlusion'] = rng.integers(0, 600, shape).astype(np.uint16)
    maps['edge_texture'] = rng.integers(0, 6000, shape).astype(np.uint16)
    maps['keypoints2d'] = rng.integers(0, 400, shape).astype(np.uint16)
    maps['keypoints3d'] = rng.integers(0, 65536, shape).astype(np.uint16)
    normals = rng.normal(size=shape + (3, ))
    normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
    normal = np.round((normals + 1) / 2 * 255).astype(np.uint8)
    normal[-2:, :] = 128  # background is stored grey
    maps['normal'] = normal
    curvature = rng.integers(1, 256, shape + (3, )).astype(np.uint8)
    curvature[..., 2] = 127
    curvature[-3:, -4:] = 0  # no mesh
    maps['principal_curvature'] = curvature
    maps['reshading'] = np.repeat(rng.integers(0, 256, shape + (1, ), dtype=np.uint8), 3, axis=2)
    maps['segment_unsup2d'] = rng.integers(0, 256, shape, dtype=np.uint8)
    maps['segment_unsup25d'] = rng.integers(0, 256, shape, dtype=np.uint8)
    return maps


def write_taskonomy_fixture(root: str,
                            layout: str = 'omnidata',
                            size: int = 64,
                            seed: int = 0,
                            buildings: Sequence[str] = tuple(BUILDINGS),
                            views: Sequence[Tuple[int, int]] = VIEWS) -> Dict[str, Dict[str, np.ndarray]]:
    """Write ``buildings`` × ``views`` under ``root``; returns the stored arrays by sample name then task."""
    rng = np.random.default_rng(seed)
    template = LAYOUT_TEMPLATES[layout]
    os.makedirs(osp.join(root, 'splits_taskonomy'), exist_ok=True)
    with open(osp.join(root, 'splits_taskonomy', 'train_val_test_tiny.csv'), 'w') as f:
        f.write('id,train,val,test\n')
        for building, flags in BUILDINGS.items():
            f.write(f'{building},' + ','.join(map(str, flags)) + '\n')
    written = {}
    for building in buildings:
        for point, view in views:
            name = f'point_{point}_view_{view}'
            maps = _stored_maps(rng, size)
            for task, array in maps.items():
                folder = osp.join(root, template.format(task=task, building=building))
                os.makedirs(folder, exist_ok=True)
                Image.fromarray(array).save(osp.join(folder, f'{name}_domain_{task}.png'))
            written[f'{building}/{name}'] = maps
    return written
