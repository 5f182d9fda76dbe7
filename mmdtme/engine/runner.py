import logging
from typing import List

from mmengine.runner import Runner

from mmdtme.models.backbones.pretrained_weights import TIMM_WEIGHTS, describe_timm_weights
from mmdtme.registry import RUNNERS
from mmdtme.utils.backbone_weights import warn_random_init
from .runner_utils import unwrap_model

# Console records that belong in the log file only: mmengine's environment and config dumps, the hook table and
# its notes on the way weights were initialised. The log file keeps every record.
FILE_ONLY_PREFIXES = ('\n----', 'Config:', 'Hooks will be executed', 'Distributed training is not used',
                      '"FileClient" will be deprecated', '"HardDiskBackend" is the alias')
FILE_ONLY_CONTAINS = ('The value is the same before and after calling `init_weights`', )


class _ConsoleFilter(logging.Filter):

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return not (message.startswith(FILE_ONLY_PREFIXES) or any(text in message for text in FILE_ONLY_CONTAINS))


@RUNNERS.register_module()
class MultiTaskRunner(Runner):
    """mmengine's ``Runner`` with a short console and strict checkpoint loading.

    The console shows a few lines about the run (config, work dir, data, model size, backbone weights, DTME plan)
    instead of the environment, config and hook listings, which still go to the log file. A
    :class:`~mmdtme.engine.hooks.CheckpointFitHook` refuses checkpoints whose weights do not fit the model, unless
    the config sets ``strict_load=False``. Configs select it with ``runner_type = 'MultiTaskRunner'``.
    """

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if self.cfg.get('strict_load', True):
            self.register_hook(dict(type='CheckpointFitHook', allow_unexpanded=self.cfg.get('allow_unexpanded', True)))
        for line in self.summary():
            self.logger.info(line)

    def build_logger(self, *args, **kwargs):
        logger = super().build_logger(*args, **kwargs)
        for handler in logger.handlers:
            if isinstance(handler, logging.StreamHandler) and not isinstance(handler, logging.FileHandler):
                if not any(isinstance(f, _ConsoleFilter) for f in handler.filters):
                    handler.addFilter(_ConsoleFilter())
        return logger

    def train(self):
        warn_random_init(self.cfg, self.logger)
        return super().train()

    def batch_and_lr(self) -> str:
        """The total training batch and the learning rate it trains with (after ``auto_scale_lr``, if enabled)."""
        batch = (self.cfg.get('train_dataloader') or {}).get('batch_size')
        optimizer = (self.cfg.get('optim_wrapper') or {}).get('optimizer') or {}
        lr = optimizer.get('lr')
        if batch is None or lr is None:
            return 'batch: not training'
        total = batch * self.world_size
        line = f'batch: {self.world_size} process(es) x {batch} = {total}; lr {lr:g}'
        scaling = self.cfg.get('auto_scale_lr') or {}
        base = scaling.get('base_batch_size')
        if scaling.get('enable') and base:
            line += f' x {total}/{base} = {lr * total / base:g} (auto_scale_lr)'
        elif base and base != total:
            line += f' (set for a total batch of {base}; --auto-scale-lr rescales it)'
        return line

    def summary(self) -> List[str]:
        """A few lines saying what this run is; the full config is in the log file and the work dir."""
        cfg = self.cfg
        model = unwrap_model(self.model)
        params = sum(p.numel() for p in model.parameters())
        backbone = cfg.model.get('backbone', {})
        weights = backbone.get('pretrained') or 'none: the backbone starts from random weights'
        if weights == TIMM_WEIGHTS:
            weights = f'timm: {describe_timm_weights(backbone.get("model_name"))}'
        lines = [f'config: {cfg.filename}  (full config and environment: {self.log_dir})', f'work dir: {self.work_dir}']
        for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
            dataset = (cfg.get(name) or {}).get('dataset') or {}
            if dataset:
                lines.append(f'{name[:-len("_dataloader")]} data: {dataset.get("type")} at '
                             f'{dataset.get("data_root")}')
        lines.append(f'model: {type(model).__name__}, tasks {list(getattr(model, "tasks", []))}, backbone '
                     f'{backbone.get("type")} {backbone.get("model_name", "")}, {params / 1e6:.2f} M parameters')
        lines.append(f'backbone weights: {weights}')
        lines.append(self.batch_and_lr())
        hooks = [hook for hook in cfg.get('custom_hooks') or [] if hook.get('type') in ('DTMEHook', 'ReconHook')]
        for hook in hooks:
            settings = ', '.join(f'{key}={"<given>" if isinstance(value, dict) else value}'
                                 for key, value in hook.items() if key != 'type')
            lines.append(f'{hook["type"]}: {settings or "defaults"}')
        return lines
