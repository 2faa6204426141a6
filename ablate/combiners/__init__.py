"""Loss-combination methods: one file per method, each a :class:`BaseCombiner`."""

from ablate.combiners._base import BaseCombiner, Context
from ablate.combiners import fixed  # noqa: F401  (registration)

__all__ = ["BaseCombiner", "Context"]
