"""Datasets: each builder returns a :class:`Dataset` of tensors already on the training device."""

from ablate.data._base import Dataset, Split
from ablate.data import digit_scenes, digits  # noqa: F401  (registration)

__all__ = ["Dataset", "Split"]
