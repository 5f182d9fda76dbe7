"""What the hooks that analyse a model share: the analysis set, its batches, progress and the unwrapped model."""
import copy
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, List, Optional, Tuple

import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.model import is_model_wrapper
from mmengine.utils import ProgressBar

from mmdtme.dtme import AnalysisSettings, StoppingRule


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
                           max_batches: Optional[int] = None,
                           batch_size: Optional[int] = None) -> 'LimitedLoader':
    """The analysis set: ``dataloader_cfg``, or the training set with the validation pipeline, unshuffled; each
    batch goes through the model's data preprocessor as it is read (see :func:`analysis_callables`)."""
    if dataloader_cfg is not None:
        loader_cfg = copy.deepcopy(dataloader_cfg)
    else:
        loader_cfg = default_analysis_loader_cfg(runner.cfg)
    if batch_size is not None:
        loader_cfg['batch_size'] = batch_size
    loader = runner.build_dataloader(loader_cfg, seed=runner.seed)
    limit = len(loader) if max_batches is None else min(max_batches, len(loader))
    if limit == 0:
        raise ValueError('the DTME analysis set is empty: the analysis dataloader yields no batch. Point '
                         'analysis_dataloader (or the training set) at data')
    return LimitedLoader(loader, limit, prepare=preprocessor(unwrap_model(runner.model)))


def dtme_hook_settings(cfg) -> Tuple[dict, AnalysisSettings, StoppingRule]:
    """The config's ``DTMEHook`` entry (``{}`` without one), its analysis settings and its adaptive stopping rule,
    for tools that run the analysis outside training."""
    hook_cfg = next((hook for hook in cfg.get('custom_hooks', []) if hook.get('type') == 'DTMEHook'), {})
    fields = AnalysisSettings.__dataclass_fields__
    settings = AnalysisSettings(**{key: value for key, value in hook_cfg.items() if key in fields})
    return hook_cfg, settings, StoppingRule(**(hook_cfg.get('stopping') or {}))


def prepared_analysis_batches(cfg, model, count: Optional[int] = None) -> List[tuple]:
    """The first ``count`` (all with None) batches of ``cfg``'s default analysis set, read in this process (no
    workers) and prepared as the hooks prepare them: the in-memory set of tools that time or compare analyses."""
    from mmengine.runner import Runner
    loader_cfg = default_analysis_loader_cfg(cfg)
    loader_cfg['num_workers'] = 0
    prepare = preprocessor(model)
    batches = []
    for index, data_batch in enumerate(Runner.build_dataloader(loader_cfg)):
        if index == count:
            break
        batches.append(prepare(data_batch))
    return batches


def preprocessor(model):
    """``data_batch -> (inputs, data_samples)`` through the model's data preprocessor (``training=True`` pads the
    ground truth, as the losses need)."""

    def prepare(data_batch):
        data = model.data_preprocessor(data_batch, training=True)
        return data['inputs'], data['data_samples']

    return prepare


def analysis_callables(model):
    """``block_outputs(batch)`` and ``task_losses(batch)`` of a ``MultiTaskSegmentor`` for the analysis, on
    prepared batches ``(inputs, data_samples)`` (see :func:`preprocessor`)."""

    def block_outputs(batch):
        return model.backbone.forward_with_block_outputs(batch[0])[1]

    def task_losses(batch):
        return model.task_losses_with_block_outputs(*batch)

    return block_outputs, task_losses


class LimitedLoader:
    """The first ``limit`` batches of a dataloader, re-iterable (the analysis makes two passes), each passed
    through ``prepare`` when given."""

    def __init__(self, loader: Iterable, limit: int, prepare: Optional[Callable] = None) -> None:
        self.loader = loader
        self.limit = limit
        self.prepare = prepare

    def __len__(self) -> int:
        return self.limit

    def __iter__(self) -> Iterator:
        for index, batch in enumerate(self.loader):
            if index == self.limit:
                break
            yield batch if self.prepare is None else self.prepare(batch)


def progress(batches: LimitedLoader) -> Iterator:
    """Iterate ``batches`` with a progress bar on the main process (ended with a newline, also when the reader
    stops early)."""
    bar = ProgressBar(len(batches)) if is_main_process() else None
    try:
        for batch in batches:
            yield batch
            if bar is not None:
                bar.update()
    finally:
        if bar is not None:
            print(flush=True)


@contextmanager
def logged_peak_memory(logger, what: str, smaller: str):
    """On CUDA, log the peak memory allocated while the block runs, above what was allocated before it, and the
    setting (``smaller``) that lowers it. Nothing on the CPU."""
    if not torch.cuda.is_available():
        yield
        return
    torch.cuda.reset_peak_memory_stats()
    before = torch.cuda.memory_allocated()
    yield
    peak = torch.cuda.max_memory_allocated()
    logger.info(f'{what} peaked at {peak / 2**30:.2f} GiB of GPU memory, {(peak - before) / 2**30:.2f} GiB above '
                f'the {before / 2**30:.2f} GiB held before it; {smaller} lowers it')
