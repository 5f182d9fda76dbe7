"""Per-task evaluation arithmetic, as small functions of per-image statistics that add up over a dataset.

Each ``*_stats`` function turns one prediction / ground-truth pair into counts that are summed over the
dataset (and over ranks); each ``*_summary`` turns the summed counts into the reported numbers. Pooling
counts rather than averaging per-image scores is how the MTL benchmarks report mIoU, RMSE and odsF.
"""
from typing import Dict, Sequence

import numpy as np
import torch
import torch.nn.functional as F

NORMAL_ANGLE_BIN = 0.05  # degrees; resolution of the median angular error
NORMAL_THRESHOLDS = (11.25, 22.5, 30.0)


def confusion_matrix(pred: torch.Tensor,
                     label: torch.Tensor,
                     num_classes: int,
                     ignore_index: int = 255) -> torch.Tensor:
    """``num_classes``² matrix counting (label, prediction) pairs over the labelled pixels."""
    valid = label != ignore_index
    index = label[valid].long() * num_classes + pred[valid].long()
    return torch.bincount(index, minlength=num_classes**2).reshape(num_classes, num_classes)


def miou_summary(confusion: np.ndarray) -> Dict[str, float]:
    """mIoU (%) over the classes present in the ground truth or the predictions, and pixel accuracy (%)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    intersection = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    present = union > 0
    iou = intersection[present] / union[present]
    return dict(
        mIoU=100.0 * float(iou.mean()) if present.any() else float('nan'),
        aAcc=100.0 * float(intersection.sum() / max(confusion.sum(), 1)))


def depth_stats(pred: torch.Tensor, gt: torch.Tensor, invalid_value: float = 0.0) -> Dict[str, float]:
    """Sums of squared and absolute errors over the pixels with valid depth."""
    valid = gt != invalid_value
    error = (pred.float() - gt.float())[valid]
    return dict(
        squared_error=float(error.pow(2).sum()),
        abs_error=float(error.abs().sum()),
        abs_rel_error=float((error.abs() / gt.float()[valid]).sum()),
        count=int(valid.sum()))


def depth_summary(stats: Dict[str, float]) -> Dict[str, float]:
    """RMSE over all valid pixels of the set (not the mean of per-image RMSEs), MAE and absolute relative error."""
    count = max(stats['count'], 1)
    return dict(
        rmse=float(np.sqrt(stats['squared_error'] / count)),
        mae=stats['abs_error'] / count,
        abs_rel=stats['abs_rel_error'] / count)


def normal_stats(pred: torch.Tensor, gt: torch.Tensor) -> Dict[str, np.ndarray]:
    """Histogram of angular errors (degrees) between 3×H×W normal maps, over pixels with a ground-truth normal."""
    valid = gt.abs().sum(0) > 0
    cosine = (F.normalize(pred.float(), dim=0) * F.normalize(gt.float(), dim=0)).sum(0)[valid]
    angles = torch.rad2deg(torch.acos(cosine.clamp(-1.0, 1.0)))
    bins = int(round(180.0 / NORMAL_ANGLE_BIN))
    histogram = torch.histc(angles, bins=bins, min=0.0, max=180.0).long().cpu().numpy()
    return dict(histogram=histogram, angle_sum=float(angles.sum()), count=int(valid.sum()))


def normal_summary(stats: Dict) -> Dict[str, float]:
    """Mean and median angular error (degrees) and % of pixels within 11.25°, 22.5° and 30°."""
    histogram, count = np.asarray(stats['histogram']), max(stats['count'], 1)
    cumulative = np.cumsum(histogram)
    median_bin = int(np.searchsorted(cumulative, count / 2.0))
    summary = dict(mean=stats['angle_sum'] / count, median=(median_bin + 0.5) * NORMAL_ANGLE_BIN)
    for threshold in NORMAL_THRESHOLDS:
        within = histogram[:int(round(threshold / NORMAL_ANGLE_BIN))].sum()
        summary[f'within_{threshold:g}'] = 100.0 * within / count
    return summary


def edge_pixel_stats(prob: torch.Tensor,
                     gt: torch.Tensor,
                     thresholds: Sequence[float],
                     tolerance: int = 1,
                     ignore_index: int = 255) -> Dict[str, np.ndarray]:
    """Counts for a pixel-level edge F-measure with a small spatial tolerance, at every threshold.

    A predicted edge pixel is correct if a ground-truth edge lies within ``tolerance`` pixels (Chebyshev);
    a ground-truth edge pixel is recalled if a predicted one does. This is a stand-in for the BSDS
    protocol (no thinning, no one-to-one matching), so it is not comparable with published odsF.

    Args:
        prob: H×W edge probabilities.
        gt: H×W labels in {0, 1}, ``ignore_index`` where unlabelled.
    """
    valid = gt != ignore_index
    gt_edge = ((gt == 1) & valid).float()[None, None]
    thresholds = torch.as_tensor(thresholds, dtype=prob.dtype, device=prob.device)
    pred_edge = ((prob[None] >= thresholds[:, None, None]) & valid).float()[:, None]
    kernel = 2 * tolerance + 1
    near_gt = F.max_pool2d(gt_edge, kernel, stride=1, padding=tolerance)
    near_pred = F.max_pool2d(pred_edge, kernel, stride=1, padding=tolerance)
    return dict(
        pred=pred_edge.sum((1, 2, 3)).cpu().numpy(),
        pred_hit=(pred_edge * near_gt).sum((1, 2, 3)).cpu().numpy(),
        gt=np.full(len(thresholds), float(gt_edge.sum())),
        gt_hit=(near_pred * gt_edge).sum((1, 2, 3)).cpu().numpy())


def edge_pixel_summary(stats: Dict[str, np.ndarray], thresholds: Sequence[float]) -> Dict[str, float]:
    """Best F-measure (%) over the shared thresholds (dataset-level, ODS-like) and that threshold."""
    precision = stats['pred_hit'] / np.maximum(stats['pred'], 1)
    recall = stats['gt_hit'] / np.maximum(stats['gt'], 1)
    f_measure = 2 * precision * recall / np.maximum(precision + recall, 1e-12)
    best = int(np.argmax(f_measure))
    return dict(pixel_odsF=100.0 * float(f_measure[best]), threshold=float(thresholds[best]))


# Saliency thresholds of InvPT / TaskPrompter's ``SaliencyMeter`` (0.05, 0.10, ..., 0.95); it contains the
# 0.2:0.05:0.9 grid of ASTMT / MTI-Net's ``eval_sal``.
SALIENCY_THRESHOLDS = tuple(round(0.05 * step, 2) for step in range(1, 20))


def saliency_stats(prob: torch.Tensor,
                   gt: torch.Tensor,
                   thresholds: Sequence[float],
                   ignore_index: int = 255) -> Dict[str, np.ndarray]:
    """Per-threshold counts of a binary saliency map that add up over images.

    At each threshold t, pixels with ``prob >= t`` are predicted salient. Returned: pooled true / predicted /
    actual positives (for maxF), and the image's Jaccard index (1 when prediction and ground truth are both
    empty, as ASTMT's ``jaccard``) with an image count (for the per-image mean IoU).

    Args:
        prob: H×W saliency probabilities.
        gt: H×W labels in {0, 1}, ``ignore_index`` where unlabelled.
        thresholds: Probability thresholds.
        ignore_index: Label excluded from every count.
    """
    valid = gt != ignore_index
    salient = gt[valid] == 1
    thresholds = torch.as_tensor(thresholds, dtype=torch.float32, device=prob.device)
    ascending, order = thresholds.sort()
    # the number of thresholds <= p tells at which thresholds a pixel is predicted salient: counting pixels per
    # bucket and summing from the top gives every threshold's counts in one pass (T × N comparisons are slow)
    buckets = torch.bucketize(prob[valid].float(), ascending, right=True)
    num = len(thresholds) + 1
    at_least = [
        torch.bincount(b, minlength=num).flip(0).cumsum(0).flip(0)[1:].double() for b in (buckets, buckets[salient])
    ]
    pred_pos, true_pos = (torch.empty_like(counts).scatter_(0, order, counts) for counts in at_least)
    gt_pos = salient.sum().double().expand_as(true_pos)
    union = pred_pos + gt_pos - true_pos
    jaccard = torch.where(union > 0, true_pos / union.clamp(min=1), torch.ones_like(union))
    has_pixels = bool(valid.any())
    return dict(
        true_pos=true_pos.cpu().numpy(),
        pred_pos=pred_pos.cpu().numpy(),
        gt_pos=gt_pos.cpu().numpy(),
        jaccard_sum=(jaccard if has_pixels else torch.zeros_like(jaccard)).cpu().numpy(),
        images=int(has_pixels))


def saliency_summary(stats: Dict[str, np.ndarray],
                     thresholds: Sequence[float],
                     beta_sq: float = 0.3) -> Dict[str, float]:
    """maxF (%), mIoU (%) and maxF's threshold from :func:`saliency_stats` summed over a dataset.

    maxF is InvPT / TaskPrompter's: the F_β measure (β² = ``beta_sq``) of precision and recall pooled over all
    pixels of the set, at the best threshold; an undefined F (nothing predicted) counts as 0. mIoU is ASTMT /
    MTI-Net's: the Jaccard index averaged over images, at the best threshold.
    """
    true_pos = np.asarray(stats['true_pos'], dtype=np.float64)
    pred_pos = np.asarray(stats['pred_pos'], dtype=np.float64)
    gt_pos = np.asarray(stats['gt_pos'], dtype=np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        precision = true_pos / pred_pos
        recall = true_pos / gt_pos
        f_beta = (1 + beta_sq) * precision * recall / (beta_sq * precision + recall)
    f_beta = np.nan_to_num(f_beta, nan=0.0)
    best = int(np.argmax(f_beta))
    mean_iou = np.asarray(stats['jaccard_sum'], dtype=np.float64) / max(stats['images'], 1)
    return dict(maxF=100.0 * float(f_beta[best]), mIoU=100.0 * float(mean_iou.max()), threshold=float(thresholds[best]))


def regression_stats(pred: torch.Tensor, gt: torch.Tensor, valid: torch.Tensor) -> Dict[str, float]:
    """Sums of absolute and squared errors of a C×H×W float map over its valid pixels (every channel of each).

    Args:
        pred: C×H×W prediction.
        gt: C×H×W ground truth.
        valid: H×W (or C×H×W) boolean mask of the pixels to count.
    """
    valid = valid.expand_as(gt)
    error = (pred.double() - gt.double())[valid]
    return dict(abs_error=float(error.abs().sum()), squared_error=float(error.pow(2).sum()), count=int(valid.sum()))


def regression_summary(stats: Dict[str, float]) -> Dict[str, float]:
    """L1 (mean absolute error) and RMSE over every valid pixel and channel of the set (pooled, not per image);
    NaN when the set has no valid pixel."""
    if stats['count'] == 0:
        return dict(l1=float('nan'), rmse=float('nan'))
    return dict(l1=stats['abs_error'] / stats['count'], rmse=float(np.sqrt(stats['squared_error'] / stats['count'])))
