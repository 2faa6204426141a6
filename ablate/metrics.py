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
