"""Loss-combination methods: one file per method, each a :class:`BaseCombiner`."""

from ablate.combiners import dtp, dwa, equal, fixed, gradnorm, pcgrad, rlw, uncertainty  # noqa: F401  (registration)
from ablate.combiners._base import BaseCombiner, Context

__all__ = ["BaseCombiner", "Context"]
