import argparse
import os
import os.path as osp
from typing import Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every tool shares with mmseg's: ``--cfg-options``, ``--launcher``, ``--local_rank``."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. train_cfg.max_iters=100 model.backbone.pretrained=vit.pth')
    parser.add_argument('--launcher', choices=['none', 'pytorch', 'slurm', 'mpi'], default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def parse_tool_args(parser: argparse.ArgumentParser) -> argparse.Namespace:
    """Parse a tool's arguments; ``--local_rank`` (old launchers) becomes ``LOCAL_RANK`` unless torchrun set it."""
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def default_run_name(config_path: str) -> str:
    """``configs/dtme/vitt_synth.py`` -> ``dtme/vitt_synth``; a config outside a configs/ folder -> its name."""
    parts = osp.normpath(osp.abspath(config_path)).split(osp.sep)
    name = osp.splitext(parts[-1])[0]
    if 'configs' in parts[:-1]:
        below = parts[len(parts) - 1 - parts[::-1].index('configs') + 1:-1]
        return osp.join(*below, name) if below else name
    return name


def load_config(path: str,
                work_dir: Optional[str] = None,
                cfg_options: Optional[dict] = None,
                launcher: str = 'none') -> Config:
    """Read a config as mmseg's tools do: apply ``--cfg-options``, then ``--work-dir``, else the default work dir.

    The default is ``./work_dirs/<path below configs/ without .py>`` (e.g. ``work_dirs/dtme/vitt_synth``), so
    that ``configs/baseline/vitt_synth.py`` and ``configs/dtme/vitt_synth.py`` do not share a work dir.
    """
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    if cfg_options is not None:
        cfg.merge_from_dict(cfg_options)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', default_run_name(path))
    return cfg


def setup_runtime(cfg: Config) -> None:
    """Adapt a config to the machine before ``Runner.from_cfg``: CPU-only distributed runs use gloo.

    mmengine's PyTorch launcher calls ``torch.cuda.set_device`` and wraps the model in DDP with
    ``device_ids=[LOCAL_RANK]``; both fail without a GPU. On a CPU-only machine the process group is
    initialised here with gloo (mmengine then skips its own init) and DDP is built without device ids.
    """
    if torch.cuda.is_available() or cfg.get('launcher', 'none') == 'none':
        return
    cfg.setdefault('env_cfg', {}).setdefault('dist_cfg', {})['backend'] = 'gloo'
    wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg
    if cfg.launcher == 'pytorch' and not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo', rank=int(os.environ['RANK']), world_size=int(os.environ['WORLD_SIZE']))


def teardown_distributed() -> None:
    """End a tool's process group: an undestroyed gloo group can abort the interpreter at exit (SIGABRT)."""
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.barrier()
        torch_dist.destroy_process_group()
