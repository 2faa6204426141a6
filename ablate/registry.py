"""One generic registry, and the four that ablate's components register into.

Components register at their definition site::

    @MODELS.register("pspnet")
    class PSPNet(nn.Module): ...

The bottom floor: it imports nothing of ablate's but its errors. Loading the built-in
components and a user's own modules (which register into these) is :mod:`ablate.plugins`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from ablate.errors import AblateError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps lowercase names to builders (classes or functions)."""

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        key = name.lower()

        def decorator(obj: T) -> T:
            if key in self._items:
                raise ValueError(
                    f"{self.kind} {key!r} is already registered ({self._items[key]!r})"
                )
            self._items[key] = obj
            return obj

        return decorator

    def unregister(self, name: str) -> None:
        """Remove ``name`` (e.g. before re-importing a plugin module in a notebook)."""
        self._items.pop(name.lower(), None)

    def get(self, name: str) -> T:
        try:
            return self._items[name.lower()]
        except KeyError:
            raise AblateError(
                f"unknown {self.kind} {name!r}; registered: {', '.join(self.names()) or 'none'}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._items


DATASETS: Registry = Registry("dataset")
MODELS: Registry = Registry("model")
LOSSES: Registry = Registry("loss")
COMBINERS: Registry = Registry("combiner")
ALL = {"datasets": DATASETS, "models": MODELS, "losses": LOSSES, "combiners": COMBINERS}

# The arguments ablate passes to builders itself, by kind; an experiment cannot set them.
INJECTED = {
    "dataset": ("device",),
    "model": ("num_classes", "in_channels"),
    "loss": ("num_classes", "dataset", "train_target"),
    "combiner": ("terms",),
}


def injected(kind: str, **values) -> dict:
    """``values`` for a builder of ``kind``: only names listed in :data:`INJECTED`."""
    unknown = set(values) - set(INJECTED[kind])
    if unknown:
        raise TypeError(f"not injected into {kind} builders: {sorted(unknown)}")
    return values


def build(builder: Callable, params: dict, **injected):
    """Call ``builder(**params)`` adding those ``injected`` arguments its signature accepts."""
    import inspect

    try:
        accepted = inspect.signature(builder).parameters
    except (TypeError, ValueError):
        accepted = {}
    extra = {k: v for k, v in injected.items() if k in accepted}
    return builder(**params, **extra)
