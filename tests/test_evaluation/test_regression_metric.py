"""Metric kind 'regression' (the Taskonomy maps): L1 / RMSE pooled over the valid pixels of the set."""
import math

import pytest
import torch
from mmengine.structures import PixelData

from mmdtme.evaluation import task_metrics
from mmdtme.evaluation.metrics.multi_task_metric import MultiTaskMetric
from mmdtme.structures import LOWER_IS_BETTER, TASK_SPECS, MultiTaskDataSample

TASKONOMY_TASKS = ('depth_euclidean', 'depth_zbuffer', 'edge_occlusion', 'edge_texture', 'keypoints2d', 'keypoints3d',
                   'normal', 'principal_curvature', 'reshading', 'segment_unsup2d', 'segment_unsup25d')


def test_regression_stats_count_only_valid_pixels():
    pred = torch.tensor([[[1.0, 2.0], [3.0, 4.0]]])
    gt = torch.tensor([[[1.5, 2.0], [255.0, 0.0]]])
    valid = torch.tensor([[True, True], [False, True]])
    stats = task_metrics.regression_stats(pred, gt, valid)
    # errors 0.5, 0, 4 on the three valid pixels
    assert stats == dict(abs_error=4.5, squared_error=16.25, count=3)
    summary = task_metrics.regression_summary(stats)
    assert summary['l1'] == pytest.approx(1.5)
    assert summary['rmse'] == pytest.approx(math.sqrt(16.25 / 3))


def test_regression_summary_pools_over_the_set_and_channels():
    # image 1: two channels, one valid pixel, errors 1 and 3; image 2: one valid pixel, errors 0 and 0
    first = task_metrics.regression_stats(
        torch.tensor([[[1.0]], [[3.0]]]), torch.zeros(2, 1, 1), torch.ones(1, 1, dtype=torch.bool))
    second = task_metrics.regression_stats(torch.zeros(2, 1, 2), torch.zeros(2, 1, 2), torch.tensor([[True, False]]))
    pooled = {key: first[key] + second[key] for key in first}
    summary = task_metrics.regression_summary(pooled)
    assert summary['l1'] == pytest.approx(4 / 4)  # not the mean of the per-image L1s (2 and 0)
    assert summary['rmse'] == pytest.approx(math.sqrt(10 / 4))
    assert all(
        math.isnan(value)
        for value in task_metrics.regression_summary(dict(abs_error=0.0, squared_error=0.0, count=0)).values())


def sample(task, pred, gt):
    spec = TASK_SPECS[task]
    data_sample = MultiTaskDataSample()
    setattr(data_sample, spec.pred_field, PixelData(data=pred))
    setattr(data_sample, spec.gt_field, PixelData(data=gt))
    return data_sample.to_dict()


def test_multi_task_metric_ignores_each_task_pad_value():
    metric = MultiTaskMetric(tasks=['depth_zbuffer', 'normal'])
    # depth_zbuffer: 255 marks invalid pixels; normal: the zero vector does
    depth_gt = torch.tensor([[[0.2, 255.0], [0.4, 0.6]]])
    depth_pred = torch.tensor([[[0.3, 0.0], [0.4, 0.2]]])  # errors 0.1, -, 0, 0.4
    normal_gt = torch.zeros(3, 1, 2)
    normal_gt[:, 0, 0] = torch.tensor([0.0, 0.0, 1.0])
    normal_pred = torch.zeros(3, 1, 2)
    normal_pred[:, 0, 0] = torch.tensor([0.6, 0.0, 0.8])  # errors 0.6, 0, 0.2; pixel 2 ignored
    normal_pred[:, 0, 1] = 5.0
    metric.process({},
                   [dict(sample('depth_zbuffer', depth_pred, depth_gt), **sample('normal', normal_pred, normal_gt))])
    # a second image: all depth valid, error 1 on its only pixel
    metric.process({}, [
        dict(
            sample('depth_zbuffer', torch.ones(1, 1, 1), torch.zeros(1, 1, 1)),
            **sample('normal', normal_pred, normal_gt))
    ])
    results = metric.compute_metrics(metric.results)
    assert results['depth_zbuffer/l1'] == pytest.approx((0.1 + 0 + 0.4 + 1) / 4)
    assert results['depth_zbuffer/rmse'] == pytest.approx(math.sqrt((0.01 + 0.16 + 1) / 4))
    assert results['normal/l1'] == pytest.approx(2 * 0.8 / 6)
    assert results['normal/rmse'] == pytest.approx(math.sqrt(2 * (0.36 + 0.04) / 6))


def test_every_taskonomy_metric_is_lower_is_better_and_usable_for_delta_m():
    for task in TASKONOMY_TASKS:
        assert TASK_SPECS[task].metric == 'regression'
        assert LOWER_IS_BETTER[f'{task}/l1'] is True and LOWER_IS_BETTER[f'{task}/rmse'] is True
    metric = MultiTaskMetric(tasks=['depth_zbuffer'], st_reference={'depth_zbuffer/l1': 0.5})
    metric.process({}, [sample('depth_zbuffer', torch.ones(1, 1, 1), torch.zeros(1, 1, 1))])
    results = metric.compute_metrics(metric.results)
    assert results['delta_m'] == pytest.approx(-100.0)  # L1 1.0 against 0.5, lower is better
