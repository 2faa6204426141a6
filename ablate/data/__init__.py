"""Datasets: each builder returns a :class:`Dataset` of tensors already on the training device."""

from ablate.data import digit_scenes, digits  # noqa: F401  (registration)
from ablate.data._base import Dataset, Split

__all__ = ["Dataset", "Split"]
