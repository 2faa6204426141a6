"""Losses: ``nn.Module`` with ``forward(pred, target) -> scalar``; docstrings cite the source."""

from ablate.losses import cross_entropy  # noqa: F401  (registration)
