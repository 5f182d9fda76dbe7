"""Colour panels of multi-task predictions: the image, then every task's ground truth above its prediction.

Modelled on mmseg's ``SegLocalVisualizer``: :meth:`MultiTaskLocalVisualizer.add_datasample` draws a sample and
sends the panel to the visualizer's backends, or writes it to ``out_file``.
"""
from typing import Dict, List, Optional, Sequence

import cv2
import matplotlib
import mmcv
import numpy as np
import torch
from mmengine.visualization import Visualizer

from mmdtme.registry import VISUALIZERS
from mmdtme.structures import TASK_SPECS

# How a map is turned into colours.
LABEL, SCALAR, PROBABILITY, VECTOR = 'label', 'scalar', 'probability', 'vector'
# The tasks drawn with a dedicated style; every other task of the task table is drawn by its kind (see ``map_kind``).
TASK_KINDS: Dict[str, str] = dict(semseg=LABEL, depth=SCALAR, normals=VECTOR, edge=PROBABILITY)


def default_palette(num_colors: int = 256) -> np.ndarray:
    """A fixed ``num_colors``×3 ``uint8`` palette of well-separated colours (the bits of the class index are
    spread over the high bits of R, G and B, so neighbouring classes differ strongly). Colour 0 is black."""
    palette = np.zeros((num_colors, 3), dtype=np.uint8)
    for index in range(num_colors):
        value, colour = index, [0, 0, 0]
        for bit in range(8):
            for channel in range(3):
                colour[channel] |= ((value >> channel) & 1) << (7 - bit)
            value >>= 3
        palette[index] = colour
    return palette


def map_kind(task: str, data: torch.Tensor) -> str:
    """How to colour a map of ``task``: by ``TASK_KINDS``, else by its task-table row, else by the data
    (integer → label, 3 channels → vector, else scalar)."""
    if task in TASK_KINDS:
        return TASK_KINDS[task]
    spec = TASK_SPECS.get(task)
    if spec is not None:
        if spec.channels == 3:
            return VECTOR
        if spec.is_label:
            return PROBABILITY if spec.output_type == 'sigmoid' else LABEL
        return SCALAR
    if data.shape[0] == 3:
        return VECTOR
    return SCALAR if data.is_floating_point() else LABEL


