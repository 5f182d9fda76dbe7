"""The synthetic-scene study: which rows are trained, at which scale, and how each run is executed.

A *row* is one model setting of the paper's tables (Baseline ST/MT, TM, TE, TM+TE, a layer-selection mode, a
ratio ρ, an expansion iteration, an MTO method...), a *run* is one row trained with one seed. Every run is its
own process (``python tools/experiments/synthetic_study.py --run-one ...``) writing ``result.json`` in its work
dir last and atomically, so a study that stops resumes by skipping the runs whose result exists.
"""
import copy
import json
import os
import os.path as osp
import subprocess
import sys
import time
from dataclasses import dataclass, field, replace
from typing import Dict, List, Optional, Sequence

REPO_ROOT = osp.abspath(osp.join(osp.dirname(__file__), '..', '..'))  # tools/experiments/ -> the checkout
TASKS = ('semseg', 'depth', 'normals', 'edge')
PLAN_KEYS = ('ks', 'eigenvalues', 'eigenvalue_totals', 'range_conflict', 'null_conflict', 'tm_layers', 'te_layers',
             'range_variance', 'channels')
HALVES = ('A', 'B')  # the two disjoint halves of the target scenes that the analysis probes read


@dataclass(frozen=True)
class StudyScale:
    """Everything the rows share: data, model size and schedule.

    Args:
        name: Label of the scale in the report.
        image_size: (H, W) of the rendered scenes (multiples of ``patch_size``).
        num_train / num_val: Scenes rendered for training / validation.
        embed_dim / depth / num_heads / patch_size: The ViT.
        head_channels: Channels of each task head.
        batch_size / max_iters / warmup_iters / lr: The schedule (Adam, linear warm-up then poly decay).
        analysis_batches: Batches of the DTME analysis (and of each conflict-monitor measurement ×2).
        scratch_lr: The LR of rows trained from scratch in a regime whose other rows fine-tune (``lr``).
    """

    name: str = 'cpu'
    image_size: tuple = (48, 64)
    num_train: int = 400
    num_val: int = 100
    embed_dim: int = 96
    depth: int = 8
    num_heads: int = 3
    patch_size: int = 8
    head_channels: int = 32
    batch_size: int = 8
    max_iters: int = 300
    warmup_iters: int = 30
    lr: float = 1e-3
    analysis_batches: int = 10
    scratch_lr: float = 1e-3

    @property
    def generator(self) -> dict:
        """Arguments of ``generate_dataset`` for this scale's scenes."""
        height, width = self.image_size
        return dict(num_train=self.num_train, num_val=self.num_val, height=height, width=width, seed=0)

    @property
    def data_dir(self) -> str:
        """Where the target scenes are rendered (below ``data/``), one folder per image size and scene count."""
        height, width = self.image_size
        counts = '' if (self.num_train, self.num_val) == (400, 100) else f'_n{self.num_train}_{self.num_val}'
        return osp.join(REPO_ROOT, 'data', f'synthetic_{height}x{width}{counts}')


CPU_SCALE = StudyScale()
# The pretrained regime: the CPU scale's ViT fine-tuned from the pretraining stage (study_pretrain.py) on a smaller
# target set (200 scenes, as NYUD-v2's 795 images are few for a ViT), at the LR of the rows from scratch, so that
# the two differ in their initial weights only. (A fine-tuning LR of 3e-4 was tried first: in 300 iterations the
# randomly initialised heads did not converge, depth RMSE 2.84 against 1.33 from scratch, docs/dtme.md.)
PRETRAINED_SCALE = replace(CPU_SCALE, name='pretrained', num_train=200, lr=1e-3)
# For a GPU: the demo's ViT-Tiny at 96×128 for 2,000 iterations.
FULL_SCALE = StudyScale(
    name='full',
    image_size=(96, 128),
    embed_dim=192,
    depth=12,
    num_heads=3,
    head_channels=64,
    batch_size=16,
    max_iters=2000,
    warmup_iters=100,
    analysis_batches=25)


