"""Focal loss — Lin, Goyal, Girshick, He & Dollár, "Focal Loss for Dense Object Detection",
ICCV 2017: FL(p_t) = -alpha_t (1 - p_t)^gamma log p_t."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import sigmoid_focal_loss

from ablate.registry import LOSSES


@LOSSES.register("focal")
class Focal(nn.Module):
    """Two forms, chosen by the target:

    - multi-hot float target (multi-label logits [B, K]): the paper's sigmoid form per label,
      alpha weighting positives and 1 - alpha negatives (``torchvision.ops.sigmoid_focal_loss``),
      averaged over all elements;
    - class-index target (logits [B, C, ...]): the softmax form, p_t the probability of the true
      class, averaged over non-ignored samples/pixels; ``alpha`` (a per-class weight in the
      paper's multi-class remark) is not applied here.
    """

    def __init__(self, gamma: float = 2.0, alpha: float | None = 0.25, ignore_index: int = 255):
        """
        Args:
            gamma: focusing parameter (2 in the paper; 0 gives cross-entropy).
            alpha: weight of the positive class in the sigmoid form; ``None`` for no weighting.
            ignore_index: class index skipped by the softmax form.
        """
        super().__init__()
        if gamma < 0:
            raise ValueError("gamma must be >= 0")
        if alpha is not None and not 0 <= alpha <= 1:
            raise ValueError("alpha must be in [0, 1]")
        self.gamma, self.alpha, self.ignore_index = gamma, alpha, ignore_index

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        pred = pred.float()
        if target.is_floating_point():
            if pred.shape != target.shape:
                raise ValueError("focal: multi-hot target and logits must have the same shape")
            alpha = -1 if self.alpha is None else self.alpha
            return sigmoid_focal_loss(
                pred, target, alpha=alpha, gamma=self.gamma, reduction="mean"
            )
        logp = F.log_softmax(pred, dim=1)
        keep = target != self.ignore_index
        safe = target.where(keep, 0)
        logp_t = logp.gather(1, safe.unsqueeze(1)).squeeze(1)
        loss = -((1 - logp_t.exp()) ** self.gamma) * logp_t
        return (loss * keep).sum() / keep.sum().clamp(min=1)
