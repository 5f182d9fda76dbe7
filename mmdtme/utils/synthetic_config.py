"""Resizing of the synthetic-scene configs (the study's scales and the tests' tiny runs share it)."""


def resize_synthetic_config(cfg, image_size: tuple, vit_kwargs: dict, head_channels: int, batch_size: int,
                            data_root: str, generator: dict) -> None:
    """Set a synthetic-scene config (``configs/*/vitt_synth.py``) in place to another image size and ViT size.

    Data: every loader reads ``data_root`` rendered with ``generator``, in the main process; the training crop and
    resize, the data preprocessor, the backbone's ``img_size`` / ``model_kwargs`` and every head's channels follow.
    """
    height, width = image_size
    for name in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        loader = cfg[name]
        loader.batch_size = batch_size
        loader.num_workers = 0
        loader.persistent_workers = False
        loader.dataset.data_root = data_root
        loader.dataset.generator = dict(generator)
    for step in cfg.train_dataloader.dataset.pipeline:
        if step.type == 'RandomResize':
            step.scale = (width, height)
        if step.type == 'RandomCrop':
            step.crop_size = (height, width)
    cfg.model.data_preprocessor.size = (height, width)
    cfg.model.data_preprocessor.size_divisor = vit_kwargs['patch_size']
    cfg.model.backbone.img_size = (height, width)
    cfg.model.backbone.model_kwargs = dict(vit_kwargs)
    for head in cfg.model.heads.values():
        head.channels = head_channels