@dataclass(frozen=True)
class StudyRow:
    """One model setting.

    Args:
        name: Row label in the table, e.g. ``'TM+TE'``.
        group: Table the row belongs to: ``main``, ``selection``, ``ratio``, ``expand_iter`` or ``mto``.
        config: Config file, relative to the repository root.
        dtme: Options of the config's ``DTMEHook`` changed for this row (``expand_iter`` as a fraction of the
            schedule is given as ``expand_fraction``; ``same_after=True`` trains the scale's full schedule after the
            expansion, as the paper's Fig. 3 does, with the LR held at its peak until then). On a config without a
            DTMEHook only these schedule options are allowed: the row trains on that expansion's schedule.
        monitor: Measure range / null conflicts before and after training (paper Tab. 14).
        from_scratch: In the pretrained regime, train this row from random weights at the scale's ``scratch_lr``
            (the reference that shows what pretraining gives).
        probe: Run the DTME analysis only: train up to ``expand_iter``, analyse one half of the target scenes
            (``analysis_half`` in ``dtme``: 0 or 1), take one step and stop, untested; the run keeps the plan.
    """

    name: str
    group: str
    config: str
    dtme: Dict[str, object] = field(default_factory=dict, hash=False)
    monitor: bool = False
    from_scratch: bool = False
    probe: bool = False

    @property
    def slug(self) -> str:
        return ''.join(c if c.isalnum() else '-' for c in self.name.lower()).strip('-')


# Options of StudyRow.dtme that set the schedule only: a row without a DTMEHook may take an expansion row's schedule.
SCHEDULE_OPTIONS = {'expand_fraction', 'expand_after_warmup', 'same_after'}
PROBE_ORIGINS = ('pretrained', 'from scratch')
PROBE_TIMES = ('iteration 0', 'after head warm-up')


def probe_name(origin: str, when: str, half: str) -> str:
    """Row name of the analysis probe of one backbone origin, analysis time and half of the target scenes."""
    return f'analysis {origin}, {when}, half {half}'


def analysis_probes() -> List[StudyRow]:
    """The analysis of the pretrained and of a random backbone, at iteration 0 and after the head warm-up, on each
    half of the target scenes: what the analysis sees, and whether its selection survives a change of seed or of
    analysis set."""
    probes = []
    for origin in PROBE_ORIGINS:
        for when in PROBE_TIMES:
            options = dict(expand_after_warmup=True) if when == 'after head warm-up' else {}
            for half, label in enumerate(HALVES):
                probes.append(
                    StudyRow(
                        probe_name(origin, when, label),
                        'probe',
                        'configs/dtme/vitt_synth.py',
                        dict(options, analysis_half=half),
                        from_scratch=origin == 'from scratch',
                        probe=True))
    return probes


def schedule_control_name(when: str) -> str:
    """Row name of Baseline MT trained on the schedule of the expansion at ``when``."""
    return f'Baseline MT on the {when} schedule'


# The pretrained regime's later expansions, as Fig. 3 runs them (the same schedule after each): (when, row name,
# schedule options of the row and of its Baseline MT control).
LATER_EXPANSIONS = (('head warm-up', 'expand after head warm-up', dict(expand_after_warmup=True, same_after=True)),
                    ('1/4', 'expand at 1/4', dict(expand_fraction=0.25, same_after=True)))
# Each later expansion's row -> the row of Baseline MT trained on its schedule.
SCHEDULE_CONTROL_OF = {name: schedule_control_name(when) for when, name, _ in LATER_EXPANSIONS}


