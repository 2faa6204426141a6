"""Homoscedastic uncertainty weighting.

Kendall, Gal & Cipolla, "Multi-Task Learning Using Uncertainty to Weigh Losses for Scene Geometry
and Semantics", CVPR 2018. Each term has a learned ``s_t = log sigma_t^2``:

    L = sum_t c_t * exp(-s_t) * L_t + s_t / 2

with ``c_t = 1/2`` for a regression term (Gaussian likelihood, ``1/(2 sigma^2) L + log sigma``)
and ``c_t = 1`` for a classification term (scaled softmax, ``1/sigma^2 L + log sigma``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import torch
from torch import Tensor, nn

from ablate.combiners._base import BaseCombiner, Context
from ablate.registry import COMBINERS

FACTOR = {"classification": 1.0, "regression": 0.5}


@COMBINERS.register("uncertainty")
class Uncertainty(BaseCombiner):
    def __init__(
        self,
        terms: Sequence[str],
        kinds: dict[str, Literal["classification", "regression"]] | None = None,
        init_log_var: float = 0.0,
    ):
        """
        Args:
            terms: the term names (set by ablate).
            kinds: ``classification`` (default) or ``regression`` per term name.
            init_log_var: the initial ``s_t`` of every term (0: sigma = 1).
        """
        super().__init__(terms)
        kinds = dict(kinds or {})
        unknown = sorted(set(kinds) - set(self.terms))
        if unknown:
            raise ValueError(f"kinds name unknown term(s) {unknown}; terms: {self.terms}")
        self.register_buffer(
            "c", torch.tensor([FACTOR[kinds.get(t, "classification")] for t in self.terms])
        )
        self.log_vars = nn.Parameter(torch.full((len(self.terms),), float(init_log_var)))

    def forward(self, losses: Mapping[str, Tensor], ctx: Context) -> Tensor:
        stacked = torch.stack([losses[t].float() for t in self.terms])
        s = self.log_vars
        return (self.c * torch.exp(-s) * stacked + 0.5 * s).sum()

    def weights(self) -> dict[str, float]:
        w = (self.c * torch.exp(-self.log_vars.detach())).tolist()
        return dict(zip(self.terms, w, strict=True))
