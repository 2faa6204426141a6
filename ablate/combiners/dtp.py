"""Dynamic task prioritization.

Guo, Haque, Huang, Yeung & Fei-Fei, "Dynamic Task Prioritization for Multitask Learning",
ECCV 2018. Harder terms get more weight, with a focal-loss-shaped function of each term's KPI:

    kappa_bar_t <- alpha * kappa_t + (1 - alpha) * kappa_bar_t     (moving average of the KPI)
    w_t = FL(kappa_bar_t; gamma_t) = -(1 - kappa_bar_t) ** gamma_t * log(kappa_bar_t)

``kappa_t`` is the term's KPI on the current batch (mIoU for a segmentation head, accuracy for a
classifier), measured by the trainer and delivered in ``ctx.kpis``; the average starts at the
first measured value. alpha = 0.5 as in the seed's code; gamma (the paper's per-task focusing
parameter) defaults to 1.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor

from ablate.combiners._base import BaseCombiner, Context
from ablate.registry import COMBINERS

EPS = 1e-6


@COMBINERS.register("dtp")
class DTP(BaseCombiner):
    # The focusing parameter around the paper's gamma = 1 (0: weight = -log kappa).
    space = {"gamma": {"type": "float", "low": 0.0, "high": 2.0, "step": 1.0}}

    def __init__(
        self,
        terms: Sequence[str],
        gamma: Annotated[float, Field(ge=0)] = 1.0,
        gammas: dict[str, Annotated[float, Field(ge=0)]] | None = None,
        alpha: Annotated[float, Field(gt=0, le=1)] = 0.5,
    ):
        """
        Args:
            terms: the term names (set by ablate).
            gamma: focusing parameter of every term (0: weight = -log kappa).
            gammas: per-term focusing parameters overriding ``gamma``.
            alpha: weight of the newest KPI in the moving average.
        """
        super().__init__(terms)
        gammas = dict(gammas or {})
        unknown = sorted(set(gammas) - set(self.terms))
        if unknown:
            raise ValueError(f"gammas name unknown term(s) {unknown}; terms: {self.terms}")
        self.gammas = {t: float(gammas.get(t, gamma)) for t in self.terms}
        self.alpha = alpha
        self._kappa: dict[str, Tensor] = {}
        self._w: dict[str, Tensor | float] = {t: 1.0 for t in self.terms}

    def forward(self, losses: Mapping[str, Tensor], ctx: Context) -> Tensor:
        missing = [t for t in self.terms if t not in ctx.kpis]
        if missing:
            raise ValueError(
                f"dtp needs a KPI for every term; none is measured for {missing} "
                "(only terms whose output scores classes have one)"
            )
        total = 0
        for t in self.terms:
            kappa = torch.as_tensor(ctx.kpis[t], dtype=torch.float32).detach()
            prev = self._kappa.get(t)
            kappa_bar = kappa if prev is None else self.alpha * kappa + (1 - self.alpha) * prev
            self._kappa[t] = kappa_bar
            k = kappa_bar.clamp(EPS, 1 - EPS)
            w = -((1 - k) ** self.gammas[t]) * torch.log(k)
            self._w[t] = w
            total = total + w.to(losses[t].device) * losses[t]
        return total

    def weights(self) -> dict[str, float]:
        return {t: float(w) for t, w in self._w.items()}

    # The moving average is state a checkpoint must carry (torch keeps it in state_dict).
    def get_extra_state(self):
        return {"kappa": {t: k.cpu() for t, k in self._kappa.items()},
                "w": {t: float(w) for t, w in self._w.items()}}  # fmt: skip

    def set_extra_state(self, state) -> None:
        self._kappa = dict(state["kappa"])
        self._w = dict(state["w"])
