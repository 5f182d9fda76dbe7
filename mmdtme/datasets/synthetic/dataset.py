"""The synthetic scenes as a dataset: rendered on first use, then read as NYUD-MT."""
from typing import Optional

from mmengine.dist import barrier, get_rank

from mmdtme.registry import DATASETS
from ..nyud import NYUDMultiTaskDataset
from .scene import CLASSES, PALETTE
from .writer import generate_dataset


@DATASETS.register_module()
class SyntheticNYUDDataset(NYUDMultiTaskDataset):
    """The embedded synthetic scenes (see :mod:`mmdtme.datasets.synthetic`), read as NYUD-MT.

    If ``data_root`` holds no dataset yet it is rendered first, seeded, with a progress bar; under
    distributed training rank 0 renders while the other ranks wait. An existing dataset made with other
    generator settings is an error (pass ``force_regenerate=True`` or another ``data_root``).

    Args:
        data_root: Where the scenes are (or will be) written.
        generator: Keyword arguments of ``generate_dataset`` (``num_train``, ``num_val``, ``height``,
            ``width``, ``seed``). Default: the generator's defaults.
        force_regenerate: Replace a dataset written with other settings.
        **kwargs: Passed to :class:`NYUDMultiTaskDataset`.
    """

    METAINFO = dict(classes=CLASSES, palette=PALETTE, tasks=NYUDMultiTaskDataset.METAINFO['tasks'])

    def __init__(self,
                 data_root: str,
                 generator: Optional[dict] = None,
                 force_regenerate: bool = False,
                 **kwargs) -> None:
        if get_rank() == 0:
            generate_dataset(data_root, force=force_regenerate, **(generator or {}))
        barrier()
        super().__init__(data_root=data_root, **kwargs)
