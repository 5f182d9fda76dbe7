"""What the hooks that analyse a model share: the analysis set, its batches, progress and the unwrapped model."""
import copy
from typing import Iterable, Iterator, List, Optional

import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.model import is_model_wrapper
from mmengine.utils import ProgressBar


def unwrap_model(model: torch.nn.Module) -> torch.nn.Module:
    """The model inside a DDP (or other mmengine) wrapper, or the model itself."""
    return model.module if is_model_wrapper(model) else model


def sum_over_ranks(tensors: List[torch.Tensor]) -> None:
    """In-place SUM all-reduce of the analysis statistics (a no-op in one process)."""
    if get_world_size() > 1:
        for tensor in tensors:
            all_reduce(tensor, op='sum')


def default_analysis_loader_cfg(cfg) -> dict:
    """The default analysis set: the training dataset with the validation pipeline, unshuffled, no padding."""
    loader_cfg = copy.deepcopy(cfg.train_dataloader)
    loader_cfg['dataset']['pipeline'] = copy.deepcopy(cfg.val_dataloader['dataset']['pipeline'])
    loader_cfg['sampler'] = dict(type='DefaultSampler', shuffle=False, round_up=False)
    loader_cfg['persistent_workers'] = False
    return loader_cfg


def build_analysis_batches(runner,
                           dataloader_cfg: Optional[dict] = None,
                           max_batches: Optional[int] = None) -> 'LimitedLoader':
    """The analysis set: ``dataloader_cfg``, or the training set with the validation pipeline, unshuffled."""
    if dataloader_cfg is not None:
        loader_cfg = copy.deepcopy(dataloader_cfg)
    else:
        loader_cfg = default_analysis_loader_cfg(runner.cfg)
    loader = runner.build_dataloader(loader_cfg, seed=runner.seed)
    limit = len(loader) if max_batches is None else min(max_batches, len(loader))
    if limit == 0:
        raise ValueError('the DTME analysis set is empty: the analysis dataloader yields no batch. Point '
                         'analysis_dataloader (or the training set) at data')
    return LimitedLoader(loader, limit)


def analysis_callables(model):
    """``block_outputs(data_batch)`` and ``task_losses(data_batch)`` of a ``MultiTaskSegmentor`` for the analysis."""

    def prepared(data_batch):
        data = model.data_preprocessor(data_batch, training=True)  # training=True pads the ground truth
        return data['inputs'], data['data_samples']

    def block_outputs(data_batch):
        return model.backbone.forward_with_block_outputs(prepared(data_batch)[0])[1]

    def task_losses(data_batch):
        return model.task_losses_with_block_outputs(*prepared(data_batch))

    return block_outputs, task_losses


class LimitedLoader:
    """The first ``limit`` batches of a dataloader, re-iterable (the analysis makes two passes)."""

    def __init__(self, loader: Iterable, limit: int) -> None:
        self.loader = loader
        self.limit = limit

    def __len__(self) -> int:
        return self.limit

    def __iter__(self) -> Iterator:
        for index, batch in enumerate(self.loader):
            if index == self.limit:
                break
            yield batch


def progress(batches: LimitedLoader) -> Iterator:
    """Iterate ``batches`` with a progress bar on the main process."""
    bar = ProgressBar(len(batches)) if is_main_process() else None
    for batch in batches:
        yield batch
        if bar is not None:
            bar.update()
    if bar is not None:
        print(flush=True)
