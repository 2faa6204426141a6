"""Random Loss Weighting.

Lin, Ye, Xu, Shi & Zhang, "Reasonable Effectiveness of Random Weighting: A Litmus Test for
Multi-Task Learning", TMLR 2022. Every step draws ``z ~ N(0, I)`` and weighs the terms by
``softmax(z)``. The draw uses torch's global generator, which the trainer seeds, so a run is
reproducible.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor

from ablate.combiners._base import BaseCombiner, Context
from ablate.registry import COMBINERS


@COMBINERS.register("rlw")
class RLW(BaseCombiner):
    def __init__(self, terms: Sequence[str]):
        """
        Args:
            terms: the term names (set by ablate).
        """
        super().__init__(terms)
        self._w = {t: 1.0 / len(self.terms) for t in self.terms}

    def forward(self, losses: Mapping[str, Tensor], ctx: Context) -> Tensor:
        w = torch.softmax(torch.randn(len(self.terms)), dim=0)
        self._w = dict(zip(self.terms, w.tolist(), strict=True))
        stacked = torch.stack([losses[t] for t in self.terms])
        return (w.to(stacked.device, stacked.dtype) * stacked).sum()

    def weights(self) -> dict[str, float]:
        return dict(self._w)
