"""Shared test helpers: a tiny version of the demo config and a fixture writer for the real NYUD-MT layout."""
import os
import os.path as osp
import socket
import subprocess
import uuid

import numpy as np
import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.structures import PixelData
from PIL import Image

from mmdtme.utils import resize_synthetic_config

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_SIZE = (32, 48)  # (H, W): multiples of the tiny ViT's patch size 8
TINY_GENERATOR = dict(num_train=16, num_val=8, height=TINY_SIZE[0], width=TINY_SIZE[1], seed=0)


def tiny_synth_config(data_root: str, work_dir: str, max_iters: int = 20, tasks=None) -> Config:
    """``configs/baseline/vitt_synth.py`` shrunk to a ViT of width 32 and depth 4 on 32×48 scenes."""
    cfg = Config.fromfile(osp.join(REPO_ROOT, 'configs/baseline/vitt_synth.py'))
    cfg.work_dir = work_dir
    # mmengine names a run's logger and visualizer after the config and the second it started: two tiny runs
    # started in the same second would share (and log into) the first one's visualizer.
    cfg.experiment_name = f'tiny_{uuid.uuid4().hex[:12]}'
    resize_synthetic_config(
        cfg,
        TINY_SIZE,
        dict(patch_size=8, embed_dim=32, depth=4, num_heads=2),
        head_channels=16,
        batch_size=4,
        data_root=data_root,
        generator=TINY_GENERATOR)
    if tasks is not None:
        cfg.model.tasks = list(tasks)
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = max_iters
    cfg.param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False)]
    cfg.default_hooks.logger.interval = 5
    cfg.default_hooks.checkpoint.interval = max_iters
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    return cfg


def write_nyud_fixture(root: str, names_per_split: dict, height: int = 24, width: int = 32, seed: int = 0) -> dict:
    """Write samples in the real NYUD-MT formats; returns the arrays written, keyed by sample name.

    Semantic labels are stored as class + 1 with 0 unlabelled, depth as float32 metres with 0 invalid,
    normals as RGB ``(n + 1) / 2 * 255``, edges as 0/255, and ``gt_sets/{split}.txt`` lists the names.
    """
    rng = np.random.default_rng(seed)
    for folder in ('images', 'segmentation', 'depth', 'normals', 'edge', 'gt_sets'):
        os.makedirs(osp.join(root, folder), exist_ok=True)
    written = {}
    for split, names in names_per_split.items():
        with open(osp.join(root, 'gt_sets', f'{split}.txt'), 'w') as f:
            f.write('\n'.join(names) + '\n')
        for name in names:
            image = rng.integers(0, 256, (height, width, 3), dtype=np.uint8)
            stored_label = rng.integers(0, 41, (height, width)).astype(np.uint8)  # 0 = unlabelled
            depth = rng.uniform(0.5, 10.0, (height, width)).astype(np.float32)
            depth[0, :3] = 0.0  # invalid depth
            normals = rng.normal(size=(height, width, 3))
            normals[..., 2] = np.abs(normals[..., 2])
            normals /= np.linalg.norm(normals, axis=-1, keepdims=True)
            stored_normals = np.round((normals + 1) / 2 * 255).astype(np.uint8)
            edge = (rng.random((height, width)) < 0.1).astype(np.uint8) * 255
            Image.fromarray(image).save(osp.join(root, 'images', f'{name}.png'))
            Image.fromarray(stored_label).save(osp.join(root, 'segmentation', f'{name}.png'))
            np.save(osp.join(root, 'depth', f'{name}.npy'), depth)
            Image.fromarray(stored_normals).save(osp.join(root, 'normals', f'{name}.png'))
            Image.fromarray(edge).save(osp.join(root, 'edge', f'{name}.png'))
            written[name] = dict(
                image=image,
                stored_label=stored_label,
                depth=depth,
                normals=stored_normals.astype(np.float32) * 2 / 255 - 1,
                edge=edge)
    return written


def fake_batch(batch_size: int = 2, size=(30, 44)) -> dict:
    """A random batch with every task's ground truth, as the data loader yields it (uint8 images)."""
    from mmdtme.structures import MultiTaskDataSample
    height, width = size
    inputs, samples = [], []
    for _ in range(batch_size):
        inputs.append(torch.randint(0, 256, (3, height, width), dtype=torch.uint8))
        sample = MultiTaskDataSample(metainfo=dict(ori_shape=size))
        sample.gt_sem_seg = PixelData(data=torch.randint(0, 5, (1, height, width)))
        sample.gt_depth_map = PixelData(data=torch.rand(1, height, width) * 5 + 0.5)
        sample.gt_normal_map = PixelData(data=torch.nn.functional.normalize(torch.randn(3, height, width), dim=0))
        sample.gt_edge_map = PixelData(data=(torch.rand(1, height, width) < 0.2).long())
        samples.append(sample)
    return dict(inputs=inputs, data_samples=samples)


def free_port() -> int:
    """A TCP port that is free on this machine now (for torchrun's rendezvous)."""
    with socket.socket() as sock:
        sock.bind(('127.0.0.1', 0))
        return sock.getsockname()[1]


def run_tool(*args, timeout=600, **env_vars) -> str:
    """Run a command from the repository root; fail with its output unless it exits 0. Returns its output."""
    env = dict(os.environ, PYTHONUNBUFFERED='1', OMP_NUM_THREADS='1', **env_vars)
    result = subprocess.run(list(args), cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=timeout)
    assert result.returncode == 0, f'{args} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}'
    return result.stdout + result.stderr


def expanding_config(data_root: str, work_dir: str, max_iters: int, hook: dict, checkpoint_interval: int) -> Config:
    """The tiny config with the task-stream backbone, one expanding hook (DTME / Recon) and a linear LR decay."""
    cfg = tiny_synth_config(data_root, work_dir, max_iters=max_iters)
    cfg.model.backbone.type = 'DTMEViT'
    cfg.custom_hooks = [hook]
    cfg.param_scheduler = [dict(type='PolyLR', eta_min=0, power=1.0, begin=0, end=max_iters, by_epoch=False)]
    cfg.train_cfg.val_interval = 1000
    cfg.default_hooks.checkpoint.interval = checkpoint_interval
    cfg.default_hooks.logger.interval = 1
    return cfg


class IterSpy(Hook):
    """Records ``record(runner)`` before every training iteration."""

    def __init__(self, record):
        self.record = record
        self.seen = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        self.seen.append(self.record(runner))
