"""Dynamic Weight Average.

Liu, Johns & Davison, "End-to-End Multi-Task Learning with Attention", CVPR 2019. The weight of
term t in epoch e follows the rate at which its loss fell over the two previous epochs:

    r_t = L_t(e-1) / L_t(e-2),   w_t = K * exp(r_t / T) / sum_i exp(r_i / T)

(K terms, temperature T = 2); the first two epochs use w_t = 1. ``L_t`` is the epoch's mean
training loss, which the trainer delivers in ``ctx.history``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor

from ablate.combiners._base import BaseCombiner, Context
from ablate.registry import COMBINERS


@COMBINERS.register("dwa")
class DWA(BaseCombiner):
    # T around the paper's 2: smaller sharpens the weights, larger flattens them.
    space = {"temperature": {"type": "float", "low": 1.0, "high": 3.0, "step": 1.0}}

    def __init__(self, terms: Sequence[str], temperature: Annotated[float, Field(gt=0)] = 2.0):
        """
        Args:
            terms: the term names (set by ablate).
            temperature: T; larger values make the weights more equal.
        """
        super().__init__(terms)
        self.temperature = temperature
        self._w = {t: 1.0 for t in self.terms}

    def forward(self, losses: Mapping[str, Tensor], ctx: Context) -> Tensor:
        self._w = self.weights_for(ctx.history)
        return torch.stack([self._w[t] * losses[t] for t in self.terms]).sum()

    def weights_for(self, history: Mapping[str, Sequence[float]]) -> dict[str, float]:
        """The weights given the per-epoch mean losses so far."""
        if any(len(history.get(t, ())) < 2 for t in self.terms):
            return {t: 1.0 for t in self.terms}
        rates = torch.tensor([history[t][-1] / history[t][-2] for t in self.terms])
        w = len(self.terms) * torch.softmax(rates / self.temperature, dim=0)
        return dict(zip(self.terms, w.tolist(), strict=True))

    def weights(self) -> dict[str, float]:
        return dict(self._w)
