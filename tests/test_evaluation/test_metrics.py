import math

import pytest
import torch

from mmdtme.evaluation import MultiTaskMetric, delta_m, task_metrics


def test_miou_from_confusion_matrix():
    pred = torch.tensor([0, 0, 1, 1, 2, 2])
    label = torch.tensor([0, 1, 1, 1, 2, 255])
    confusion = task_metrics.confusion_matrix(pred, label, num_classes=3)
    assert confusion.tolist() == [[1, 0, 0], [1, 2, 0], [0, 0, 1]]
    summary = task_metrics.miou_summary(confusion.numpy())
    # IoU: class 0 = 1/2, class 1 = 2/3, class 2 = 1/1
    assert math.isclose(summary['mIoU'], 100 * (1 / 2 + 2 / 3 + 1) / 3)
    assert math.isclose(summary['aAcc'], 100 * 4 / 5)


def test_depth_rmse_pools_pixels_over_the_set():
    first = task_metrics.depth_stats(torch.tensor([1.0, 2.0]), torch.tensor([2.0, 0.0]))  # one valid pixel
    second = task_metrics.depth_stats(torch.tensor([3.0, 3.0, 3.0]), torch.tensor([1.0, 1.0, 1.0]))
    pooled = {key: first[key] + second[key] for key in first}
    # errors 1, 2, 2, 2 over 4 valid pixels: sqrt(13/4); the mean of per-image RMSEs would be 1.5
    assert math.isclose(task_metrics.depth_summary(pooled)['rmse'], math.sqrt(13 / 4))


def test_normal_angles():
    gt = torch.zeros(3, 1, 4)
    gt[2] = 1.0  # all normals +z
    gt[:, 0, 3] = 0.0  # last pixel: no ground truth
    pred = torch.zeros(3, 1, 4)
    pred[2, 0, 0] = 2.0  # 0 deg (unnormalised on purpose)
    pred[0, 0, 1] = 1.0  # 90 deg
    pred[:, 0, 2] = torch.tensor([1.0, 0.0, math.sqrt(3)])  # 30 deg
    summary = task_metrics.normal_summary(task_metrics.normal_stats(pred, gt))
    assert math.isclose(summary['mean'], (0 + 90 + 30) / 3, abs_tol=1e-3)
    assert abs(summary['median'] - 30) <= task_metrics.NORMAL_ANGLE_BIN
    assert math.isclose(summary['within_11.25'], 100 / 3)
    assert math.isclose(summary['within_30'], 100 / 3)  # 30 deg itself falls in the bin above


def test_edge_pixel_f_with_tolerance():
    gt = torch.zeros(5, 5, dtype=torch.long)
    gt[2, :] = 1
    prob = torch.zeros(5, 5)
    prob[3, :] = 0.8  # one pixel off: within the 1-pixel tolerance
    prob[0, 0] = 0.9  # a false positive, 2 pixels away
    thresholds = [0.5, 0.85]
    summary = task_metrics.edge_pixel_summary(task_metrics.edge_pixel_stats(prob, gt, thresholds, 1), thresholds)
    # t=0.5: precision 5/6, recall 1 -> F = 10/11; t=0.85: precision 0, recall 0
    assert math.isclose(summary['pixel_odsF'], 100 * 10 / 11, rel_tol=1e-6)
    assert summary['threshold'] == 0.5
    strict = task_metrics.edge_pixel_summary(task_metrics.edge_pixel_stats(prob, gt, thresholds, 0), thresholds)
    assert strict['pixel_odsF'] == 0.0


def test_delta_m():
    metrics = {'semseg/mIoU': 44.0, 'depth/rmse': 0.55}
    reference = {'semseg/mIoU': 40.0, 'depth/rmse': 0.50}
    lower = {'semseg/mIoU': False, 'depth/rmse': True}
    assert math.isclose(delta_m(metrics, reference, lower), 100 * (0.1 - 0.1) / 2, abs_tol=1e-12)
    assert math.isclose(delta_m({'semseg/mIoU': 42.0}, {'semseg/mIoU': 40.0}, lower), 5.0)
    with pytest.raises(KeyError, match='normals/mean'):
        delta_m(metrics, {'normals/mean': 20.0}, {'normals/mean': True})


