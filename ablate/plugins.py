"""Loading components: ablate's own, those of installed packages, and a user's modules.

A user's own components live in their own modules and are loaded by name, either from the
experiment's ``plugins:`` list or from the ``ablate.plugins`` entry-point group of an installed
package (see README, "Your own model, loss or combiner"); they register themselves into
:mod:`ablate.registry` when imported. ``train.function`` names a training loop the same way.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterable
from importlib.metadata import entry_points

from ablate.errors import AblateError

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


def function(target: str) -> Callable:
    """``module:callable`` -> the callable (the module imported like a plug-in)."""
    module, sep, name = target.partition(":")
    if not sep or not module or not name:
        raise AblateError(f"train.function {target!r}: expected module:callable")
    load_plugins([module])
    fn = getattr(importlib.import_module(module), name, None)
    if not callable(fn):
        raise AblateError(f"train.function {target!r}: {module} has no callable {name!r}")
    return fn