def study_rows(regime: str = 'scratch') -> List[StudyRow]:
    """All rows of the study, in report order; the pretrained regime adds the rows from scratch and the analysis
    probes (run first: they are cheap)."""
    dtme = 'configs/dtme/vitt_synth.py'
    rows = analysis_probes() if regime == 'pretrained' else []
    rows += [StudyRow(f'ST {task}', 'st', f'configs/baseline/vitt_synth_st_{task}.py') for task in TASKS]
    if regime == 'pretrained':
        rows += [
            StudyRow('Baseline MT from scratch', 'pretraining', 'configs/baseline/vitt_synth.py', from_scratch=True),
            # what the analysis sees without pretraining, on the same target scenes
            StudyRow('TM+TE from scratch', 'pretraining', dtme, from_scratch=True),
        ]
    pretrained = regime == 'pretrained'
    rows += [
        StudyRow('Baseline MT', 'main', 'configs/baseline/vitt_synth.py', monitor=True),
        StudyRow('TM', 'main', dtme, dict(variant='tm'), monitor=pretrained),  # Tab. 14: TM's range conflicts
        StudyRow('TE', 'main', dtme, dict(variant='te'), monitor=pretrained),  # and TE's null conflicts
        StudyRow('TM+TE', 'main', dtme, monitor=True),
    ]
    rows += [
        StudyRow(f'selection {mode}', 'selection', dtme, dict(mode=mode)) for mode in ('random', 'reverse', 'swap')
    ]
    rows += [StudyRow(f'ratio {ratio}', 'ratio', dtme, dict(ratio=ratio)) for ratio in (0.25, 0.75, 1.0)]
    if pretrained:  # Fig. 3's protocol: the same schedule after every expansion
        rows += [StudyRow(name, 'expand_iter', dtme, schedule) for _, name, schedule in LATER_EXPANSIONS]
        # a later expansion trains longer; Baseline MT on the same schedule tells that apart from DTME's gain
        rows += [
            StudyRow(schedule_control_name(when), 'expand_iter', 'configs/baseline/vitt_synth.py', schedule)
            for when, _, schedule in LATER_EXPANSIONS
        ]
    else:
        rows += [
            StudyRow(f'expand at {label}', 'expand_iter', dtme, dict(expand_fraction=fraction))
            for label, fraction in (('1/4', 0.25), ('1/2', 0.5))
        ]
    rows += [
        StudyRow(name, 'mto', f'configs/mto/{method}_vitt_synth.py')
        for name, method in (('PCGrad', 'pcgrad'), ('Nash-MTL', 'nashmtl'), ('FAMO', 'famo'))
    ]
    rows.append(StudyRow('TM+TE + PCGrad', 'mto', 'configs/dtme/pcgrad_vitt_synth.py'))
    if pretrained:
        rows.append(StudyRow('Recon', 'mto', 'configs/mto/recon_vitt_synth.py'))
    return rows


