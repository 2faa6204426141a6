"""A fixed weighted sum: ``L = sum_t w_t * L_t``.

The combination PSPNet trains with (Zhao et al., CVPR 2017: ``loss = main + 0.4 * aux``) and the
supplement-head classifier of the seeds (``loss = out + 0.1 * supplement``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor

from ablate.combiners._base import BaseCombiner, Context
from ablate.registry import COMBINERS

Weight = Annotated[float, Field(ge=0)]


@COMBINERS.register("fixed")
class Fixed(BaseCombiner):
    def __init__(self, terms: Sequence[str], weights: dict[str, Weight] | None = None):
        """
        Args:
            terms: the term names, in spec order (set by ablate).
            weights: weight per term name; a term not named has weight 1 (the main term's).
        """
        super().__init__(terms)
        weights = dict(weights or {})
        unknown = sorted(set(weights) - set(self.terms))
        if unknown:
            raise ValueError(f"weights name unknown term(s) {unknown}; terms: {self.terms}")
        self._w = {t: float(weights.get(t, 1.0)) for t in self.terms}

    def forward(self, losses: Mapping[str, Tensor], ctx: Context) -> Tensor:
        return torch.stack([self._w[t] * losses[t] for t in self.terms]).sum()

    def weights(self) -> dict[str, float]:
        return dict(self._w)
