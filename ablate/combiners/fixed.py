"""A fixed weighted sum: ``L = sum_t w_t * f(progress) * L_t``.

The combination PSPNet trains with (Zhao et al., CVPR 2017: ``loss = main + 0.4 * aux``) and the
supplement-head classifier of the seeds (``loss = out + 0.1 * supplement``). An optional schedule
``f`` lets the auxiliary weights decay over training (the main term, the first, is not scheduled),
so "the aux weight decays to 0" is one more setting to sweep.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor

from ablate.combiners._base import BaseCombiner, Context
from ablate.combiners._schedule import Schedule, factor
from ablate.registry import COMBINERS

Weight = Annotated[float, Field(ge=0)]


@COMBINERS.register("fixed")
class Fixed(BaseCombiner):
    # Whether the non-main weights stay or decay to 0 over training (the weights themselves are
    # the experiment's to sweep: they are named per term).
    space = {"schedule": {"type": "categorical", "choices": ["constant", "linear", "poly"]}}

    def __init__(
        self,
        terms: Sequence[str],
        weights: dict[str, Weight] | None = None,
        schedule: Schedule = "constant",
        power: Annotated[float, Field(gt=0)] = 0.9,
    ):
        """
        Args:
            terms: the term names, in spec order (set by ablate).
            weights: weight per term name; a term not named has weight 1 (the main term's).
            schedule: ``constant``, or ``linear`` / ``poly`` decay of every term but the first
                from its weight at the first step to 0 at the end of training.
            power: exponent of the ``poly`` schedule, ``(1 - progress) ** power``.
        """
        super().__init__(terms)
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(self.terms))
        if unknown:
            raise ValueError(f"weights name unknown term(s) {unknown}; terms: {self.terms}")
        self._base = {t: float(weights.get(t, 1.0)) for t in self.terms}
        self.schedule, self.power = schedule, power
        self._w = dict(self._base)

    def forward(self, losses: Mapping[str, Tensor], ctx: Context) -> Tensor:
        f = factor(self.schedule, ctx, self.power)
        main = self.terms[0]
        self._w = {t: w if t == main else w * f for t, w in self._base.items()}
        return torch.stack([self._w[t] * losses[t] for t in self.terms]).sum()

    def weights(self) -> dict[str, float]:
        return dict(self._w)
