"""One generic registry, and the four that ablate's components register into.

Components register at their definition site::

    @MODELS.register("pspnet")
    class PSPNet(nn.Module): ...

A user's own components live in their own modules and are loaded by name, either from the
experiment's ``plugins:`` list or from the ``ablate.plugins`` entry-point group of an installed
package (see README, "Your own model, loss or combiner").
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points
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

_loaded: set[str] = set()


def load_builtins() -> None:
    """Import ablate's own components so that they register themselves."""
    for module in ("ablate.data", "ablate.models", "ablate.losses", "ablate.combiners"):
        importlib.import_module(module)


def load_plugins(modules: Iterable[str] = ()) -> None:
    """Import the built-ins, the installed ``ablate.plugins`` entry points and ``modules``."""
    load_builtins()
    for ep in entry_points(group="ablate.plugins"):
        if ep.value not in _loaded:
            _import(ep.value, f"entry point {ep.name!r}")
    modules = list(modules)
    if modules:
        # Plugin modules in the working directory import with the `ablate` command too (the
        # console script's sys.path does not hold it); appended, so they shadow nothing.
        import os
        import sys

        if os.getcwd() not in sys.path:
            sys.path.append(os.getcwd())
    for module in modules:
        _import(module, "plugin")


def _import(module: str, what: str) -> None:
    if module in _loaded:
        return
    try:
        importlib.import_module(module)
    except ImportError as exc:
        raise AblateError(f"cannot import {what} module {module!r}: {exc}") from None
    except SyntaxError as exc:
        where = f"{exc.filename}, line {exc.lineno}" if exc.filename else "its source"
        raise AblateError(
            f"cannot import {what} module {module!r}: SyntaxError: {exc.msg} ({where})"
        ) from None
    except Exception as exc:  # noqa: BLE001  (the module's own code raised while imported)
        import traceback

        frames = traceback.extract_tb(exc.__traceback__)
        mine = [f for f in frames if module.replace(".", "/") in f.filename.replace("\\", "/")]
        at = f" ({mine[-1].filename}, line {mine[-1].lineno})" if mine else ""
        raise AblateError(
            f"cannot import {what} module {module!r}: {type(exc).__name__}: {exc}{at}"
        ) from None
    _loaded.add(module)


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
