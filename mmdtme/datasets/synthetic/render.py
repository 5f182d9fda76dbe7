"""Ray casting of a sampled scene into an image and its exact multi-task targets.

All pixels are intersected with every primitive at once and the nearest hit wins, which gives exact semantic labels,
z-depth, surface normals and boundaries for free.
"""
from __future__ import annotations

import numpy as np

from .scene import (AMBIENT_RANGE, CLASS_ID, CLASSES, Appearance, Plane, object_appearance, sample_appearance,
                    sample_light, sample_objects, sample_room_and_camera)

IMAGE_NOISE_STD_RANGE = (0.005, 0.02)  # Gaussian noise on the [0, 1] image, per scene
# A depth jump counts as an edge only between different objects and when larger than this fraction of the nearer depth
# (a per-pixel threshold would fire on the far, grazing floor).
EDGE_RELATIVE_DEPTH_JUMP = 0.05


def camera_intrinsics(height: int, width: int, vertical_fov_deg: float) -> np.ndarray:
    """Pinhole intrinsics (OpenCV layout, pixel centres at +0.5) for a square-pixel camera.

    Args:
        height: Image height in pixels.
        width: Image width in pixels.
        vertical_fov_deg: Vertical field of view in degrees.

    Returns:
        3x3 float64 matrix ``[[f, 0, cx], [0, f, cy], [0, 0, 1]]``.
    """
    focal = 0.5 * height / np.tan(np.radians(vertical_fov_deg) / 2)
    return np.array([[focal, 0.0, width / 2], [0.0, focal, height / 2], [0.0, 0.0, 1.0]])


def backproject_depth(depth: np.ndarray, intrinsics: np.ndarray) -> np.ndarray:
    """Lifts a z-depth map to 3D points in the camera frame used for the normals (x right, y up, z to the camera).

    Args:
        depth: HxW z-depth in metres.
        intrinsics: 3x3 matrix as returned by :func:`camera_intrinsics`.

    Returns:
        HxWx3 float64 points; visible points have z = -depth.
    """
    height, width = depth.shape
    (fx, _, cx), (_, fy, cy) = intrinsics[0], intrinsics[1]
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    return np.stack([(u - cx) / fx * depth, -(v - cy) / fy * depth, -np.asarray(depth, np.float64)], axis=-1)


def _value_noise(u: np.ndarray, v: np.ndarray, seed: int) -> np.ndarray:
    """Smooth lattice noise in [0, 1) from an integer hash, so it needs no global state."""
    iu, iv = np.floor(u), np.floor(v)
    fu, fv = u - iu, v - iv
    fu, fv = fu * fu * (3 - 2 * fu), fv * fv * (3 - 2 * fv)

    def lattice(i: np.ndarray, j: np.ndarray) -> np.ndarray:
        h = (i.astype(np.int64) * 0x27D4EB2D + j.astype(np.int64) * 0x165667B1 + seed) & 0xFFFFFFFF
        h = ((h ^ (h >> 15)) * 0x2C1B3C6D) & 0xFFFFFFFF
        h = ((h ^ (h >> 12)) * 0x297A2D39) & 0xFFFFFFFF
        return ((h ^ (h >> 15)) & 0xFFFFFF) / float(0x1000000)

    top = lattice(iu, iv) * (1 - fu) + lattice(iu + 1, iv) * fu
    bottom = lattice(iu, iv + 1) * (1 - fu) + lattice(iu + 1, iv + 1) * fu
    return top * (1 - fv) + bottom * fv


