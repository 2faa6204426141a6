"""Equal weighting: ``L = sum_t L_t``, the baseline every weighting method is compared against.

As in LibMTL's ``EW`` (Lin & Zhang, "LibMTL: A Python Library for Multi-Task Learning", JMLR 2023).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ablate.combiners._base import BaseCombiner, Context
from ablate.registry import COMBINERS


@COMBINERS.register("equal")
class Equal(BaseCombiner):
    def forward(self, losses: Mapping[str, Tensor], ctx: Context) -> Tensor:
        return torch.stack([losses[t] for t in self.terms]).sum()
