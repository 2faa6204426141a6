"""Multi-label losses on logits [B, K] against multi-hot targets [B, K] (seed 000_*)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ablate.registry import LOSSES


def _check(pred: Tensor, target: Tensor, name: str) -> None:
    if pred.shape != target.shape:
        raise ValueError(
            f"{name}: logits {tuple(pred.shape)} and multi-hot target {tuple(target.shape)} "
            "must have the same shape (is the term's target a multi-label one?)"
        )


@LOSSES.register("bce")
class BCE(nn.Module):
    """Binary cross-entropy with logits, averaged over labels and samples
    (``nn.BCEWithLogitsLoss``), the seed's ``BCEWithLogitsLoss`` option."""

    def __init__(self, pos_weight: float | None = None):
        """
        Args:
            pos_weight: factor on the positive term of every label (``None``: 1).
        """
        super().__init__()
        if pos_weight is not None and pos_weight <= 0:
            raise ValueError("pos_weight must be > 0")
        self.pos_weight = pos_weight

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        _check(pred, target, "bce")
        pw = (
            None
            if self.pos_weight is None
            else pred.new_tensor(self.pos_weight, dtype=torch.float)
        )
        return F.binary_cross_entropy_with_logits(pred.float(), target.float(), pos_weight=pw)


@LOSSES.register("multilabel_soft_margin")
class MultiLabelSoftMargin(nn.Module):
    """``nn.MultiLabelSoftMarginLoss``: -1/K sum_k [y log sigmoid(x) + (1-y) log sigmoid(-x)],
    averaged over samples; the seed's default criterion. Equal in value to ``bce``."""

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        _check(pred, target, "multilabel_soft_margin")
        return F.multilabel_soft_margin_loss(pred.float(), target.float())


@LOSSES.register("deepmar")
class DeepMAR(nn.Module):
    """Weighted BCE of DeepMAR — Li, Chen & Huang, "Multi-attribute Learning for Pedestrian
    Attribute Recognition in Surveillance Scenarios", ACPR 2015.

    Each element of the BCE is weighted by exp((1 - p_k) / sigma^2) where the label is positive
    and exp(p_k / sigma^2) where it is negative, p_k the share of training samples having label
    k: rare labels' positives weigh more. sigma = 1 gives the issue's exp(1 - p), exp(p).
    """

    def __init__(self, train_target: Tensor, sigma: float = 1.0):
        """
        Args:
            train_target: the term's multi-hot training targets (set by ablate), for p_k.
            sigma: temperature of the weights (1 in the paper's experiments).
        """
        super().__init__()
        if sigma <= 0:
            raise ValueError("sigma must be > 0")
        if train_target.dim() != 2 or not train_target.is_floating_point():
            raise ValueError("deepmar needs a multi-hot [N, K] target (e.g. target: labels)")
        self.sigma = sigma
        self.register_buffer("ratio", train_target.float().mean(0))

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        _check(pred, target, "deepmar")
        target = target.float()
        s2 = self.sigma**2
        weight = torch.where(
            target > 0.5, torch.exp((1 - self.ratio) / s2), torch.exp(self.ratio / s2)
        )
        return F.binary_cross_entropy_with_logits(pred.float(), target, weight=weight)
