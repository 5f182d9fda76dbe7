import os.path as osp
from typing import Optional, Sequence

import mmcv
import numpy as np
from mmengine import fileio
from mmengine.hooks import Hook
from mmengine.visualization import Visualizer

from mmdtme.registry import HOOKS
from mmdtme.visualization.multi_task_visualizer import MultiTaskLocalVisualizer


@HOOKS.register_module()
class MultiTaskVisualizationHook(Hook):
    """Draw the predictions of validation / test samples as colour panels (mmseg's ``SegVisualizationHook``).

    Every ``interval``-th batch of the val or test loop, each sample's panel (see
    :class:`~mmdtme.visualization.MultiTaskLocalVisualizer`) is sent to the visualizer's backends (e.g.
    TensorBoard), or, in the test loop with ``out_dir``, written to ``out_dir/<image name>.png``. The runner's
    visualizer must be a ``MultiTaskLocalVisualizer`` (``visualizer = dict(type='MultiTaskLocalVisualizer',
    ...)``; ``tools/test.py --show-dir`` sets it).

    Args:
        draw: Draw at all (off by default, as in mmseg, so the hook can sit in a base config).
        interval: Draw the samples of every ``interval``-th batch.
        out_dir: Test only: write the panels here instead of the backends.
        tasks: Tasks to draw (default: every task a sample has).
        backend_args: File backend arguments for reading the images.
    """

    priority = 'NORMAL'

    def __init__(self,
                 draw: bool = False,
                 interval: int = 50,
                 out_dir: Optional[str] = None,
                 tasks: Optional[Sequence[str]] = None,
                 backend_args: Optional[dict] = None) -> None:
        if interval < 1:
            raise ValueError(f'MultiTaskVisualizationHook interval must be >= 1, got {interval}')
        self.draw = draw
        self.interval = interval
        self.out_dir = out_dir
        self.tasks = tasks
        self.backend_args = backend_args

    def _visualizer(self) -> MultiTaskLocalVisualizer:
        visualizer = Visualizer.get_current_instance()
        if not isinstance(visualizer, MultiTaskLocalVisualizer):
            raise TypeError(f'MultiTaskVisualizationHook needs the runner\'s visualizer to be a '
                            f'MultiTaskLocalVisualizer, not {type(visualizer).__name__}; set '
                            "visualizer = dict(type='MultiTaskLocalVisualizer', vis_backends=...) in the config")
        return visualizer

    @staticmethod
    def _image(sample, inputs, index: int, backend_args: Optional[dict]) -> np.ndarray:
        """The sample's original image (RGB), or the loader's input when it has no file."""
        path = sample.metainfo.get('img_path')
        if path is not None:
            return mmcv.imfrombytes(fileio.get(path, backend_args=backend_args), channel_order='rgb')
        image = inputs[index].detach().cpu().numpy().transpose(1, 2, 0)  # the loader's BGR uint8
        return np.ascontiguousarray(image[..., ::-1])

    def _draw_batch(self, runner, batch_idx: int, data_batch: dict, outputs: Sequence, mode: str) -> None:
        if not self.draw or not self.every_n_inner_iters(batch_idx, self.interval):
            return
        visualizer = self._visualizer()
        # the training iteration while training; a test run has no training loop (and must not build one)
        step = runner.iter if mode == 'val' else batch_idx
        inputs = data_batch.get('inputs') if isinstance(data_batch, dict) else None
        for index, sample in enumerate(outputs):
            image = self._image(sample, inputs, index, self.backend_args)
            path = sample.metainfo.get('img_path') or f'{batch_idx:06d}_{index}'
            name = osp.splitext(osp.basename(path))[0]
            out_file = None
            if mode == 'test' and self.out_dir is not None:
                out_file = osp.join(self.out_dir, f'{name}.png')
            visualizer.add_datasample(f'{mode}_{name}', image, sample, out_file=out_file, step=step, tasks=self.tasks)

    def after_val_iter(self, runner, batch_idx: int, data_batch: dict = None, outputs: Sequence = None) -> None:
        self._draw_batch(runner, batch_idx, data_batch, outputs, 'val')

    def after_test_iter(self, runner, batch_idx: int, data_batch: dict = None, outputs: Sequence = None) -> None:
        self._draw_batch(runner, batch_idx, data_batch, outputs, 'test')
