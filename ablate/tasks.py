"""What each dataset task measures on the main output: validation metrics and the baseline.

A dataset names its ``task``; the trainer asks the task for a fresh :class:`TaskMetrics`, feeds it
the validation batches and logs ``val/<name>`` for everything ``compute()`` returns. Adding a task
is one class here and one entry in :data:`TASKS`.
"""

from __future__ import annotations

import torch
from torch import Tensor

from ablate import metrics as M


class TaskMetrics:
    """Accumulates one validation pass; states stay on the device until ``compute()``."""

    def __init__(self, num_classes: int, ignore_index: int | None):
        self.num_classes, self.ignore_index = num_classes, ignore_index

    def update(self, out: Tensor, target: Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, float]:
        raise NotImplementedError

    @classmethod
    def baseline(cls, data, name: str) -> dict[str, float]:
        """Validation metrics of the best constant prediction learned from the training targets
        (``data``: the dataset; ``name``: the main target)."""
        raise NotImplementedError


class Segmentation(TaskMetrics):
    """mIoU and pixel accuracy from one confusion matrix; logits [B, C, H, W], target [B, H, W]."""

    def __init__(self, num_classes, ignore_index):
        super().__init__(num_classes, ignore_index)
        self.conf = None

    def update(self, out, target):
        conf = M.confusion_matrix(out.argmax(1), target, self.num_classes, self.ignore_index)
        self.conf = conf if self.conf is None else self.conf + conf

    def compute(self):
        return {"miou": M.miou(self.conf), "pixel_acc": M.pixel_acc(self.conf)}

    @classmethod
    def baseline(cls, data, name):
        # From class counts alone: predicting class c everywhere puts every valid validation
        # pixel in column c of the confusion matrix (no pass over the images).
        k, ignore = data.num_classes, data.ignore_index
        majority = int(data.train.class_counts(name, k, ignore).argmax())
        m = cls(k, ignore)
        m.conf = torch.zeros(k, k, dtype=torch.long)
        m.conf[:, majority] = data.val.class_counts(name, k, ignore).long()
        return m.compute()


class Classification(TaskMetrics):
    """Top-1 accuracy; logits [B, C], target [B] class indices."""

    def __init__(self, num_classes, ignore_index):
        super().__init__(num_classes, ignore_index)
        self.correct, self.n = 0, 0

    def update(self, out, target):
        self.correct = self.correct + (out.argmax(1) == target).sum()
        self.n += target.shape[0]

    def compute(self):
        return {"accuracy": float(self.correct) / self.n}

    @classmethod
    def baseline(cls, data, name):
        train, val = data.train.labels(name).cpu(), data.val.labels(name).cpu()
        majority = int(torch.bincount(train.reshape(-1)).argmax())
        return {"accuracy": M.accuracy(torch.full_like(val, majority), val)}


class MultiLabel(TaskMetrics):
    """mAP over labels, and micro / macro F1 of ``logit > 0``; logits and multi-hot target [B, K].

    AP needs every score of a label at once, so the logits of the pass are kept (N x K floats).
    """

    def __init__(self, num_classes, ignore_index):
        super().__init__(num_classes, ignore_index)
        self.scores: list[Tensor] = []
        self.targets: list[Tensor] = []

    def update(self, out, target):
        self.scores.append(out.float())
        self.targets.append(target)

    def compute(self):
        scores, target = torch.cat(self.scores), torch.cat(self.targets)
        counts = M.f1_counts(scores > 0, target)
        return {
            "map": M.mean_ap(scores, target),
            "f1_micro": M.f1_micro(counts),
            "f1_macro": M.f1_macro(counts),
        }

    @classmethod
    def baseline(cls, data, name):
        # Score every image with the training prior; predict the labels present in most images.
        train, val = data.train.labels(name).cpu(), data.val.labels(name).cpu()
        prior = train.float().mean(0)
        m = cls(data.num_classes, data.ignore_index)
        m.update(torch.logit(prior.clamp(1e-4, 1 - 1e-4)).expand_as(val), val)
        return m.compute()


TASKS: dict[str, type[TaskMetrics]] = {
    "segmentation": Segmentation,
    "classification": Classification,
    "multilabel": MultiLabel,
}


@torch.no_grad()
def batch_kpi(out: Tensor, target: Tensor, ignore_index: int | None) -> Tensor | None:
    """A term's KPI in [0, 1] on one batch (for dynamic task prioritization), by its target:
    mIoU for a dense class map, accuracy for one class per sample, micro F1 for multi-hot
    targets; None for other targets (features, regression). Pixel or label-wise accuracy would
    be poor KPIs: with mostly background they start near 1 and hide how badly a head does."""
    if target.is_floating_point() and out.shape == target.shape and out.dim() == 2:
        tp, fp, fn = M.f1_counts(out > 0, target).sum(0).float()
        return 2 * tp / (2 * tp + fp + fn).clamp(min=1)
    if target.dtype != torch.long or out.dim() < 2 or out.shape[2:] != target.shape[1:]:
        return None
    pred = out.argmax(1)
    if target.dim() > 1:
        iou = M.iou_per_class(M.confusion_matrix(pred, target, out.shape[1], ignore_index))
        return torch.nanmean(iou).float()
    return (pred == target).float().mean()
