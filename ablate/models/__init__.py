"""Models: ``forward(x) -> dict`` of named outputs; ``"out"`` is the main head."""

from ablate.models import fcn, group_cls_gat, pspnet  # noqa: F401  (registration)
