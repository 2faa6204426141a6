"""Per-term gradients for gradient-based combiners (PCGrad, GradNorm)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import Tensor, nn


def term_grads(
    losses: Mapping[str, Tensor], terms: Sequence[str], params: Sequence[nn.Parameter]
) -> list[list[Tensor | None]]:
    """``grads[t][p]``: d loss_t / d param_p, None where the term does not reach the parameter.

    One backward pass per term (the graph is kept for the next term and the update)."""
    return [
        list(torch.autograd.grad(losses[t], params, retain_graph=True, allow_unused=True))
        for t in terms
    ]


def shared_mask(grads: list[list[Tensor | None]]) -> list[bool]:
    """Parameters that two or more terms reach: the ones the terms compete for."""
    return [sum(g is not None for g in column) >= 2 for column in zip(*grads, strict=True)]


def surrogate(
    value: Tensor, params: Sequence[nn.Parameter], wanted: Sequence[Tensor | None]
) -> Tensor:
    """A scalar equal to ``value`` whose gradient w.r.t. ``params[i]`` is ``wanted[i]``.

    Lets a combiner hand the trainer's ordinary ``backward()`` a gradient it composed itself,
    without a second pass through the model."""
    link = sum(
        (p * g.detach()).sum() for p, g in zip(params, wanted, strict=True) if g is not None
    )
    if not isinstance(link, Tensor):
        return value
    return value.detach() + link - link.detach()
