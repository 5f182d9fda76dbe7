"""Seeded procedural indoor scenes ray cast with numpy, written in the NYUD-v2 multi-task (InvPT) layout.

``scene`` samples what a scene holds, ``render`` ray casts it into an image and exact targets, ``writer`` writes a
seeded dataset to disk (numpy, Pillow and tqdm only), and ``dataset`` reads it as NYUD-MT.
"""
from .render import backproject_depth, camera_intrinsics, render_scene
from .scene import CLASSES, PALETTE
from .writer import GENERATOR_VERSION, dataset_is_complete, generate_dataset

__all__ = [
    'CLASSES', 'GENERATOR_VERSION', 'PALETTE', 'backproject_depth', 'camera_intrinsics', 'dataset_is_complete',
    'generate_dataset', 'render_scene'
]
