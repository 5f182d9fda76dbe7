"""Seeded procedural indoor scenes ray cast with numpy, written in the NYUD-v2 multi-task (InvPT) layout.

A scene is a closed room box (floor, ceiling, four walls, so every ray hits something) holding 4-10 objects made of
boxes, spheres and vertical cylinders that rest on the floor. All pixels are intersected with every primitive at once
and the nearest hit wins, which gives exact semantic labels, z-depth, surface normals and boundaries for free. Image
appearance is deliberately only partly tied to the labels (see the module constants) so that the tasks interact: some
cues help one task while misleading another. Only numpy, Pillow and tqdm are needed, so the module imports standalone.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from tqdm import tqdm

CLASSES: tuple[str, ...] = ('floor', 'wall', 'ceiling', 'table', 'cabinet', 'ball', 'pillar', 'lamp', 'crate')
PALETTE: list[list[int]] = [[140, 100, 60], [190, 190, 180], [235, 235, 230], [170, 80, 30], [80, 60, 140],
                            [220, 40, 40], [120, 120, 130], [240, 200, 40], [50, 150, 70]]
GENERATOR_VERSION: int = 1

# Task interaction. Per scene and class, the appearance (colour + texture) is the class's canonical one with
# CANONICAL_APPEARANCE_PROB, else another class's canonical one with BORROWED_APPEARANCE_PROB, else random. So colour
# predicts the class in about half of the cases and actively points to a wrong class in a quarter of them.
CANONICAL_APPEARANCE_PROB = 0.5
BORROWED_APPEARANCE_PROB = 0.5
# Each of the 1-2 lights is, with this probability, bright and strongly saturated: the shading then encodes the surface
# orientation (useful for normals) but shifts apparent colours far from the albedo (a lit floor can look like a wall).
STRONG_COLOURED_LIGHT_PROB = 0.5
POINT_LIGHT_PROB = 0.4  # else directional
AMBIENT_RANGE = (0.15, 0.4)
IMAGE_NOISE_STD_RANGE = (0.005, 0.02)  # Gaussian noise on the [0, 1] image, per scene
# A depth jump counts as an edge only between different objects and when larger than this fraction of the nearer depth
# (a per-pixel threshold would fire on the far, grazing floor).
EDGE_RELATIVE_DEPTH_JUMP = 0.05
TEXTURE_KINDS = ('plain', 'stripes', 'checker', 'noise')
_GENERATOR_ID = 'mmdtme.datasets.synthetic'
_SPLITS = ('train', 'val')
_SUBDIRS = ('images', 'segmentation', 'depth', 'normals', 'edge', 'gt_sets')
_EPS = 1e-4

# Canonical appearance per class: base colour, secondary colour, texture kind, texture period in metres.
_CANONICAL_APPEARANCE = {
    'floor': ((0.55, 0.38, 0.22), (0.42, 0.28, 0.15), 'stripes', 0.3),
    'wall': ((0.80, 0.78, 0.70), (0.75, 0.73, 0.66), 'noise', 0.5),
    'ceiling': ((0.92, 0.92, 0.90), (0.92, 0.92, 0.90), 'plain', 1.0),
    'table': ((0.50, 0.28, 0.12), (0.35, 0.18, 0.08), 'noise', 0.06),
    'cabinet': ((0.30, 0.25, 0.50), (0.20, 0.16, 0.35), 'checker', 0.25),
    'ball': ((0.85, 0.15, 0.12), (0.95, 0.90, 0.85), 'stripes', 0.12),
    'pillar': ((0.55, 0.55, 0.58), (0.45, 0.45, 0.48), 'noise', 0.15),
    'lamp': ((0.95, 0.80, 0.20), (0.95, 0.80, 0.20), 'plain', 1.0),
    'crate': ((0.25, 0.55, 0.25), (0.15, 0.35, 0.15), 'checker', 0.12),
}
_CLASS_ID = {name: index for index, name in enumerate(CLASSES)}


@dataclass
class _Appearance:
    base: np.ndarray
    secondary: np.ndarray
    kind: str
    period: float
    angle: float
    offset: np.ndarray
    noise_seed: int


def _rotation_y(angle: float) -> np.ndarray:
    c, s = np.cos(angle), np.sin(angle)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


class _Plane:
    """Axis-aligned plane ``p[axis] == offset`` whose normal points along ``sign``."""

    def __init__(self, axis: int, offset: float, sign: float, class_id: int) -> None:
        self.axis, self.offset, self.class_id = axis, offset, class_id
        self.unit_normal = np.zeros(3, np.float32)
        self.unit_normal[axis] = sign

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        with np.errstate(divide='ignore', invalid='ignore'):
            t = (self.offset - origin[self.axis]) / dirs[:, self.axis]
        return np.where(t > _EPS, t, np.inf)

    def normals(self, points: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.unit_normal, points.shape)


class _Box:
    """Box with half extents ``half`` around ``center``, rotated by ``yaw`` about the vertical axis."""

    def __init__(self, center: np.ndarray, half: np.ndarray, yaw: float, class_id: int) -> None:
        self.center, self.half, self.class_id = center, half, class_id
        self.world_from_local = _rotation_y(yaw)

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        local_origin = (origin - self.center) @ self.world_from_local
        local_dirs = dirs @ self.world_from_local.astype(np.float32)
        t_near = np.full(len(dirs), -np.inf, np.float32)
        t_far = np.full(len(dirs), np.inf, np.float32)
        for axis in range(3):  # slab test; per-axis columns are much faster than reductions over a length-3 axis
            with np.errstate(divide='ignore', invalid='ignore'):  # rays parallel to a slab give +-inf: still correct
                inverse = 1.0 / local_dirs[:, axis]
                t_low = np.float32(-self.half[axis] - local_origin[axis]) * inverse
                t_high = np.float32(self.half[axis] - local_origin[axis]) * inverse
            t_near = np.maximum(t_near, np.minimum(t_low, t_high))
            t_far = np.minimum(t_far, np.maximum(t_low, t_high))
        return np.where((t_near <= t_far) & (t_near > _EPS), t_near, np.inf)

    def normals(self, points: np.ndarray) -> np.ndarray:
        local = (points - self.center) @ self.world_from_local
        face_axis = np.abs(local / self.half).argmax(axis=1)  # the face a surface point lies on is where |p|/half == 1
        local_normals = np.zeros_like(points)
        rows = np.arange(len(points))
        local_normals[rows, face_axis] = np.sign(local[rows, face_axis])
        return local_normals @ self.world_from_local.T


class _Sphere:
    def __init__(self, center: np.ndarray, radius: float, class_id: int) -> None:
        self.center, self.radius, self.class_id = center, radius, class_id

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        offset = origin - self.center
        a = np.einsum('ij,ij->i', dirs, dirs)
        b = dirs @ offset.astype(np.float32)
        discriminant = b * b - a * (offset @ offset - self.radius ** 2)
        t = (-b - np.sqrt(np.maximum(discriminant, 0))) / a
        return np.where((discriminant >= 0) & (t > _EPS), t, np.inf)

    def normals(self, points: np.ndarray) -> np.ndarray:
        return (points - self.center) / self.radius


class _Cylinder:
    """Vertical capped cylinder around (x, z) = ``axis_xz`` spanning heights ``y_low``..``y_high``."""

    def __init__(self, axis_xz: np.ndarray, radius: float, y_low: float, y_high: float, class_id: int) -> None:
        self.axis_xz, self.radius, self.y_low, self.y_high, self.class_id = axis_xz, radius, y_low, y_high, class_id

    def intersect(self, origin: np.ndarray, dirs: np.ndarray) -> np.ndarray:
        ox, oz = origin[0] - self.axis_xz[0], origin[2] - self.axis_xz[1]
        dx, dy, dz = dirs[:, 0], dirs[:, 1], dirs[:, 2]
        a = dx * dx + dz * dz
        b = dx * ox + dz * oz
        discriminant = b * b - a * (ox * ox + oz * oz - self.radius ** 2)
        with np.errstate(divide='ignore', invalid='ignore'):
            t_side = (-b - np.sqrt(np.maximum(discriminant, 0))) / a
            y_side = origin[1] + t_side * dy
            best = np.where((discriminant >= 0) & (t_side > _EPS) & (y_side >= self.y_low) & (y_side <= self.y_high),
                            t_side, np.inf)
            for cap_y in (self.y_low, self.y_high):
                t_cap = (cap_y - origin[1]) / dy
                inside = (ox + t_cap * dx) ** 2 + (oz + t_cap * dz) ** 2 <= self.radius ** 2
                best = np.where(inside & (t_cap > _EPS) & (t_cap < best), t_cap, best)
        return best

    def normals(self, points: np.ndarray) -> np.ndarray:
        radial = np.stack([points[:, 0] - self.axis_xz[0], np.zeros(len(points)), points[:, 2] - self.axis_xz[1]], 1)
        radial_distance = np.linalg.norm(radial, axis=1, keepdims=True)
        cap_distance = np.minimum(np.abs(points[:, 1] - self.y_low), np.abs(points[:, 1] - self.y_high))[:, None]
        cap_sign = np.where(np.abs(points[:, 1] - self.y_high) < np.abs(points[:, 1] - self.y_low), 1.0, -1.0)
        cap_normals = np.zeros_like(points)
        cap_normals[:, 1] = cap_sign
        on_side = np.abs(radial_distance - self.radius) < cap_distance
        return np.where(on_side, radial / np.maximum(radial_distance, 1e-9), cap_normals)


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


def _sample_appearance(rng: np.random.Generator, class_name: str) -> tuple:
    draw = rng.random()
    if draw < CANONICAL_APPEARANCE_PROB:
        return _CANONICAL_APPEARANCE[class_name]
    if draw < CANONICAL_APPEARANCE_PROB + (1 - CANONICAL_APPEARANCE_PROB) * BORROWED_APPEARANCE_PROB:
        others = [name for name in CLASSES if name != class_name]
        return _CANONICAL_APPEARANCE[others[rng.integers(len(others))]]
    base = rng.uniform(0.1, 0.95, 3)
    return tuple(base), tuple(base * rng.uniform(0.3, 0.8)), TEXTURE_KINDS[rng.integers(4)], rng.uniform(0.05, 0.6)


def _object_appearance(rng: np.random.Generator, class_look: tuple) -> _Appearance:
    base, secondary, kind, period = class_look
    jitter = rng.normal(1.0, 0.08, 3)  # instances of a class vary a little even when their look is canonical
    return _Appearance(np.clip(np.array(base) * jitter, 0, 1), np.clip(np.array(secondary) * jitter, 0, 1), kind,
                       period * rng.uniform(0.8, 1.25), rng.uniform(0, np.pi), rng.uniform(0, 10, 3),
                       int(rng.integers(2 ** 31)))


def _sample_objects(rng: np.random.Generator, room: np.ndarray, camera_xz: np.ndarray, backward_yaw: float,
                    fov: float) -> list[tuple[str, list]]:
    """Places 4-10 floor-standing objects, mostly inside the horizontal field of view and never around the camera.

    The field of view is taken at a fixed 4:3 aspect, so the scene does not depend on the rendered image size.
    """
    half_fov_x = np.arctan(np.tan(np.radians(fov) / 2) * 4 / 3)
    objects = []
    for _ in range(rng.integers(4, 11)):
        class_name = ('table', 'cabinet', 'ball', 'pillar', 'lamp', 'crate')[rng.integers(6)]
        footprint = {'table': 0.9, 'cabinet': 0.7, 'ball': 0.4, 'pillar': 0.35, 'lamp': 0.3, 'crate': 0.5}[class_name]
        for _attempt in range(10):
            angle = backward_yaw + rng.uniform(-1.1, 1.1) * half_fov_x
            position = camera_xz - rng.uniform(1.5, 5.5) * np.array([np.sin(angle), np.cos(angle)])
            position = np.clip(position, -room[[0, 2]] / 2 + footprint, room[[0, 2]] / 2 - footprint)
            if np.linalg.norm(position - camera_xz) > footprint + 0.5:
                break
        else:
            continue
        x, z = position
        object_yaw = rng.uniform(0, np.pi) if rng.random() < 0.6 else 0.0
        class_id = _CLASS_ID[class_name]
        if class_name == 'table':
            half = np.array([rng.uniform(0.4, 0.9), 0.03, rng.uniform(0.3, 0.6)])
            top_height = rng.uniform(0.6, 0.85)
            top = _Box(np.array([x, top_height, z]), half, object_yaw, class_id)
            legs = [_Box(np.array([x, top_height / 2, z]) + _rotation_y(object_yaw) @ np.array([sx, 0, sz]),
                         np.array([0.03, top_height / 2, 0.03]), object_yaw, class_id)
                    for sx in (-half[0] + 0.06, half[0] - 0.06) for sz in (-half[2] + 0.06, half[2] - 0.06)]
            primitives = [top] + legs
        elif class_name in ('cabinet', 'crate'):
            low, high = ([0.3, 0.45, 0.2], [0.6, 1.0, 0.4]) if class_name == 'cabinet' else (0.15, 0.4)
            size = rng.uniform(low, high, 3)  # half extents
            primitives = [_Box(np.array([x, size[1], z]), size, object_yaw, class_id)]
        elif class_name == 'ball':
            radius = rng.uniform(0.1, 0.4)
            primitives = [_Sphere(np.array([x, radius, z]), radius, class_id)]
        elif class_name == 'pillar':
            primitives = [_Cylinder(position, rng.uniform(0.12, 0.35), 0.0, room[1], class_id)]
        else:
            pole_height = rng.uniform(1.0, 1.7)
            shade = _Cylinder(position, rng.uniform(0.15, 0.3), pole_height, pole_height + rng.uniform(0.2, 0.35),
                              class_id)
            primitives = [_Cylinder(position, 0.025, 0.0, pole_height, class_id), shade]
        objects.append((class_name, primitives))
    return objects


def _sample_light(rng: np.random.Generator, room: np.ndarray) -> tuple[bool, np.ndarray, np.ndarray]:
    """Returns (is_point_light, position_or_direction_to_light, rgb_intensity)."""
    if rng.random() < STRONG_COLOURED_LIGHT_PROB:
        hue = rng.random(3)
        colour = (hue / hue.max()) ** 4 * rng.uniform(1.2, 2.0)  # the power pushes the weaker channels towards zero
    else:
        colour = (1 - 0.15 * rng.random(3)) * rng.uniform(0.6, 1.0)
    if rng.random() < POINT_LIGHT_PROB:
        position = np.append(rng.uniform(-0.4, 0.4, 2) * room[[0, 2]], room[1] - 0.2)[[0, 2, 1]]
        return True, position, colour * 2.0  # compensates the distance falloff
    direction = np.array([rng.normal(), rng.uniform(0.2, 1.0), rng.normal()])
    return False, direction / np.linalg.norm(direction), colour


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


def _albedo(look: _Appearance, points: np.ndarray, normals: np.ndarray) -> np.ndarray:
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


def _sample_room_and_camera(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Returns the room size (x extent, height, z extent), camera position, world_from_camera rotation and vertical fov.

    The camera stands inside the room at eye height and looks across it, roughly level, as a person would hold it.
    """
    room = np.array([rng.uniform(4, 8), rng.uniform(2.5, 3.2), rng.uniform(4, 8)])
    fov, pitch, roll = rng.uniform(40, 60), np.radians(rng.uniform(-20, 5)), np.radians(rng.uniform(-3, 3))
    camera_xz = rng.uniform(-0.4, 0.4, 2) * room[[0, 2]]
    target_xz = -0.5 * camera_xz + rng.normal(0, 0.3, 2)  # beyond the room centre, so the view spans the room
    yaw = np.arctan2(camera_xz[0] - target_xz[0], camera_xz[1] - target_xz[1]) + rng.uniform(-0.5, 0.5)
    position = np.array([camera_xz[0], rng.uniform(1.0, 1.8), camera_xz[1]])
    pitch_matrix = np.array([[1, 0, 0], [0, np.cos(pitch), -np.sin(pitch)], [0, np.sin(pitch), np.cos(pitch)]])
    roll_matrix = np.array([[np.cos(roll), -np.sin(roll), 0], [np.sin(roll), np.cos(roll), 0], [0, 0, 1]])
    return room, position, _rotation_y(yaw) @ pitch_matrix @ roll_matrix, fov


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
            irradiance += lambert / (1.0 + (distance / 3.0) ** 2) * light_colour
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
    room, camera_position, world_from_camera, fov = _sample_room_and_camera(rng)
    objects = [('floor', [_Plane(1, 0.0, 1.0, _CLASS_ID['floor'])]),
               ('ceiling', [_Plane(1, room[1], -1.0, _CLASS_ID['ceiling'])])]
    objects += [('wall', [_Plane(axis, sign * room[axis] / 2, -sign, _CLASS_ID['wall'])])
                for axis in (0, 2) for sign in (-1.0, 1.0)]
    backward = world_from_camera[:, 2]  # the camera looks along its -z axis
    objects += _sample_objects(rng, room, camera_position[[0, 2]], np.arctan2(backward[0], backward[2]), fov)
    class_looks = {name: _sample_appearance(rng, name) for name in CLASSES}
    looks = [_object_appearance(rng, class_looks[name]) for name, _ in objects]
    ambient = rng.uniform(*AMBIENT_RANGE) * (1 - 0.2 * rng.random(3))
    lights = [_sample_light(rng, room) for _ in range(rng.integers(1, 3))]
    noise_std, exposure = rng.uniform(*IMAGE_NOISE_STD_RANGE), rng.uniform(0.75, 0.95)

    # Rays are not normalised: their camera-frame z is -1, so the hit parameter t is the z-depth itself.
    intrinsics = camera_intrinsics(height, width, fov)
    u, v = np.meshgrid(np.arange(width) + 0.5, np.arange(height) + 0.5)
    camera_rays = np.stack([(u - intrinsics[0, 2]) / intrinsics[0, 0], -(v - intrinsics[1, 2]) / intrinsics[1, 1],
                            -np.ones_like(u)], axis=-1).reshape(-1, 3)
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
            files = [f'images/{name}.png', f'segmentation/{name}.png', f'depth/{name}.npy',
                     f'normals/{name}.png', f'edge/{name}.png']
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


