import argparse
import copy
import gc
import logging
import os
import os.path as osp
from typing import Callable, List, Optional

import torch
import torch.distributed as torch_dist
from mmengine.config import Config, DictAction
from mmengine.logging import MMLogger, print_log

DATALOADERS = ('train_dataloader', 'val_dataloader', 'test_dataloader')
# Hook arguments that hold a dataloader config (the DTME analysis set, Recon's measurement set).
HOOK_DATALOADER_KEYS = ('analysis_dataloader', 'dataloader')
# Top-level keys mmengine's Runner and the mmdtme tools read, beyond those a config defines itself.
KNOWN_TOP_LEVEL_KEYS = frozenset(
    ('model', 'work_dir', 'train_dataloader', 'val_dataloader', 'test_dataloader', 'train_cfg', 'val_cfg', 'test_cfg',
     'auto_scale_lr', 'optim_wrapper', 'param_scheduler', 'val_evaluator', 'test_evaluator', 'default_hooks',
     'custom_hooks', 'data_preprocessor', 'load_from', 'resume', 'launcher', 'env_cfg', 'log_processor', 'log_level',
     'visualizer', 'default_scope', 'randomness', 'experiment_name', 'cfg', 'runner_type', 'model_wrapper_cfg',
     'custom_imports', 'strict_load', 'allow_unexpanded', 'compile'))


