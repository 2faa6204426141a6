"""Pure metric functions on tensors (no state, no framework)."""

from __future__ import annotations

import torch
from torch import Tensor


def confusion_matrix(
    pred: Tensor, target: Tensor, num_classes: int, ignore_index: int | None = None
) -> Tensor:
    """``[C, C]`` counts, rows = true class, columns = predicted class; ignored pixels dropped."""
    pred, target = pred.reshape(-1), target.reshape(-1)
    keep = (target >= 0) & (target < num_classes)
    if ignore_index is not None:
        keep &= target != ignore_index
    idx = target[keep] * num_classes + pred[keep]
    return torch.bincount(idx, minlength=num_classes**2).reshape(num_classes, num_classes)


def iou_per_class(conf: Tensor) -> Tensor:
    """IoU of each class; NaN for a class absent from both prediction and ground truth."""
    conf = conf.double()
    tp = conf.diag()
    union = conf.sum(0) + conf.sum(1) - tp
    return torch.where(union > 0, tp / union.clamp(min=1), torch.full_like(tp, float("nan")))


def miou(conf: Tensor) -> float:
    """Mean IoU over the classes that occur in the ground truth or the prediction."""
    return float(torch.nanmean(iou_per_class(conf)))


def pixel_acc(conf: Tensor) -> float:
    """Share of (non-ignored) pixels labelled correctly."""
    total = conf.sum()
    return float(conf.diag().sum().double() / total) if total > 0 else float("nan")


def accuracy(pred: Tensor, target: Tensor) -> float:
    """Share of samples whose predicted class equals the target."""
    return float((pred == target).double().mean())


def average_precision(scores: Tensor, target: Tensor) -> Tensor:
    """Average precision of each column of ``scores`` [N, K] against multi-hot ``target``.

    AP = sum_n (R_n - R_{n-1}) P_n over the distinct score thresholds (tied scores form one
    threshold), the definition of ``sklearn.metrics.average_precision_score``. NaN for a label
    with no positives.
    """
    scores, target = scores.double(), (target > 0.5).double()
    order = scores.argsort(dim=0, descending=True)
    s = scores.gather(0, order)
    t = target.gather(0, order)
    tp, fp = t.cumsum(0), (1 - t).cumsum(0)
    # A threshold ends where the next (sorted) score differs, and at the last row.
    last = torch.ones_like(s, dtype=torch.bool)
    last[:-1] = s[1:] != s[:-1]
    positives = t.sum(0)
    precision = tp / (tp + fp)
    recall = tp / positives.clamp(min=1)
    aps = []
    for k in range(scores.shape[1]):
        keep = last[:, k]
        r, p = recall[keep, k], precision[keep, k]
        dr = torch.diff(r, prepend=r.new_zeros(1))
        aps.append((dr * p).sum())
    ap = torch.stack(aps) if aps else scores.new_zeros(0)
    return torch.where(positives > 0, ap, torch.full_like(ap, float("nan")))


def mean_ap(scores: Tensor, target: Tensor) -> float:
    """Mean of the per-label APs over labels with at least one positive (multi-label mAP)."""
    return float(torch.nanmean(average_precision(scores, target)))


def f1_counts(pred: Tensor, target: Tensor) -> Tensor:
    """Per-label ``[K, 3]`` counts (tp, fp, fn) of binary predictions against multi-hot targets."""
    pred, target = pred.bool(), target > 0.5
    tp = (pred & target).sum(0)
    fp = (pred & ~target).sum(0)
    fn = (~pred & target).sum(0)
    return torch.stack([tp, fp, fn], 1)


def f1_micro(counts: Tensor) -> float:
    """F1 of the pooled counts: 2 TP / (2 TP + FP + FN)."""
    tp, fp, fn = counts.double().sum(0)
    denom = 2 * tp + fp + fn
    return float(2 * tp / denom) if denom > 0 else float("nan")


def f1_macro(counts: Tensor) -> float:
    """Mean per-label F1 over labels that occur in the targets or the predictions."""
    c = counts.double()
    tp, fp, fn = c[:, 0], c[:, 1], c[:, 2]
    denom = 2 * tp + fp + fn
    f1 = torch.where(denom > 0, 2 * tp / denom.clamp(min=1), torch.full_like(tp, float("nan")))
    return float(torch.nanmean(f1))
