"""CUDA paths. Marked ``gpu``: without CUDA they are skipped with the reason (tests/conftest.py); the CPU suite never
depends on them. ``tools/gpu_check.py`` is the longer check of the same paths at the paper's geometry."""
import copy
import json
import os.path as osp

import pytest
import torch
from test_dtme.test_dtme_analysis import TASKS, batches, make_callables, tiny_vit

from mmdtme.dtme import AnalysisSettings, analyze

pytestmark = pytest.mark.gpu


class TinyMultiTask(torch.nn.Module):
    """The analysis fixture's ViT and heads as one module, so that it moves to a device in one call."""

    def __init__(self) -> None:
        super().__init__()
        self.vit = tiny_vit()
        torch.manual_seed(1)
        self.heads = torch.nn.ModuleList(torch.nn.Linear(16, 2) for _ in TASKS)
        self.register_buffer('targets', torch.randn(len(TASKS), 2))

    def callables(self):
        block_outputs, _ = make_callables(self.vit)

        def task_losses(images):
            outputs = block_outputs(images)
            pooled = outputs[-1].mean(dim=1)
            return {
                task: (head(pooled) - self.targets[t]).pow(2).mean()
                for t, (task, head) in enumerate(zip(TASKS, self.heads))
            }, outputs

        return block_outputs, task_losses


def test_the_analysis_on_cuda_gives_the_cpu_plan():
    model = TinyMultiTask()
    settings = AnalysisSettings(range_variance=0.9, ratio=0.34)
    cpu_plan = analyze(batches(), *model.callables(), TASKS, 3, 16, settings)
    cuda_model = copy.deepcopy(model).cuda()
    cuda_plan = analyze([images.cuda() for images in batches()], *cuda_model.callables(), TASKS, 3, 16, settings)
    assert cuda_plan.ks == cpu_plan.ks
    assert (cuda_plan.tm_layers, cuda_plan.te_layers) == (cpu_plan.tm_layers, cpu_plan.te_layers)
    for key in ('range_conflict', 'null_conflict'):
        assert getattr(cuda_plan, key) == pytest.approx(getattr(cpu_plan, key), abs=1e-4), key


def test_amp_training_with_famo_and_checkpointed_blocks_through_the_expansion(synthetic_root, tmp_path):
    from mmengine.runner import Runner

    from helpers import expanding_config
    cfg = expanding_config(
        synthetic_root, str(tmp_path), max_iters=4, hook=dict(type='DTMEHook', expand_iter=2), checkpoint_interval=4)
    cfg.model.backbone.with_cp = True
    cfg.optim_wrapper = dict(
        type='AmpMultiTaskOptimWrapper',
        constructor='MultiTaskOptimWrapperConstructor',
        optimizer=dict(type='AdamW', lr=1e-4),
        loss_weighting=dict(type='FAMO'))
    runner = Runner.from_cfg(cfg)
    runner.train()
    scalars = osp.join(runner.log_dir, 'vis_data', 'scalars.json')
    with open(scalars) as f:
        losses = [json.loads(line)['loss'] for line in f if '"loss"' in line]
    assert len(losses) == 4 and all(torch.isfinite(torch.tensor(losses)))
    assert runner.model.backbone.is_expanded