def add_runtime_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every tool shares with mmseg's (``--cfg-options``, ``--launcher``, ``--local_rank``) and
    ``--data-root``."""
    parser.add_argument(
        '--cfg-options',
        nargs='+',
        action=DictAction,
        help='override config settings, e.g. train_cfg.max_iters=100 model.backbone.pretrained=vit.pth')
    parser.add_argument(
        '--data-root',
        help='dataset root for every dataloader of the config (train, val, test and the DTME analysis set)')
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
                launcher: str = 'none',
                data_root: Optional[str] = None) -> Config:
    """Read a config as mmseg's tools do: apply ``--cfg-options``, then ``--work-dir``, else the default work dir.

    The default is ``./work_dirs/<path below configs/ without .py>`` (e.g. ``work_dirs/dtme/vitt_synth``), so
    that ``configs/baseline/vitt_synth.py`` and ``configs/dtme/vitt_synth.py`` do not share a work dir. Also:

    - ``data_root`` (``--data-root``) is set on every dataloader's dataset and the hooks' analysis sets;
    - where the config made ``test_dataloader`` / ``test_evaluator`` a copy of the val ones, options given for
      val only reach test as well (mmengine copies when the file is read, before the options apply);
    - an option whose top-level key neither the config nor the Runner knows (``train_cfgs.max_iters=1``) is
      named in a warning instead of being ignored silently;
    - dataloaders get at most as many workers as the machine has cores, unless an option sets ``num_workers``.
    """
    cfg = Config.fromfile(path)
    cfg.launcher = launcher
    options = dict(cfg_options or {})
    mirrors = {
        name: cfg.get(f'test_{name}') is not None and cfg.get(f'test_{name}') == cfg.get(f'val_{name}')
        for name in ('dataloader', 'evaluator')
    }
    unknown = sorted({key.split('.')[0] for key in options} - set(cfg.keys()) - KNOWN_TOP_LEVEL_KEYS)
    if unknown:
        print_log(
            f'--cfg-options {unknown}: no such top-level key in {path} (nor one the Runner reads); the '
            f'setting has no effect. Config keys: {sorted(cfg.keys())}',
            logger='current',
            level=logging.WARNING)
    if options:
        cfg.merge_from_dict(options)
    for name, mirrored in mirrors.items():
        touched_val = any(key.split('.')[0] == f'val_{name}' for key in options)
        touched_test = any(key.split('.')[0] == f'test_{name}' for key in options)
        if mirrored and touched_val and not touched_test:
            cfg[f'test_{name}'] = copy.deepcopy(cfg[f'val_{name}'])
    if data_root is not None:
        set_data_root(cfg, data_root)
    cap_num_workers(cfg, keep={key.split('.')[0] for key in options if key.endswith('num_workers')})
    drop_persistence_without_workers(cfg)
    if work_dir is not None:
        cfg.work_dir = work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs', default_run_name(path))
    return cfg


def _datasets_of(dataset_cfg) -> List[dict]:
    """The dataset configs in a (possibly wrapped: ``dataset=`` / ``datasets=[...]``) dataset config."""
    if not isinstance(dataset_cfg, dict):
        return []
    inner = [dataset_cfg.get('dataset')] if dataset_cfg.get('dataset') is not None else []
    inner += list(dataset_cfg.get('datasets') or [])
    if not inner:
        return [dataset_cfg]
    return [found for child in inner for found in _datasets_of(child)]


def dataloader_configs(cfg) -> List[dict]:
    """Every dataloader config of ``cfg``: train / val / test and those given to hooks (the analysis sets)."""
    loaders = [cfg.get(name) for name in DATALOADERS if isinstance(cfg.get(name), dict)]
    for hook in cfg.get('custom_hooks') or []:
        loaders += [hook[key] for key in HOOK_DATALOADER_KEYS if isinstance(hook.get(key), dict)]
    return loaders


def set_data_root(cfg, data_root: str) -> None:
    """Point every dataset of every dataloader of ``cfg`` (incl. the hooks' analysis sets) at ``data_root``."""
    for loader in dataloader_configs(cfg):
        for dataset in _datasets_of(loader.get('dataset')):
            dataset['data_root'] = data_root


def available_cores() -> int:
    """Cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def cap_num_workers(cfg, keep=()) -> None:
    """At most one dataloader worker per available core (configs are written for GPU machines), except in the
    top-level loaders named in ``keep`` (whose ``num_workers`` the user set)."""
    cores = available_cores()
    kept = [id(cfg.get(name)) for name in keep]
    for loader in dataloader_configs(cfg):
        if id(loader) not in kept and loader.get('num_workers', 0) > cores:
            loader['num_workers'] = cores


def drop_persistence_without_workers(cfg) -> None:
    """``persistent_workers=False`` where ``num_workers=0`` (loading in the main process), a pair torch's
    DataLoader refuses: ``--cfg-options train_dataloader.num_workers=0`` alone is then enough."""
    for loader in dataloader_configs(cfg):
        if loader.get('num_workers', 0) == 0 and loader.get('persistent_workers'):
            loader['persistent_workers'] = False


def setup_runtime(cfg: Config) -> None:
    """Adapt a config to the machine before ``Runner.from_cfg``: one DDP setting on every device, gloo on CPUs.

    Distributed runs get an explicit ``model_wrapper_cfg`` with ``broadcast_buffers=True`` (unless the config sets
    it): the heads use BN, and without the broadcast each process would keep its own running statistics, so the
    processes would evaluate with different models. mmengine's own default wrap (no ``model_wrapper_cfg``) uses
    ``False`` on GPUs, and DDP's default is ``True``; setting it here gives the GPU and the CPU path the same
    behaviour. ``find_unused_parameters`` keeps its top-level config key, which mmengine only reads without a
    wrapper config.

    mmengine's PyTorch launcher calls ``torch.cuda.set_device`` and wraps the model in DDP with
    ``device_ids=[LOCAL_RANK]``; both fail without a GPU. On a CPU-only machine the process group is
    initialised here with gloo (mmengine then skips its own init) and DDP is built without device ids.
    """
    if cfg.get('launcher', 'none') == 'none':
        return
    wrapper_cfg = cfg.get('model_wrapper_cfg') or dict(type='MMDistributedDataParallel')
    wrapper_cfg.setdefault('broadcast_buffers', True)
    wrapper_cfg.setdefault('find_unused_parameters', cfg.get('find_unused_parameters', False))
    if not torch.cuda.is_available():
        wrapper_cfg['device_ids'] = None
    cfg.model_wrapper_cfg = wrapper_cfg  # the Config keeps a copy: set every key before
    if torch.cuda.is_available():
        return
    env_cfg = cfg.get('env_cfg') or {}
    env_cfg['dist_cfg'] = dict(env_cfg.get('dist_cfg') or {}, backend='gloo')
    cfg.env_cfg = env_cfg
    if cfg.launcher == 'pytorch' and not torch_dist.is_initialized():
        torch_dist.init_process_group(
            backend='gloo', rank=int(os.environ['RANK']), world_size=int(os.environ['WORLD_SIZE']))


def quietly(fn: Callable[[], object]) -> object:
    """Call ``fn`` with mmengine's current logger at WARNING, e.g. ``model.init_weights`` outside a Runner, which
    logs a line for every parameter."""
    logger = MMLogger.get_current_instance()
    level = logger.level
    logger.setLevel(logging.WARNING)
    try:
        return fn()
    finally:
        logger.setLevel(level)


def teardown_distributed() -> None:
    """End a tool's process group, after the tool has dropped its Runner.

    The DDP wrapper's reducer holds the gloo group, and the Runner's reference cycles (hooks and loops point back to
    it) keep the wrapper alive until a garbage collection. Left to the interpreter's exit, that collection frees the
    group's threads after torch's own teardown and can abort the process (``terminate called without an active
    exception``, SIGABRT) after a run that succeeded; so collect now, then destroy the group.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        gc.collect()
        torch_dist.barrier()
        torch_dist.destroy_process_group()


def build_runner(cfg):
    """The Runner of ``cfg``: its ``runner_type`` (mmdtme's configs: ``MultiTaskRunner``), else mmengine's."""
    from mmengine.runner import Runner

    from mmdtme.registry import RUNNERS
    if 'runner_type' in cfg:
        return RUNNERS.build(cfg)
    return Runner.from_cfg(cfg)
