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


def confusion_matrix(pred: torch.Tensor, label: torch.Tensor, num_classes: int,
                     ignore_index: int = 255) -> torch.Tensor:
    """``num_classes``² matrix counting (label, prediction) pairs over the labelled pixels."""
    valid = label != ignore_index
    index = label[valid].long() * num_classes + pred[valid].long()
    return torch.bincount(index, minlength=num_classes ** 2).reshape(num_classes, num_classes)


def miou_summary(confusion: np.ndarray) -> Dict[str, float]:
    """mIoU (%) over the classes present in the ground truth or the predictions, and pixel accuracy (%)."""
    confusion = np.asarray(confusion, dtype=np.float64)
    intersection = np.diag(confusion)
    union = confusion.sum(0) + confusion.sum(1) - intersection
    present = union > 0
    iou = intersection[present] / union[present]
    return dict(mIoU=100.0 * float(iou.mean()) if present.any() else float('nan'),
                aAcc=100.0 * float(intersection.sum() / max(confusion.sum(), 1)))


def depth_stats(pred: torch.Tensor, gt: torch.Tensor, invalid_value: float = 0.0) -> Dict[str, float]:
    """Sums of squared and absolute errors over the pixels with valid depth."""
    valid = gt != invalid_value
    error = (pred.float() - gt.float())[valid]
    return dict(squared_error=float(error.pow(2).sum()), abs_error=float(error.abs().sum()),
                abs_rel_error=float((error.abs() / gt.float()[valid]).sum()), count=int(valid.sum()))


def depth_summary(stats: Dict[str, float]) -> Dict[str, float]:
    """RMSE over all valid pixels of the set (not the mean of per-image RMSEs), MAE and absolute relative error."""
    count = max(stats['count'], 1)
    return dict(rmse=float(np.sqrt(stats['squared_error'] / count)), mae=stats['abs_error'] / count,
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


def edge_pixel_stats(prob: torch.Tensor, gt: torch.Tensor, thresholds: Sequence[float], tolerance: int = 1,
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
    return dict(pred=pred_edge.sum((1, 2, 3)).cpu().numpy(),
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