def generate_dataset(root: str, num_train: int = 400, num_val: int = 100, height: int = 96, width: int = 128,
                     seed: int = 0, progress: bool = True, force: bool = False) -> str:
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
            scene = render_scene(_scene_seed(seed, split, int(name.rsplit('_', 1)[1])), height, width,
                                 return_camera=True)
            _write_scene(building, name, scene)
            matrix = scene['intrinsics']
            intrinsics[name] = [float(matrix[0, 0]), float(matrix[1, 1]), float(matrix[0, 2]), float(matrix[1, 2])]
        for split in _SPLITS:
            with open(os.path.join(building, 'gt_sets', f'{split}.txt'), 'w', encoding='utf-8') as file:
                file.writelines(f'{name}\n' for name in _scene_names(split, params[f'num_{split}']))
        meta = dict(generator=_GENERATOR_ID, generator_version=GENERATOR_VERSION, **params, classes=list(CLASSES),
                    palette=PALETTE, segmentation_offset=1, depth_unit='metre',
                    normals_encoding='round((n + 1) / 2 * 255), camera frame x right, y up, z towards the camera',
                    intrinsics_fx_fy_cx_cy=intrinsics)
        with open(os.path.join(building, 'meta.json'), 'w', encoding='utf-8') as file:  # last: marks completion
            json.dump(meta, file, indent=1)
        _move_into_place(building, os.path.abspath(root))
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return root