def test_metric_end_to_end_on_samples():
    metric = MultiTaskMetric(num_classes=2, edge_thresholds=9, st_reference={'semseg/mIoU': 50.0, 'depth/rmse': 1.0})
    label = torch.tensor([[[0, 1], [1, 1]]])
    normal = torch.zeros(3, 2, 2)
    normal[2] = 1
    sample = dict(
        gt_sem_seg=dict(data=label),
        pred_sem_seg=dict(data=label.clone()),
        gt_depth_map=dict(data=torch.ones(1, 2, 2)),
        pred_depth_map=dict(data=torch.full((1, 2, 2), 3.0)),
        gt_normal_map=dict(data=normal),
        pred_normal_map=dict(data=normal.clone()),
        gt_edge_map=dict(data=torch.tensor([[[1, 0], [0, 0]]])),
        pred_edge_map=dict(data=torch.tensor([[[0.9, 0.0], [0.0, 0.0]]])))
    metric.process({}, [sample])
    results = metric.compute_metrics(metric.results)
    assert results['semseg/mIoU'] == 100.0
    assert results['depth/rmse'] == 2.0
    assert results['normals/mean'] == 0.0
    assert results['edge/pixel_odsF'] == 100.0
    # Δm = ((100 - 50) / 50 - (2 - 1) / 1) / 2 = 0
    assert math.isclose(results['delta_m'], 0.0, abs_tol=1e-9)


def test_metric_rejects_misaligned_prediction():
    metric = MultiTaskMetric(tasks=['depth'])
    sample = dict(gt_depth_map=dict(data=torch.ones(1, 2, 2)), pred_depth_map=dict(data=torch.ones(1, 3, 2)))
    with pytest.raises(ValueError, match='depth prediction'):
        metric.process({}, [sample])


def edge_sample(shift: int, height: int = 40, width: int = 60) -> dict:
    """A one-pixel vertical GT edge and a prediction of it ``shift`` pixels to the right."""
    gt = torch.zeros(1, height, width, dtype=torch.long)
    gt[0, :, 20] = 1
    prob = torch.zeros(1, height, width)
    prob[0, :, 20 + shift] = 0.9
    return dict(gt_edge_map=dict(data=gt), pred_edge_map=dict(data=prob))


# SEISM's GT boundary of that line is its left outline, 39 pixels (seg2bmap skips the last row); the 40 predicted
# pixels match all 39 within the radius: P = 39/40, R = 1.
MATCHED_F = 100 * 2 * (39 / 40) / (39 / 40 + 1)


@pytest.mark.parametrize('shift, max_dist, expected', [(0, 0.05, MATCHED_F), (2, 0.05, MATCHED_F), (6, 0.05, 0.0),
                                                       (2, 0.011, 0.0)])
def test_metric_reports_bsds_odsf_within_the_matching_radius(shift, max_dist, expected):
    # radius = max_dist × diagonal (72.1 px): 3.6 px for 0.05, 0.79 px for 0.011
    metric = MultiTaskMetric(tasks=['edge'], edge_metrics=('exact', 'fast', 'pixel'), edge_max_dist=max_dist)
    metric.process({}, [edge_sample(shift), edge_sample(shift)])
    results = metric.compute_metrics(metric.results)
    assert results['edge/odsF'] == pytest.approx(expected)
    assert results['edge/oisF'] == pytest.approx(expected)
    assert results['edge/approx_odsF'] >= results['edge/odsF'] - 1e-9  # the fast mode bounds the matching above
    # the pixel stand-in has a fixed 1-pixel tolerance and no GT outline: exact on shift 0, blind to 2 pixels
    assert results['edge/pixel_odsF'] == pytest.approx(100.0 if shift == 0 else 0.0)


def test_metric_rejects_unknown_edge_mode():
    with pytest.raises(ValueError, match='edge_metrics'):
        MultiTaskMetric(edge_metrics=('bsds', ))