def build_run_config(row: StudyRow,
                     scale: StudyScale,
                     seed: int,
                     work_dir: str,
                     data_root: str,
                     pretrained: Optional[str] = None):
    """The mmengine ``Config`` of one run: the row's config file at the study's scale, with ``seed``; the backbone
    starts from ``pretrained`` unless the row is ``from_scratch``."""
    from mmengine.config import Config

    from mmdtme.utils import resize_synthetic_config

    cfg = Config.fromfile(osp.join(REPO_ROOT, row.config))
    cfg.work_dir = work_dir
    cfg.randomness = dict(seed=seed)
    # num_workers 0: one core per run, the study runs several runs side by side
    resize_synthetic_config(
        cfg, scale.image_size,
        dict(patch_size=scale.patch_size, embed_dim=scale.embed_dim, depth=scale.depth, num_heads=scale.num_heads),
        scale.head_channels, scale.batch_size, data_root, scale.generator)
    fine_tune = pretrained is not None and not row.from_scratch
    cfg.model.backbone.pretrained = pretrained if fine_tune else None
    cfg.optim_wrapper.optimizer.lr = scale.lr if fine_tune or pretrained is None else scale.scratch_lr
    options = dict(row.dtme)
    fraction = options.pop('expand_fraction', None)
    if fraction is not None:
        options['expand_iter'] = int(round(fraction * scale.max_iters))
    if options.pop('expand_after_warmup', False):
        options['expand_iter'] = scale.warmup_iters
    same_after = options.pop('same_after', False)
    half = options.pop('analysis_half', None)
    decay_from = scale.warmup_iters
    max_iters = scale.max_iters
    if same_after:  # warm-up, the peak LR until the expansion, then the whole schedule's iterations decaying
        decay_from = max(scale.warmup_iters, options['expand_iter'])
        max_iters = options['expand_iter'] + scale.max_iters
    cfg.param_scheduler = [
        dict(type='LinearLR', start_factor=0.1, begin=0, end=scale.warmup_iters, by_epoch=False),
        dict(type='PolyLR', eta_min=0, power=0.9, begin=decay_from, end=max_iters, by_epoch=False)
    ]
    if row.probe:  # the schedule of a real run, stopped one step after the analysis
        max_iters = options.get('expand_iter', 0) + 1
        cfg.study_probe = True
    cfg.train_cfg.max_iters = max_iters
    cfg.train_cfg.val_interval = max_iters + 1  # no validation: run_one tests the final model once
    cfg.default_hooks.checkpoint = dict(
        type='CheckpointHook', by_epoch=False, interval=max_iters, max_keep_ckpts=1, save_last=not row.probe)
    cfg.default_hooks.logger.interval = max(1, max_iters // 10)
    cfg.visualizer.vis_backends = [dict(type='LocalVisBackend')]
    # Δm is computed by the study against its own ST rows, not the config's fixed references.
    for name in ('val_evaluator', 'test_evaluator'):
        cfg[name].pop('st_reference', None)

    hooks = copy.deepcopy(cfg.get('custom_hooks', []))
    dtme_hooks = [hook for hook in hooks if hook['type'] == 'DTMEHook']
    if set(row.dtme) - SCHEDULE_OPTIONS and not dtme_hooks:
        raise ValueError(f'row {row.name!r} sets DTME options but {row.config} has no DTMEHook')
    for hook in dtme_hooks:
        hook['max_batches'] = scale.analysis_batches
        hook.update(options)
        if half is not None:
            hook['analysis_dataloader'] = half_analysis_loader(cfg, scale.num_train, half)
    if row.monitor:
        hooks.append(
            dict(
                type='ConflictMonitorHook',
                interval=max_iters,
                num_batches=2 * scale.analysis_batches,
                measure_before_train=True))
    cfg.custom_hooks = hooks
    return cfg


def half_analysis_loader(cfg, num_train: int, half: int) -> dict:
    """The default analysis loader of ``cfg`` restricted to the first (``half=0``) or second half of the
    ``num_train`` training scenes."""
    from mmdtme.engine.runner_utils import default_analysis_loader_cfg

    loader = default_analysis_loader_cfg(cfg)
    middle = num_train // 2
    loader['dataset']['indices'] = list(range(middle)) if half == 0 else list(range(middle, num_train))
    return loader


def run_one(config_file: str, result_file: str) -> dict:
    """Train and test the dumped run config in this process; write ``result_file`` atomically at the end."""
    from mmengine.config import Config
    from mmengine.runner import Runner

    cfg = Config.fromfile(config_file)
    runner = Runner.from_cfg(cfg)
    start = time.perf_counter()
    runner.train()
    train_time = time.perf_counter() - start
    metrics = {} if cfg.get('study_probe') else {key: float(value) for key, value in runner.test().items()}
    model = runner.model.module if hasattr(runner.model, 'module') else runner.model
    result = dict(metrics=metrics, train_time_s=train_time, params=sum(p.numel() for p in model.parameters()))
    monitors = [hook for hook in runner.hooks if type(hook).__name__ == 'ConflictMonitorHook']
    if monitors:
        result['conflicts'] = monitors[0].history
    plan_file = osp.join(cfg.work_dir, 'dtme_plan.json')
    if osp.isfile(plan_file):  # what the analysis saw and chose, for the report's diagnostics
        with open(plan_file) as f:
            plan = json.load(f)
        result['plan'] = {key: plan.get(key) for key in PLAN_KEYS}
    temporary = result_file + '.tmp'
    with open(temporary, 'w') as f:
        json.dump(result, f, indent=1)
    os.replace(temporary, result_file)
    return result


def run_study(out_dir: str,
              rows: Sequence[StudyRow],
              seeds: Sequence[int],
              scale: StudyScale,
              jobs: int = 2,
              data_root: Optional[str] = None,
              log=print,
              pretrained: Optional[str] = None) -> Dict[str, Dict[int, dict]]:
    """Run every (row, seed) whose ``result.json`` is missing, ``jobs`` at a time; return all results.

    Each run's config, log and result live in ``out_dir/runs/<row>/seed<k>/``. A failed run is reported with
    the tail of its log and the study goes on; its row is reported with the seeds that finished.
    """
    from mmdtme.datasets.synthetic import dataset_is_complete, generate_dataset

    data_root = data_root or scale.data_dir
    if not dataset_is_complete(data_root, **scale.generator):
        generate_dataset(data_root, **scale.generator)  # once, before the runs start side by side

    pending = []
    for row in rows:
        if not osp.isfile(osp.join(REPO_ROOT, row.config)):
            raise FileNotFoundError(f'row {row.name!r}: config {row.config} does not exist')
        for seed in seeds:
            run_dir = osp.join(out_dir, 'runs', row.slug, f'seed{seed}')
            if osp.isfile(osp.join(run_dir, 'result.json')):
                continue
            os.makedirs(run_dir, exist_ok=True)
            cfg = build_run_config(row, scale, seed, run_dir, data_root, pretrained)
            cfg.dump(osp.join(run_dir, 'config.py'))
            pending.append((row, seed, run_dir))
    log(f'{len(pending)} run(s) to do, {len(rows) * len(seeds) - len(pending)} already done')

    running: List[tuple] = []
    done = 0
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    while pending or running:
        while pending and len(running) < jobs:
            row, seed, run_dir = pending.pop(0)
            log_file = open(osp.join(run_dir, 'run.log'), 'w')
            command = [
                sys.executable,
                osp.join(REPO_ROOT, 'tools', 'experiments', 'synthetic_study.py'), '--run-one',
                osp.join(run_dir, 'config.py'), '--result',
                osp.join(run_dir, 'result.json')
            ]
            process = subprocess.Popen(command, cwd=REPO_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
            running.append((process, log_file, row, seed, run_dir, time.perf_counter()))
        time.sleep(0.5)
        for item in list(running):
            process, log_file, row, seed, run_dir, start = item
            if process.poll() is None:
                continue
            running.remove(item)
            log_file.close()
            done += 1
            status = 'done' if process.returncode == 0 else f'FAILED (exit {process.returncode})'
            log(f'[{done}] {row.name} seed {seed}: {status} in {time.perf_counter() - start:.0f} s')
            if process.returncode != 0:
                with open(osp.join(run_dir, 'run.log')) as f:
                    log(''.join(f.readlines()[-15:]))
    return collect_results(out_dir, rows, seeds)


def collect_results(out_dir: str, rows: Sequence[StudyRow], seeds: Sequence[int]) -> Dict[str, Dict[int, dict]]:
    """``{row name: {seed: result}}`` for the runs that finished."""
    results: Dict[str, Dict[int, dict]] = {}
    for row in rows:
        for seed in seeds:
            path = osp.join(out_dir, 'runs', row.slug, f'seed{seed}', 'result.json')
            if osp.isfile(path):
                with open(path) as f:
                    results.setdefault(row.name, {})[seed] = json.load(f)
    return results
