"""The backbone's pretrained weights, settled before a training run builds anything."""
import logging
import os.path as osp

from mmengine.logging import print_log

from mmdtme.models.backbones.pretrained_weights import TIMM_WEIGHTS, resolve_timm_weights

# Dataset types whose images are rendered here and meant for a ViT trained from scratch.
FROM_SCRATCH_DATASETS = ('SyntheticNYUDDataset', )


def prepare_backbone_weights(cfg, resuming: bool = False) -> None:
    """Find (or download) the backbone's ``pretrained`` weights, so that a run without them stops within seconds,
    before the runner reads any data, with one message saying what to download and how to point the run at it.

    When resuming, the checkpoint replaces the weights anyway: unavailable weights are then dropped with a note.
    """
    backbone = cfg.model.get('backbone') or {}
    pretrained = backbone.get('pretrained')
    if pretrained is None:
        return
    try:
        if pretrained == TIMM_WEIGHTS:
            resolve_timm_weights(backbone.get('model_name'))
        elif not osp.isfile(pretrained):
            raise FileNotFoundError(f'model.backbone.pretrained={pretrained!r} does not exist; download the '
                                    'weights or set it to another file with --cfg-options model.backbone.pretrained='
                                    'PATH')
    except FileNotFoundError as error:
        if not resuming:
            raise
        reason = str(error).splitlines()[0]
        print_log(f'resuming: the backbone weights come from the checkpoint ({reason})', logger='current')
        backbone['pretrained'] = None


def random_init_on_real_data(cfg) -> bool:
    """Whether the backbone starts from random weights on a dataset the paper fine-tunes pretrained ViTs on (a run
    that loads or resumes a checkpoint starts from its weights)."""
    if cfg.get('load_from') or cfg.get('resume'):
        return False
    backbone = cfg.model.get('backbone') or {}
    dataset = (cfg.get('train_dataloader') or {}).get('dataset') or {}
    return backbone.get('pretrained') is None and dataset.get('type') not in FROM_SCRATCH_DATASETS


def warn_random_init(cfg, logger=None) -> None:
    """One warning line when :func:`random_init_on_real_data`."""
    if random_init_on_real_data(cfg):
        print_log(
            'the backbone starts from random weights (model.backbone.pretrained=None) on real data; the paper '
            'fine-tunes ImageNet-22K ViTs (pretrained=\'timm\')',
            logger=logger or 'current',
            level=logging.WARNING)
