import os.path as osp
import sys

import pytest

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))  # tests/helpers.py

from helpers import TINY_GENERATOR  # noqa: E402


@pytest.fixture(scope='session')
def synthetic_root(tmp_path_factory) -> str:
    """A tiny synthetic dataset rendered once per test session."""
    from mmdtme.datasets.synthetic import generate_dataset
    root = str(tmp_path_factory.mktemp('synthetic') / 'scenes')
    generate_dataset(root, progress=False, **TINY_GENERATOR)
    return root


@pytest.fixture(autouse=True, scope='session')
def mmdtme_default_scope():
    """Build components in the mmdtme scope outside a Runner, as a config's default_scope does."""
    from mmengine.registry import init_default_scope

    import mmdtme  # noqa: F401  (registers everything)
    init_default_scope('mmdtme')


def pytest_collection_modifyitems(config, items):
    """Tests marked ``gpu`` need CUDA: without it they are skipped, with the reason."""
    import torch
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason='needs a CUDA device (marked gpu); none is available')
    for item in items:
        if 'gpu' in item.keywords:
            item.add_marker(skip)
