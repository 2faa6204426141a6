"""Losses: ``nn.Module`` with ``forward(pred, target) -> scalar``; docstrings cite the source."""

from ablate.losses import center, cross_entropy, focal, multilabel  # noqa: F401  (registration)
