"""Saliency maxF (InvPT: pooled F_β, β² = 0.3) and mIoU (ASTMT / MTI-Net: mean per-image Jaccard), by hand."""
import math

import numpy as np
import torch

from mmdtme.evaluation import MultiTaskMetric, task_metrics

THRESHOLDS = (0.25, 0.5, 0.75)


def f_beta(precision, recall, beta_sq=0.3):
    return (1 + beta_sq) * precision * recall / (beta_sq * precision + recall)


def summed(*stats):
    return {key: sum(s[key] for s in stats) for key in stats[0]}


def test_counts_and_summary_by_hand():
    prob = torch.tensor([[0.9, 0.6, 0.3, 0.1, 0.7]])
    gt = torch.tensor([[1, 0, 1, 0, 255]])  # the last pixel is ignored
    stats = task_metrics.saliency_stats(prob, gt, THRESHOLDS)
    assert stats['true_pos'].tolist() == [2, 1, 1]
    assert stats['pred_pos'].tolist() == [3, 2, 1]
    assert stats['gt_pos'].tolist() == [2, 2, 2]
    np.testing.assert_allclose(stats['jaccard_sum'], [2 / 3, 1 / 3, 1 / 2])
    assert stats['images'] == 1
    summary = task_metrics.saliency_summary(stats, THRESHOLDS)
    # F_0.3 at 0.25: P=2/3 R=1 -> 0.7222; at 0.5: P=R=1/2 -> 0.5; at 0.75: P=1 R=1/2 -> 0.8125
    assert math.isclose(summary['maxF'], 100 * f_beta(1.0, 0.5))
    assert math.isclose(summary['maxF'], 81.25)
    assert summary['threshold'] == 0.75
    assert math.isclose(summary['mIoU'], 100 * 2 / 3)  # best threshold for IoU is 0.25, not maxF's


def test_pooled_f_and_per_image_iou_over_two_images():
    first = task_metrics.saliency_stats(torch.tensor([[0.9, 0.6, 0.3, 0.1]]), torch.tensor([[1, 0, 1, 0]]), THRESHOLDS)
    # nothing salient and nothing predicted above 0.25: Jaccard 1 (both empty), no pixel counts for F
    second = task_metrics.saliency_stats(torch.full((2, 2), 0.2), torch.zeros(2, 2, dtype=torch.long), THRESHOLDS)
    assert second['pred_pos'].tolist() == [0, 0, 0] and second['jaccard_sum'].tolist() == [1, 1, 1]
    summary = task_metrics.saliency_summary(summed(first, second), THRESHOLDS)
    assert math.isclose(summary['maxF'], 81.25)
    assert math.isclose(summary['mIoU'], 100 * (2 / 3 + 1) / 2)
    # beta^2 = 1 is the plain F1: at 0.25 P=2/3 R=1 -> 0.8; at 0.75 P=1 R=1/2 -> 2/3
    assert math.isclose(task_metrics.saliency_summary(first, THRESHOLDS, beta_sq=1.0)['maxF'], 80.0)


def test_nothing_predicted_scores_zero_and_ignored_images_do_not_count():
    empty = task_metrics.saliency_stats(torch.zeros(2, 3), torch.ones(2, 3, dtype=torch.long), THRESHOLDS)
    summary = task_metrics.saliency_summary(empty, THRESHOLDS)
    assert summary['maxF'] == 0.0 and summary['mIoU'] == 0.0  # no NaN from 0 / 0 precision
    ignored = task_metrics.saliency_stats(torch.ones(2, 2), torch.full((2, 2), 255), THRESHOLDS)
    assert ignored['images'] == 0 and ignored['jaccard_sum'].tolist() == [0, 0, 0]
    perfect = task_metrics.saliency_stats(torch.tensor([[0.8, 0.1]]), torch.tensor([[1, 0]]), THRESHOLDS)
    assert task_metrics.saliency_summary(summed(perfect, ignored), THRESHOLDS)['mIoU'] == 100.0


def test_default_thresholds_are_invpts_grid():
    assert task_metrics.SALIENCY_THRESHOLDS == tuple(np.round(np.arange(1, 20) * 0.05, 2))
    np.testing.assert_allclose(MultiTaskMetric().saliency_thresholds, np.arange(1, 20) * 0.05)


def test_logit_thresholds_reproduce_invpts_double_sigmoid():
    """InvPT's meter applies a sigmoid to probabilities before thresholding at 0.05..0.95; thresholds
    ``logit(t)`` on the probabilities give its numbers exactly."""
    generator = torch.Generator().manual_seed(0)
    prob = torch.rand(16, 16, generator=generator)
    gt = (torch.rand(16, 16, generator=generator) < prob).long()
    grid = np.arange(1, 20) * 0.05
    squashed = torch.sigmoid(prob)
    tp = np.array([float(((squashed >= t) & (gt == 1)).sum()) for t in grid])
    pp = np.array([float((squashed >= t).sum()) for t in grid])
    with np.errstate(invalid='ignore', divide='ignore'):
        invpt = np.nan_to_num(f_beta(tp / pp, tp / float(gt.sum())), nan=0.0).max()
    logits = np.log(grid / (1 - grid))
    ours = task_metrics.saliency_summary(task_metrics.saliency_stats(prob, gt, logits), logits)
    assert math.isclose(ours['maxF'], 100 * invpt, rel_tol=1e-6)


def test_multi_task_metric_reports_saliency():
    metric = MultiTaskMetric(saliency_thresholds=THRESHOLDS, st_reference={'saliency/maxF': 65.0})
    sample = dict(
        gt_saliency_map=dict(data=torch.tensor([[[1, 0, 1, 0, 255]]])),
        pred_saliency_map=dict(data=torch.tensor([[[0.9, 0.6, 0.3, 0.1, 0.7]]])))
    metric.process({}, [sample])
    results = metric.compute_metrics(metric.results)
    assert math.isclose(results['saliency/maxF'], 81.25)
    assert math.isclose(results['saliency/mIoU'], 100 * 2 / 3)
    assert math.isclose(results['delta_m'], 100 * (81.25 - 65.0) / 65.0)  # higher maxF is better
