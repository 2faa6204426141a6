"""Center loss — Wen, Zhang, Li & Qiao, "A Discriminative Feature Learning Approach for Deep Face
Recognition", ECCV 2016 (seed 003_*).

L_C = 1/2 * mean over (sample, label) pairs of ||f - c_label||^2, with one learnable center per
class. The paper's lambda is the term's weight in the combiner (``combiner.params.weights``), so a
lambda sweep is a weight sweep like any other.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torch.nn.modules.lazy import LazyModuleMixin
from torch.nn.parameter import UninitializedParameter

from ablate.registry import LOSSES


@LOSSES.register("center")
class CenterLoss(LazyModuleMixin, nn.Module):
    """Pulls each sample's features towards its class's center; the centers are parameters
    trained by the run's optimizer (no weight decay), as in the seed's ``nn.Parameter`` version,
    rather than by the paper's separate update rule with rate alpha.

    Targets:

    - class indices [B] with features [B, ...] (flattened to [B, D]): the paper's loss,
      1/2 * sum_i ||f_i - c_{y_i}||^2 / B.
    - multi-hot [B, K] with per-class features [B, K, D] (``group_cls_gat``'s ``features``, the
      class embeddings before the GAT layer): every positive label k of sample i pulls that
      sample's class-k embedding to c_k; negatives contribute nothing.
    - multi-hot [B, K] with features [B, ...]: every positive label pulls the sample's features
      to that label's center (a sample with labels {1, 3} is pulled to both).

    In the multi-hot cases the mean runs over the positive (sample, label) pairs, so the scale
    matches the single-label case (one pair per sample). Centers start as N(0, 1) draws (seed
    003_*); their shape comes from the first features they see.
    """

    cls_to_become = None

    def __init__(self, num_classes: int):
        """
        Args:
            num_classes: number of centers (set by ablate from the dataset; a multi-hot target's
                width is used when it differs).
        """
        super().__init__()
        self.num_classes = num_classes
        self.centers = UninitializedParameter()

    def initialize_parameters(self, features: Tensor, target: Tensor) -> None:
        k = target.shape[1] if target.is_floating_point() else self.num_classes
        per_class = target.is_floating_point() and features.dim() == 3 and features.shape[1] == k
        dim = features.shape[2] if per_class else features[0].numel()
        with torch.no_grad():
            self.centers.materialize((k, dim), device=features.device, dtype=torch.float32)
            self.centers.normal_()

    def forward(self, features: Tensor, target: Tensor) -> Tensor:
        features = features.float()
        b = features.shape[0]
        if not target.is_floating_point():  # one class per sample
            f = features.reshape(b, -1)
            diff = f - self.centers.index_select(0, target.reshape(-1))
            return 0.5 * diff.pow(2).sum() / b
        pos = target > 0.5  # [B, K]
        if features.dim() == 3 and features.shape[1] == target.shape[1]:
            diff = features - self.centers.unsqueeze(0)  # [B, K, D]
        else:
            diff = features.reshape(b, 1, -1) - self.centers.unsqueeze(0)
        sq = diff.pow(2).sum(-1)  # [B, K]
        return 0.5 * (sq * pos).sum() / pos.sum().clamp(min=1)
