"""What a synthetic scene holds: classes, appearances, lights, the room, the camera pose and the objects in it.

A scene is a closed room box (floor, ceiling, four walls, so every ray hits something) holding 4-10 objects made of
boxes, spheres and vertical cylinders that rest on the floor. Image appearance is deliberately only partly tied to the
labels (see the module constants) so that the tasks interact: some cues help one task while misleading another.
"""
from __future__ import annotations
from dataclasses import dataclass

import numpy as np

CLASSES: tuple[str, ...] = ('floor', 'wall', 'ceiling', 'table', 'cabinet', 'ball', 'pillar', 'lamp', 'crate')
PALETTE: list[list[int]] = [[140, 100, 60], [190, 190, 180], [235, 235, 230], [170, 80, 30], [80, 60, 140],
                            [220, 40, 40], [120, 120, 130], [240, 200, 40], [50, 150, 70]]

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
TEXTURE_KINDS = ('plain', 'stripes', 'checker', 'noise')
_EPS = 1e-4

# Canonical appearance per class: base colour, secondary colour, texture kind, texture period in metres.
CANONICAL_APPEARANCE = {
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
CLASS_ID = {name: index for index, name in enumerate(CLASSES)}


@dataclass
class Appearance:
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


class Plane:
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
        discriminant = b * b - a * (offset @ offset - self.radius**2)
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
        discriminant = b * b - a * (ox * ox + oz * oz - self.radius**2)
        with np.errstate(divide='ignore', invalid='ignore'):
            t_side = (-b - np.sqrt(np.maximum(discriminant, 0))) / a
            y_side = origin[1] + t_side * dy
            best = np.where((discriminant >= 0) & (t_side > _EPS) & (y_side >= self.y_low) & (y_side <= self.y_high),
                            t_side, np.inf)
            for cap_y in (self.y_low, self.y_high):
                t_cap = (cap_y - origin[1]) / dy
                inside = (ox + t_cap * dx)**2 + (oz + t_cap * dz)**2 <= self.radius**2
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


def sample_appearance(rng: np.random.Generator, class_name: str) -> tuple:
    draw = rng.random()
    if draw < CANONICAL_APPEARANCE_PROB:
        return CANONICAL_APPEARANCE[class_name]
    if draw < CANONICAL_APPEARANCE_PROB + (1 - CANONICAL_APPEARANCE_PROB) * BORROWED_APPEARANCE_PROB:
        others = [name for name in CLASSES if name != class_name]
        return CANONICAL_APPEARANCE[others[rng.integers(len(others))]]
    base = rng.uniform(0.1, 0.95, 3)
    return tuple(base), tuple(base * rng.uniform(0.3, 0.8)), TEXTURE_KINDS[rng.integers(4)], rng.uniform(0.05, 0.6)


def object_appearance(rng: np.random.Generator, class_look: tuple) -> Appearance:
    base, secondary, kind, period = class_look
    jitter = rng.normal(1.0, 0.08, 3)  # instances of a class vary a little even when their look is canonical
    return Appearance(
        np.clip(np.array(base) * jitter, 0, 1), np.clip(np.array(secondary) * jitter, 0, 1), kind,
        period * rng.uniform(0.8, 1.25), rng.uniform(0, np.pi), rng.uniform(0, 10, 3), int(rng.integers(2**31)))


def sample_objects(rng: np.random.Generator, room: np.ndarray, camera_xz: np.ndarray, backward_yaw: float,
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
        class_id = CLASS_ID[class_name]
        if class_name == 'table':
            half = np.array([rng.uniform(0.4, 0.9), 0.03, rng.uniform(0.3, 0.6)])
            top_height = rng.uniform(0.6, 0.85)
            top = _Box(np.array([x, top_height, z]), half, object_yaw, class_id)
            legs = [
                _Box(
                    np.array([x, top_height / 2, z]) + _rotation_y(object_yaw) @ np.array([sx, 0, sz]),
                    np.array([0.03, top_height / 2, 0.03]), object_yaw, class_id)
                for sx in (-half[0] + 0.06, half[0] - 0.06) for sz in (-half[2] + 0.06, half[2] - 0.06)
            ]
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


def sample_light(rng: np.random.Generator, room: np.ndarray) -> tuple[bool, np.ndarray, np.ndarray]:
    """Returns (is_point_light, position_or_direction_to_light, rgb_intensity)."""
    if rng.random() < STRONG_COLOURED_LIGHT_PROB:
        hue = rng.random(3)
        colour = (hue / hue.max())**4 * rng.uniform(1.2, 2.0)  # the power pushes the weaker channels towards zero
    else:
        colour = (1 - 0.15 * rng.random(3)) * rng.uniform(0.6, 1.0)
    if rng.random() < POINT_LIGHT_PROB:
        position = np.append(rng.uniform(-0.4, 0.4, 2) * room[[0, 2]], room[1] - 0.2)[[0, 2, 1]]
        return True, position, colour * 2.0  # compensates the distance falloff
    direction = np.array([rng.normal(), rng.uniform(0.2, 1.0), rng.normal()])
    return False, direction / np.linalg.norm(direction), colour


def sample_room_and_camera(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
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