@VISUALIZERS.register_module()
class MultiTaskLocalVisualizer(Visualizer):
    """Draws multi-task samples as one panel: ``image | task 1 | task 2 | ...`` with the ground truth in the top
    row and the prediction below it (one row when the sample has no ground truth).

    Colours: label maps (semseg, human parts, any integer map) through the dataset's ``palette`` or a fixed one;
    depth and other scalar maps through ``cmap``, with the range of the valid ground truth shared by the
    prediction (invalid depth 0 is black); normals and other 3-channel maps as RGB ``(n + 1) / 2``; edges and other
    binary maps in grey (probability × 255). ``ignore_index`` pixels and zero normals are black.

    Args:
        name: Instance name.
        vis_backends: Visualizer backends (where :meth:`add_datasample` sends panels without ``out_file``).
        save_dir: Folder of the backends' files.
        palette: Colours of label maps, ``[[r, g, b], ...]``. Default: ``dataset_meta['palette']``, else fixed.
        cmap: Matplotlib colormap of scalar maps.
        ignore_index: Label drawn black.
        titles: Write the task name on each tile.
        **kwargs: Passed to mmengine's ``Visualizer``.
    """

    def __init__(self,
                 name: str = 'visualizer',
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None,
                 palette: Optional[Sequence[Sequence[int]]] = None,
                 cmap: str = 'magma',
                 ignore_index: int = 255,
                 titles: bool = True,
                 **kwargs) -> None:
        super().__init__(name=name, vis_backends=vis_backends, save_dir=save_dir, **kwargs)
        self.palette = None if palette is None else np.asarray(palette, dtype=np.uint8)
        self.cmap = matplotlib.colormaps[cmap]
        self.ignore_index = ignore_index
        self.titles = titles

    def _palette(self, num_labels: int) -> np.ndarray:
        palette = self.palette
        if palette is None and self.dataset_meta and self.dataset_meta.get('palette') is not None:
            palette = np.asarray(self.dataset_meta['palette'], dtype=np.uint8)
        if palette is None or len(palette) < num_labels:
            fixed = default_palette(max(256, num_labels))
            palette = fixed if palette is None else np.concatenate([palette, fixed[len(palette):]])
        return palette

    def draw_map(self, task: str, data: torch.Tensor, reference: Optional[torch.Tensor] = None) -> np.ndarray:
        """One task map (C×H×W tensor) as an H×W×3 RGB ``uint8`` image.

        Args:
            task: Task name (chooses the colours, see :func:`map_kind`).
            data: The map, ground truth or prediction.
            reference: For scalar maps, the ground truth whose valid range (> 0) sets the colour scale.
        """
        data = data.detach().cpu()
        if data.dim() == 2:
            data = data[None]
        kind = map_kind(task, data)
        if kind == VECTOR:
            vectors = data[:3].float().permute(1, 2, 0).numpy()
            rgb = (vectors + 1) / 2 if vectors.min() < 0 or task == 'normals' else vectors
            rgb = np.clip(rgb * 255, 0, 255).round().astype(np.uint8)
            rgb[np.abs(vectors).sum(-1) == 0] = 0  # invalid (zero) normals
            return rgb
        values = data[0].numpy()
        if kind == LABEL:
            labels = values.astype(np.int64)
            ignored = (labels == self.ignore_index) | (labels < 0)
            palette = self._palette(int(labels[~ignored].max()) + 1 if (~ignored).any() else 1)
            rgb = palette[np.where(ignored, 0, labels)]
            rgb[ignored] = 0
            return rgb
        if kind == PROBABILITY:
            probability = values.astype(np.float32)
            ignored = values == self.ignore_index if not data.is_floating_point() else np.zeros_like(values, bool)
            grey = np.clip(np.where(ignored, 0, probability) * 255, 0, 255).round().astype(np.uint8)
            return np.repeat(grey[..., None], 3, axis=-1)
        values = values.astype(np.float32)
        scale = (reference if reference is not None else data)[0].detach().cpu().numpy().astype(np.float32)
        valid = scale[scale > 0] if (scale > 0).any() else scale.ravel()
        low, high = float(valid.min()), float(valid.max())
        normalised = np.clip((values - low) / max(high - low, 1e-12), 0, 1)
        rgb = (self.cmap(normalised)[..., :3] * 255).round().astype(np.uint8)
        if task == 'depth':
            rgb[values <= 0] = 0  # invalid depth
        return rgb

    def _title(self, tile: np.ndarray, text: str) -> np.ndarray:
        if not self.titles or tile.shape[0] < 64:  # no room for text on thumbnails
            return tile
        tile = np.ascontiguousarray(tile)
        scale = max(tile.shape[0] / 400, 0.3)
        origin = (3, int(14 * scale) + 2)
        cv2.putText(tile, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 3, cv2.LINE_AA)
        cv2.putText(tile, text, origin, cv2.FONT_HERSHEY_SIMPLEX, scale, (255, 255, 255), 1, cv2.LINE_AA)
        return tile

    def make_panel(self,
                   image: np.ndarray,
                   data_sample,
                   tasks: Optional[Sequence[str]] = None,
                   draw_gt: bool = True,
                   draw_pred: bool = True) -> np.ndarray:
        """The panel of one sample as an RGB ``uint8`` array of (rows·H)×((1 + T)·W)×3.

        Args:
            image: The input image, H×W×3 RGB.
            data_sample: A ``MultiTaskDataSample`` with ``gt_*`` and / or ``pred_*`` fields.
            tasks: Tasks to draw, in order. Default: every task of the task table the sample has a map of.
            draw_gt: Draw the ground-truth row.
            draw_pred: Draw the prediction row.
        """
        height, width = image.shape[:2]
        if tasks is None:
            tasks = [
                task for task, spec in TASK_SPECS.items()
                if spec.gt_field in data_sample or spec.pred_field in data_sample
            ]
        rows = []
        for field_of, label, wanted in (('gt_field', 'GT', draw_gt), ('pred_field', 'pred', draw_pred)):
            present = [task for task in tasks if getattr(TASK_SPECS[task], field_of) in data_sample]
            if not wanted or not present:
                continue
            tiles = [self._title(image.copy(), 'image') if not rows else np.zeros_like(image)]
            for task in tasks:
                spec = TASK_SPECS[task]
                if getattr(spec, field_of) not in data_sample:
                    tiles.append(np.zeros_like(image))
                    continue
                data = data_sample.get(getattr(spec, field_of)).data
                reference = data_sample.get(spec.gt_field).data if spec.gt_field in data_sample else None
                tile = self.draw_map(task, data, reference)
                if tile.shape[:2] != (height, width):
                    tile = mmcv.imresize(tile, (width, height), interpolation='nearest')
                tiles.append(self._title(tile, f'{task} {label}'))
            rows.append(np.concatenate(tiles, axis=1))
        if not rows:
            raise ValueError(f'the sample has no ground truth or prediction of tasks {list(tasks)} to draw')
        return np.concatenate(rows, axis=0)

    def add_datasample(self,
                       name: str,
                       image: np.ndarray,
                       data_sample=None,
                       draw_gt: bool = True,
                       draw_pred: bool = True,
                       show: bool = False,
                       wait_time: float = 0,
                       out_file: Optional[str] = None,
                       step: int = 0,
                       tasks: Optional[Sequence[str]] = None) -> None:
        """Draw a sample's panel; show it, write it to ``out_file``, or else send it to the backends.

        Args:
            name: Image name for the backends.
            image: The input image, H×W×3 RGB.
            data_sample: A ``MultiTaskDataSample``.
            draw_gt: Draw the ground truth.
            draw_pred: Draw the prediction.
            show: Display the panel in a window.
            wait_time: Seconds to show it.
            out_file: Write the panel to this file instead of the backends.
            step: Global step for the backends.
            tasks: Tasks to draw (default: all the sample has).
        """
        panel = self.make_panel(image, data_sample, tasks, draw_gt, draw_pred)
        self.set_image(panel)
        if show:
            self.show(panel, win_name=name, wait_time=wait_time)
        if out_file is not None:
            mmcv.imwrite(mmcv.rgb2bgr(panel), out_file)
        else:
            self.add_image(name, panel, step)
