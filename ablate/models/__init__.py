"""Models: ``forward(x) -> dict`` of named outputs; ``"out"`` is the main head."""

from ablate.models import pspnet  # noqa: F401  (registration)
