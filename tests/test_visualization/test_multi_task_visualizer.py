"""Panels of MultiTaskLocalVisualizer: layout, the colours of each task, generic tasks, and the hook's checks."""
import matplotlib
import numpy as np
import pytest
import torch
from mmengine.structures import PixelData
from mmengine.visualization import Visualizer

from mmdtme.engine.hooks import MultiTaskVisualizationHook
from mmdtme.structures import MultiTaskDataSample
from mmdtme.visualization import MultiTaskLocalVisualizer, default_palette

H, W = 8, 12


def sample_with_maps(gt: bool = True) -> MultiTaskDataSample:
    sample = MultiTaskDataSample()
    label = torch.full((1, H, W), 3)
    label[0, 0, 0] = 255
    sample.pred_sem_seg = PixelData(data=torch.full((1, H, W), 2))
    depth = torch.linspace(1, 5, H * W).reshape(1, H, W)
    sample.pred_depth_map = PixelData(data=depth.clone())
    normals = torch.zeros(3, H, W)
    normals[2] = 1.0
    sample.pred_normal_map = PixelData(data=normals.clone())
    sample.pred_edge_map = PixelData(data=torch.full((1, H, W), 0.5))
    if gt:
        sample.gt_sem_seg = PixelData(data=label)
        gt_depth = depth.clone()
        gt_depth[0, 0, 0] = 0  # invalid
        sample.gt_depth_map = PixelData(data=gt_depth)
        gt_normals = normals.clone()
        gt_normals[:, 0, 0] = 0  # invalid
        sample.gt_normal_map = PixelData(data=gt_normals)
        edge = torch.zeros(1, H, W, dtype=torch.long)
        edge[0, 2] = 1
        edge[0, 3] = 255
        sample.gt_edge_map = PixelData(data=edge)
    return sample


def tile(panel, row, column):
    return panel[row * H:(row + 1) * H, column * W:(column + 1) * W]


@pytest.fixture
def visualizer():
    palette = [[10 * i, 5 * i, 255 - 10 * i] for i in range(5)]
    vis = MultiTaskLocalVisualizer(name='test_panel_visualizer', palette=None)
    vis.dataset_meta = dict(palette=palette)
    return vis


def test_panel_layout_and_colours(visualizer):
    image = np.full((H, W, 3), 77, dtype=np.uint8)
    panel = visualizer.make_panel(image, sample_with_maps())
    assert panel.shape == (2 * H, 5 * W, 3) and panel.dtype == np.uint8
    assert (tile(panel, 0, 0) == 77).all()  # the image (no title on thumbnails)
    assert (tile(panel, 1, 0) == 0).all()  # nothing below the image
    semseg_gt, semseg_pred = tile(panel, 0, 1), tile(panel, 1, 1)
    assert semseg_gt[0, 0].tolist() == [0, 0, 0]  # ignore (255) is black
    assert semseg_gt[4, 5].tolist() == [30, 15, 225] and semseg_pred[4, 5].tolist() == [20, 10, 235]
    cmap = matplotlib.colormaps['magma']
    depth_gt, depth_pred = tile(panel, 0, 2), tile(panel, 1, 2)
    assert depth_gt[0, 0].tolist() == [0, 0, 0]  # invalid depth
    top = (np.array(cmap(1.0)[:3]) * 255).round().astype(int).tolist()
    assert depth_gt[-1, -1].tolist() == top and depth_pred[-1, -1].tolist() == top  # GT range shared
    normals_gt, normals_pred = tile(panel, 0, 3), tile(panel, 1, 3)
    assert normals_gt[0, 0].tolist() == [0, 0, 0] and normals_gt[1, 1].tolist() == [128, 128, 255]
    assert normals_pred[0, 0].tolist() == [128, 128, 255]
    edge_gt, edge_pred = tile(panel, 0, 4), tile(panel, 1, 4)
    assert edge_gt[2, 0].tolist() == [255] * 3 and edge_gt[3, 0].tolist() == [0] * 3 and edge_gt[0, 0].sum() == 0
    assert edge_pred[5, 5].tolist() == [128] * 3


def test_without_ground_truth_one_row_and_fixed_palette():
    vis = MultiTaskLocalVisualizer(name='test_panel_no_gt')
    panel = vis.make_panel(np.zeros((H, W, 3), np.uint8), sample_with_maps(gt=False))
    assert panel.shape == (H, 5 * W, 3)
    assert tile(panel, 0, 1)[3, 3].tolist() == default_palette()[2].tolist()
    assert len({tuple(c) for c in default_palette(64)}) == 64  # distinct colours


def test_tasks_unknown_to_the_visualizer_are_drawn_by_kind():
    vis = MultiTaskLocalVisualizer(name='test_panel_generic')
    sample = MultiTaskDataSample()
    parts = torch.zeros(1, H, W, dtype=torch.long)
    parts[0, :, :3] = 5
    sample.gt_parts_map = PixelData(data=parts)  # human_parts: a label map -> palette
    sample.pred_saliency_map = PixelData(data=torch.full((1, H, W), 0.25))  # saliency: binary -> grey
    panel = vis.make_panel(np.zeros((H, W, 3), np.uint8), sample, tasks=['human_parts', 'saliency'])
    assert panel.shape == (2 * H, 3 * W, 3)
    assert tile(panel, 0, 1)[0, 0].tolist() == default_palette()[5].tolist()
    assert tile(panel, 1, 2)[0, 0].tolist() == [64] * 3
    # a task outside the task table: float -> colormap, integer -> palette, 3 channels -> RGB
    assert vis.draw_map('taskonomy_curvature',
                        torch.arange(4.).reshape(1, 2, 2))[1, 1].tolist() == (np.array(vis.cmap(1.0)[:3]) *
                                                                              255).round().astype(int).tolist()
    assert vis.draw_map('class_object', torch.tensor([[[1]]]))[0, 0].tolist() == default_palette()[1].tolist()
    assert vis.draw_map('rgb_thing', torch.tensor([[[1.]], [[0.]], [[0.5]]]))[0, 0].tolist() == [255, 0, 128]


def test_hook_needs_the_multi_task_visualizer():
    Visualizer.get_instance('test_plain_visualizer')
    hook = MultiTaskVisualizationHook(draw=True, interval=1)
    with pytest.raises(TypeError, match='MultiTaskLocalVisualizer'):
        hook._visualizer()
    with pytest.raises(ValueError, match='interval'):
        MultiTaskVisualizationHook(interval=0)