def _albedo(look: Appearance, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
    # Triplanar mapping: texture coordinates are the two world axes across the dominant normal direction.
    local = points + look.offset
    dominant = np.abs(normals).argmax(axis=1)
    u = np.where(dominant == 0, local[:, 2], local[:, 0])
    v = np.where(dominant == 1, local[:, 2], local[:, 1])
    if look.kind == 'stripes':
        pattern = (np.sin(2 * np.pi * (u * np.cos(look.angle) + v * np.sin(look.angle)) / look.period) > 0) * 1.0
    elif look.kind == 'checker':
        pattern = (np.floor(u / look.period) + np.floor(v / look.period)) % 2
    elif look.kind == 'noise':
        pattern = 0.65 * _value_noise(u / look.period, v / look.period, look.noise_seed)
        pattern = pattern + 0.35 * _value_noise(u / look.period * 3, v / look.period * 3, look.noise_seed + 1)
    else:
        pattern = np.zeros(len(points))
    return look.base * (1 - pattern[:, None]) + look.secondary * pattern[:, None]


def _boundary_edges(semseg: np.ndarray, object_ids: np.ndarray, depth: np.ndarray) -> np.ndarray:
    """One-pixel-thin edges on the nearer side of every label change or occlusion between 4-neighbours."""
    edge = np.zeros(semseg.shape, bool)
    for axis in (0, 1):
        first = (slice(None, -1), slice(None)) if axis == 0 else (slice(None), slice(None, -1))
        second = (slice(1, None), slice(None)) if axis == 0 else (slice(None), slice(1, None))
        depth_a, depth_b = depth[first], depth[second]
        occlusion = (object_ids[first] != object_ids[second]) & (
            np.abs(depth_a - depth_b) > EDGE_RELATIVE_DEPTH_JUMP * np.minimum(depth_a, depth_b))
        boundary = (semseg[first] != semseg[second]) | occlusion
        edge[first] |= boundary & (depth_a <= depth_b)
        edge[second] |= boundary & (depth_a > depth_b)
    return edge


def _ray_cast(objects: list[tuple[str, list]], origin: np.ndarray,
              rays: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Z-buffer over primitives, vectorised over pixels: returns nearest t, object index and primitive index."""
    nearest_t = np.full(len(rays), np.inf, np.float32)
    hit_object = np.full(len(rays), -1, np.int64)
    hit_primitive = np.full(len(rays), -1, np.int64)
    primitive_index = 0
    for object_index, (_, primitives) in enumerate(objects):
        for primitive in primitives:
            t = primitive.intersect(origin.astype(np.float32), rays)
            closer = t < nearest_t
            nearest_t[closer] = t[closer]
            hit_object[closer] = object_index
            hit_primitive[closer] = primitive_index
            primitive_index += 1
    return nearest_t, hit_object, hit_primitive


def _irradiance(points: np.ndarray, normals: np.ndarray, ambient: np.ndarray, lights: list) -> np.ndarray:
    """Ambient plus Lambertian light from directional and point lights (no shadows)."""
    irradiance = np.broadcast_to(ambient, points.shape).copy()
    for is_point, where, light_colour in lights:
        if is_point:
            to_light = where - points
            distance = np.linalg.norm(to_light, axis=1, keepdims=True)
            lambert = np.clip(np.einsum('ij,ij->i', normals, to_light / distance), 0, None)[:, None]
            irradiance += lambert / (1.0 + (distance / 3.0)**2) * light_colour
        else:
            irradiance += np.clip(normals @ where, 0, None)[:, None] * light_colour
    return irradiance


def render_scene(seed: int, height: int, width: int, *, return_camera: bool = False) -> dict[str, np.ndarray]:
    """Samples the scene for ``seed`` and ray casts it at the given resolution.

    The scene content depends on ``seed`` only, so one seed rendered at two sizes shows the same room.

    Args:
        seed: Non-negative integer seeding ``np.random.default_rng``.
        height: Image height in pixels.
        width: Image width in pixels.
        return_camera: Also return ``'intrinsics'`` (3x3) and ``'cam_to_world'`` (4x4, camera frame x right, y up,
            z towards the viewer; world y up).

    Returns:
        ``'image'`` uint8 HxWx3 RGB; ``'semseg'`` uint8 HxW class index (every pixel labelled); ``'depth'`` float32 HxW
        z-depth in metres (> 0 where a surface is hit, 0 = invalid; the closed room is always hit); ``'normals'``
        float32 HxWx3 unit normals in the camera frame facing the camera (n . ray < 0, hence z > 0 except for grazing
        surfaces near the image border); ``'edge'`` uint8 HxW in {0, 1}.
    """
    rng = np.random.default_rng(seed)
    room, camera_position, world_from_camera, fov = sample_room_and_camera(rng)
    objects = [('floor', [Plane(1, 0.0, 1.0, CLASS_ID['floor'])]),
               ('ceiling', [Plane(1, room[1], -1.0, CLASS_ID['ceiling'])])]
    objects += [('wall', [Plane(axis, sign * room[axis] / 2, -sign, CLASS_ID['wall'])]) for axis in (0, 2)
                for sign in (-1.0, 1.0)]
    backward = world_from_camera[:, 2]  # the camera looks along its -z axis
    objects += sample_objects(rng, room, camera_position[[0, 2]], np.arctan2(backward[0], backward[2]), fov)
    class_looks = {name: sample_appearance(rng, name) for name in CLASSES}
    looks = [object_appearance(rng, class_looks[name]) for name, _ in objects]
    ambient = rng.uniform(*AMBIENT_RANGE) * (1 - 0.2 * rng.random(3))
    lights = [sample_light(rng, room) for _ in range(rng.integers(1, 3))]
    noise_std, exposure = rng.uniform(*IMAGE_NOISE_STD_RANGE), rng.uniform(0.75, 0.95)

    # Rays are not normalised: their camera-frame z is -1, so the hit parameter t is the z-depth itself.
    intrinsics = camera_intrinsics(height, width, fov)
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    camera_rays = np.stack(
        [(u - intrinsics[0, 2]) / intrinsics[0, 0], -(v - intrinsics[1, 2]) / intrinsics[1, 1], -np.ones_like(u)],
        axis=-1).reshape(-1, 3)
    rays = (camera_rays @ world_from_camera.T).astype(np.float32)
    nearest_t, hit_object, hit_primitive = _ray_cast(objects, camera_position, rays)

    points = camera_position + nearest_t[:, None].astype(np.float64) * rays
    normals = np.zeros_like(points)
    semseg = np.zeros(len(rays), np.uint8)
    primitives = [primitive for _, object_primitives in objects for primitive in object_primitives]
    for index in np.unique(hit_primitive):
        mask = hit_primitive == index
        normals[mask] = primitives[index].normals(points[mask])
        semseg[mask] = primitives[index].class_id
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    normals *= -np.sign(np.einsum('ij,ij->i', normals, rays) + 1e-12)[:, None]  # face the camera
    albedo = np.zeros_like(points)
    for index in np.unique(hit_object):
        mask = hit_object == index
        albedo[mask] = _albedo(looks[index], points[mask], normals[mask])
    radiance = albedo * _irradiance(points, normals, ambient, lights)
    radiance *= exposure / max(float(np.percentile(radiance, 95)), 1e-3)  # auto exposure, as a real camera does
    image = np.clip(radiance + rng.normal(0, noise_std, radiance.shape), 0, 1)

    depth = nearest_t.reshape(height, width)
    depth = np.where(np.isfinite(depth), depth, 0).astype(np.float32)
    semseg = semseg.reshape(height, width)
    result = {
        'image': np.round(image * 255).astype(np.uint8).reshape(height, width, 3),
        'semseg': semseg,
        'depth': depth,
        'normals': (normals @ world_from_camera).astype(np.float32).reshape(height, width, 3),
        'edge': _boundary_edges(semseg, hit_object.reshape(height, width), depth).astype(np.uint8),
    }
    if return_camera:
        result['intrinsics'] = intrinsics.astype(np.float32)
        cam_to_world = np.eye(4)
        cam_to_world[:3, :3], cam_to_world[:3, 3] = world_from_camera, camera_position
        result['cam_to_world'] = cam_to_world.astype(np.float32)
    return result
