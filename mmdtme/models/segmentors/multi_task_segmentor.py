import inspect
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
import torch.nn as nn
import torch.nn.functional as F
from mmengine.model import BaseModel
from mmseg.utils import add_prefix

from mmdtme.registry import MODELS
from mmdtme.structures import MultiTaskDataSample, get_task_specs
from ..wrappers import is_multi_task_optim_wrapper, multi_task_train_step


@MODELS.register_module()
class MultiTaskSegmentor(BaseModel):
    """A shared backbone, an optional multi-task decoder (neck) and one head per task.

    Without a neck this is Baseline MT (or Baseline ST with a single task); with a neck, e.g. an InvPT-like
    decoder, the neck turns the backbone output into per-task features and may emit auxiliary
    (preliminary) predictions, which are supervised with the task head's loss under ``'{task}.aux_*'``.

    Call graph::

        loss():    extract_feat() -> [neck] -> heads[t].loss() (+ aux losses) for t in tasks -> {'t.loss_x': ...}
        predict(): extract_feat() -> [neck] -> heads[t].predict() -> crop padding, resize to ori_shape,
                   heads[t].activate() -> data_sample.pred_* for t in tasks
        _forward(): extract_feat() -> [neck] -> heads[t]() -> {t: raw output}

    Args:
        tasks: Tasks trained and predicted, e.g. ``['semseg', 'depth', 'normals', 'edge']``.
        backbone: Backbone config, e.g. ``dict(type='TimmViT', ...)``.
        heads: One head config per task, keyed by task; ``in_channels`` and ``task`` are filled in.
        neck: Optional multi-task decoder config; ``in_channels`` (the backbone's ``out_channels``) and
            ``tasks`` are filled in. It is called with the backbone output (a list of levels, or
            ``{task: levels}`` from a task-stream backbone) and returns ``(task_features, aux_outputs)``:
            ``{task: levels}`` for the heads and ``{task: B×C×h×w raw map}`` (possibly empty). It has an
            ``out_channels`` attribute (channels of each level it returns).
        data_preprocessor: Data preprocessor config.
    """

    def __init__(self,
                 tasks: Sequence[str],
                 backbone: dict,
                 heads: Dict[str, dict],
                 neck: Optional[dict] = None,
                 data_preprocessor: Optional[dict] = None,
                 train_cfg: Optional[dict] = None,
                 test_cfg: Optional[dict] = None,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(data_preprocessor=data_preprocessor, init_cfg=init_cfg)
        self.tasks = tuple(tasks)
        if not self.tasks:
            raise ValueError('model.tasks is empty; list at least one task')
        get_task_specs(self.tasks)
        missing = [task for task in self.tasks if task not in heads]
        if missing:
            raise ValueError(f'tasks {missing} are in model.tasks but have no head in model.heads '
                             f'(heads exist for {sorted(heads)}); add a head for each or remove the task')
        # A task-stream backbone (DTMEViT) needs the task order of the heads.
        backbone_cls = MODELS.get(backbone['type'])
        accepts_tasks = backbone_cls is not None and 'tasks' in inspect.signature(backbone_cls).parameters
        self.backbone = MODELS.build(backbone, default_args=dict(tasks=self.tasks) if accepts_tasks else None)
        head_channels = self.backbone.out_channels
        self.neck = None
        if neck is not None:
            self.neck = MODELS.build(dict(neck, in_channels=self.backbone.out_channels, tasks=self.tasks))
            head_channels = self.neck.out_channels
        self.heads = nn.ModuleDict(
            {task: MODELS.build(dict(heads[task], task=task, in_channels=head_channels))
             for task in self.tasks})
        self.train_cfg = train_cfg
        self.test_cfg = test_cfg

    def extract_feat(self, inputs: torch.Tensor) -> Union[List[torch.Tensor], Dict[str, List[torch.Tensor]]]:
        """Backbone features: one list of levels shared by all tasks, or ``{task: levels}`` with task streams."""
        return self.backbone(inputs)

    @staticmethod
    def _task_features(features, task: str) -> List[torch.Tensor]:
        return features[task] if isinstance(features, dict) else features

    def decode(self, features) -> Tuple[object, Dict[str, torch.Tensor]]:
        """The heads' input (levels, or ``{task: levels}``) and auxiliary raw predictions (``{}`` without neck)."""
        if self.neck is None:
            return features, {}
        return self.neck(features)

    def _head_losses(self, features, data_samples: List[MultiTaskDataSample]) -> Dict[str, torch.Tensor]:
        features, aux_outputs = self.decode(features)
        losses = {}
        for task, head in self.heads.items():
            if not all(sample.has_task_gt(task) for sample in data_samples):
                raise KeyError(f'a training sample has no {task} ground truth; the dataset must list '
                               f'{task!r} in its tasks and the pipeline must load it')
            target = torch.stack([sample.get_task_gt(task).data for sample in data_samples])
            losses.update(add_prefix(head.loss(self._task_features(features, task), target), task))
            if task in aux_outputs:
                aux = F.interpolate(aux_outputs[task], target.shape[-2:], mode='bilinear', align_corners=False)
                losses[f'{task}.aux_{head.loss_fn.loss_name}'] = head.loss_fn(aux, target)
        return losses

    def loss(self, inputs: torch.Tensor, data_samples: List[MultiTaskDataSample]) -> Dict[str, torch.Tensor]:
        return self._head_losses(self.extract_feat(inputs), data_samples)

    def task_losses_with_block_outputs(
            self, inputs: torch.Tensor,
            data_samples: List[MultiTaskDataSample]) -> Tuple[Dict[str, torch.Tensor], List[torch.Tensor]]:
        """Each task's total (weighted) loss and every backbone block's (B, N, C) output tokens, in one graph.

        This is what the DTME analysis differentiates: ∂L_t/∂X_l for every task t and block l.
        """
        features, block_outputs = self.backbone.forward_with_block_outputs(inputs)
        return self.task_losses(self._head_losses(features, data_samples)), block_outputs

    def predict(self,
                inputs: torch.Tensor,
                data_samples: Optional[List[MultiTaskDataSample]] = None) -> List[MultiTaskDataSample]:
        if data_samples is None:
            data_samples = [
                MultiTaskDataSample(metainfo=dict(img_shape=inputs.shape[-2:], ori_shape=inputs.shape[-2:]))
                for _ in range(inputs.shape[0])
            ]
        features, _ = self.decode(self.extract_feat(inputs))
        for task, head in self.heads.items():
            outputs = head.predict(self._task_features(features, task), inputs.shape[-2:])
            for output, sample in zip(outputs, data_samples):
                height, width = sample.img_shape[:2]
                output = output[None, :, :height, :width]
                ori_shape = tuple(sample.ori_shape[:2])
                if ori_shape != (height, width):
                    output = F.interpolate(output, ori_shape, mode='bilinear', align_corners=False)
                sample.set_task_pred(task, head.activate(output)[0])
        return data_samples

    def _forward(self, inputs: torch.Tensor, data_samples=None) -> Dict[str, torch.Tensor]:
        features, _ = self.decode(self.extract_feat(inputs))
        return {task: head(self._task_features(features, task)) for task, head in self.heads.items()}

    def forward(self, inputs: torch.Tensor, data_samples=None, mode: str = 'tensor'):
        if mode == 'loss':
            return self.loss(inputs, data_samples)
        if mode == 'predict':
            return self.predict(inputs, data_samples)
        if mode == 'tensor':
            return self._forward(inputs, data_samples)
        raise ValueError(f'invalid mode {mode!r}; use loss, predict or tensor')

    def parse_losses(self, losses: Dict[str, torch.Tensor]):
        # One host read per step for all losses; the culprit is looked up only when something is not finite.
        if losses and not torch.stack([torch.isfinite(value).all() for value in losses.values()]).all():
            name, value = next((name, value) for name, value in losses.items() if not torch.isfinite(value).all())
            raise FloatingPointError(
                f'loss {name!r} is {value.item() if value.numel() == 1 else value}: training diverged. '
                'Lower the learning rate or this task\'s loss_weight, or check its ground truth '
                '(the checkpoints written so far are kept).')
        return super().parse_losses(losses)

    def task_losses(self, losses: Dict[str, torch.Tensor]) -> Dict[str, torch.Tensor]:
        """Each task's loss: the sum of its ``task.*loss*`` entries (the terms ``parse_losses`` adds up)."""
        terms = {key: value for key, value in losses.items() if 'loss' in key}
        stray = [key for key in terms if key.split('.', 1)[0] not in self.tasks]
        if stray:
            raise KeyError(f'loss terms {stray} belong to no task of {list(self.tasks)}; multi-task optimisation '
                           "needs every loss prefixed with its task ('semseg.loss_ce')")
        return {
            task: sum(value.mean() for key, value in terms.items() if key.startswith(f'{task}.'))
            for task in self.tasks
        }

    def train_step(self, data, optim_wrapper) -> Dict[str, torch.Tensor]:
        """mmengine's train step, or with a multi-task optim wrapper (MTO methods) the per-task one.

        Under DDP the ``MultiTaskDDP`` model wrapper runs the same per-task step.
        """
        if not is_multi_task_optim_wrapper(optim_wrapper):
            return super().train_step(data, optim_wrapper)
        return multi_task_train_step(self, self, data, optim_wrapper)
