"""Projecting conflicting gradients.

Yu, Kumar, Gupta, Levine, Hausman & Finn, "Gradient Surgery for Multi-Task Learning", NeurIPS 2020.
On the parameters that several terms share, each term's gradient g_i is projected, in a random
order of the other terms, onto the normal plane of every g_j it conflicts with (g_i . g_j < 0):

    g_i <- g_i - (g_i . g_j) / |g_j|^2 * g_j

and the update is the sum of the projected gradients; parameters only one term reaches get their
ordinary gradient. Costs one backward pass per term.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import Tensor

from ablate.combiners._base import BaseCombiner, Context
from ablate.combiners._grad import shared_mask, surrogate, term_grads
from ablate.registry import COMBINERS


@COMBINERS.register("pcgrad")
class PCGrad(BaseCombiner):
    def forward(self, losses: Mapping[str, Tensor], ctx: Context) -> Tensor:
        total = torch.stack([losses[t] for t in self.terms]).sum()
        params = [p for p in ctx.shared_params if p.requires_grad]
        if not params or not torch.is_grad_enabled():
            return total
        grads = term_grads(losses, self.terms, params)
        shared = shared_mask(grads)
        flat = [self._flatten(g, params, shared) for g in grads]
        projected = self.project(flat)
        combined = torch.stack(projected).sum(0)
        wanted, offset = [], 0
        for i, p in enumerate(params):
            if shared[i]:
                wanted.append(combined[offset : offset + p.numel()].view_as(p))
                offset += p.numel()
            else:
                parts = [g[i] for g in grads if g[i] is not None]
                wanted.append(torch.stack(parts).sum(0) if parts else None)
        return surrogate(total, params, wanted)

    @staticmethod
    def project(flat: list[Tensor]) -> list[Tensor]:
        """PCGrad's projection of each gradient against the others (in a random order)."""
        out = []
        for i, g in enumerate(flat):
            g = g.clone()
            for j in torch.randperm(len(flat)).tolist():
                if j == i:
                    continue
                dot = torch.dot(g, flat[j])
                if dot < 0:
                    g = g - dot / flat[j].pow(2).sum().clamp(min=1e-20) * flat[j]
            out.append(g)
        return out

    @staticmethod
    def _flatten(grads, params, shared) -> Tensor:
        parts = [
            (g if g is not None else torch.zeros_like(p)).reshape(-1).float()
            for g, p, s in zip(grads, params, shared, strict=True)
            if s
        ]
        return torch.cat(parts) if parts else torch.zeros(0)
