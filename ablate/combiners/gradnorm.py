"""Gradient normalization.

Chen, Badrinarayanan, Lee & Rabinovich, "GradNorm: Gradient Normalization for Adaptive Loss
Balancing in Deep Multitask Networks", ICML 2018. Learned weights w_t (start at 1) scale the terms;
they are trained to make each term's gradient norm on the last shared layer W,
G_t = |grad_W (w_t L_t)|, follow its relative training rate:

    r_t = (L_t / L_t(0)) / mean_i (L_i / L_i(0)),   L_grad = sum_t | G_t - mean(G) * r_t^alpha |

with the target treated as a constant and alpha = 1.5. The model is updated with sum_t w_t L_t
(w held fixed), the weights with grad_w L_grad only, and the weights are renormalised to sum to
the number of terms after each update (applied before the next step; ``weights()`` reports the
renormalised values). "Last shared layer": the last parameter with two or more dimensions (a conv
or linear weight) that several terms reach. Costs one backward pass per term down to that layer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated

import torch
from pydantic import Field
from torch import Tensor, nn

from ablate.combiners._base import BaseCombiner, Context
from ablate.combiners._grad import shared_mask
from ablate.registry import COMBINERS


@COMBINERS.register("gradnorm")
class GradNorm(BaseCombiner):
    # The paper's alpha = 1.5 and its neighbours (the paper reports 0.5 - 3 working).
    space = {"alpha": {"type": "float", "low": 0.5, "high": 2.5, "step": 1.0}}

    def __init__(self, terms: Sequence[str], alpha: Annotated[float, Field(ge=0)] = 1.5):
        """
        Args:
            terms: the term names (set by ablate).
            alpha: strength of the pull towards equal training rates (0: equal gradient norms).
        """
        super().__init__(terms)
        self.alpha = alpha
        self.w = nn.Parameter(torch.ones(len(self.terms)))
        self.register_buffer("initial", torch.zeros(len(self.terms)))
        self._layer: nn.Parameter | None = None

    def forward(self, losses: Mapping[str, Tensor], ctx: Context) -> Tensor:
        with torch.no_grad():  # renormalise after the previous update: sum w = K
            self.w.clamp_(min=1e-6).mul_(len(self.terms) / self.w.sum())
        stacked = torch.stack([losses[t].float() for t in self.terms])
        total = (self.w.detach() * stacked).sum()
        layer = self._last_shared(losses, ctx)
        if layer is None or not torch.is_grad_enabled():
            return total + (self.w * stacked.detach()).sum() * 0.0  # keep w in the graph
        if not bool(self.initial.any()):
            self.initial.copy_(stacked.detach())
        norms = torch.stack(
            [
                torch.autograd.grad(losses[t], layer, retain_graph=True)[0].float().norm()
                for t in self.terms
            ]
        )
        g = self.w * norms  # |grad_W (w_t L_t)| = w_t |grad_W L_t|, since w_t > 0
        ratio = stacked.detach() / self.initial.clamp(min=1e-12)
        target = (g.mean() * (ratio / ratio.mean()) ** self.alpha).detach()
        grad_loss = (g - target).abs().sum()
        # The value stays the weighted loss; only w receives grad_loss's gradient.
        return total + grad_loss - grad_loss.detach()

    def _last_shared(self, losses, ctx: Context) -> nn.Parameter | None:
        if self._layer is None:
            params = [p for p in ctx.shared_params if p.requires_grad and p.dim() >= 2]
            if not params or not torch.is_grad_enabled():
                return None
            grads = [
                list(torch.autograd.grad(losses[t], params, retain_graph=True, allow_unused=True))
                for t in self.terms
            ]
            shared = [p for p, s in zip(params, shared_mask(grads), strict=True) if s]
            self._layer = shared[-1] if shared else None
        return self._layer

    def weights(self) -> dict[str, float]:
        w = self.w.detach().clamp(min=1e-6)
        w = w * len(self.terms) / w.sum()
        return dict(zip(self.terms, w.tolist(), strict=True))
