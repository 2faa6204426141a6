"""Per-pixel / per-sample cross-entropy losses."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor, nn

from ablate.registry import LOSSES


@LOSSES.register("ce")
class CrossEntropy(nn.Module):
    """Softmax cross-entropy, ``F.cross_entropy``; pixels labelled ``ignore_index`` are skipped.

    The criterion of PSPNet's main and aux heads (Zhao et al., CVPR 2017, reference code).
    """

    def __init__(self, ignore_index: int = 255, label_smoothing: float = 0.0):
        """
        Args:
            ignore_index: target value that contributes nothing (VOC's 255 "void" border).
            label_smoothing: mass spread uniformly over the classes (0 disables).
        """
        super().__init__()
        if not 0.0 <= label_smoothing < 1.0:
            raise ValueError("label_smoothing must be in [0, 1)")
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.cross_entropy(
            pred.float(),
            target,
            ignore_index=self.ignore_index,
            label_smoothing=self.label_smoothing,
        )


@LOSSES.register("nll")
class NLL(nn.Module):
    """``NLLLoss(log_softmax(pred))`` over the class dimension, as FCN training code writes it.

    Long et al., "Fully Convolutional Networks for Semantic Segmentation", CVPR 2015. Numerically
    the same as ``ce``; kept separate so that an experiment can name the formulation it reproduces.
    """

    def __init__(self, ignore_index: int = 255):
        """
        Args:
            ignore_index: target value that contributes nothing.
        """
        super().__init__()
        self.ignore_index = ignore_index

    def forward(self, pred: Tensor, target: Tensor) -> Tensor:
        return F.nll_loss(
            F.log_softmax(pred.float(), dim=1), target, ignore_index=self.ignore_index
        )
