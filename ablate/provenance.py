"""Which code produced a run: source tags, package versions, and the code version that is part
of every configuration's hash (so finished runs are reused only for the same code).

The code version is ablate's version plus a hash of the source of the experiment's plug-in
modules: fixing a bug in your own loss or model makes the next sweep train again instead of
reusing runs made with the bug (``ablate sweep --reuse-stale`` reuses them anyway, and says so).
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.metadata
import inspect
import os
import platform
import subprocess
import sys
from functools import lru_cache

PINNED: str | None = None  # set by --reuse-stale: the code version of the runs to reuse


def ablate_version() -> str:
    try:
        return importlib.metadata.version("ablate")
    except importlib.metadata.PackageNotFoundError:
        return "0+unknown"


@lru_cache(maxsize=64)
def module_hash(module: str) -> str:
    """sha256 of a plug-in module's source (its package's files for a package), 12 hex."""
    mod = importlib.import_module(module)
    h = hashlib.sha256()
    files = []
    path = getattr(mod, "__file__", None)
    if path and os.path.basename(path) == "__init__.py":  # a package: all of its .py files
        root = os.path.dirname(path)
        for folder, _, names in sorted(os.walk(root)):
            files += [os.path.join(folder, n) for n in sorted(names) if n.endswith(".py")]
    elif path:
        files = [path]
    else:
        h.update(inspect.getsource(mod).encode())
    for f in files:
        with open(f, "rb") as fh:
            h.update(fh.read())
    return h.hexdigest()[:12]


def code_version(plugins: list[str] | tuple[str, ...]) -> str:
    """``<ablate version>`` or ``<ablate version>+<hash of the plug-ins' sources>``."""
    if PINNED is not None:
        return PINNED
    if not plugins:
        return ablate_version()
    h = hashlib.sha256("".join(f"{p}={module_hash(p)};" for p in sorted(plugins)).encode())
    return f"{ablate_version()}+{h.hexdigest()[:8]}"


def versions(plugins: list[str]) -> dict[str, str]:
    """``ablate.version.<package>`` tags: ablate, torch, CUDA, cuDNN, and the rest of the stack,
    and each plug-in module's source hash."""
    out = {"ablate": ablate_version(), "python": platform.python_version()}
    for pkg in ("torch", "torchvision", "optuna", "mlflow", "numpy", "scipy", "pandas"):
        try:
            out[pkg] = importlib.metadata.version(pkg)
        except importlib.metadata.PackageNotFoundError:
            pass
    torch = sys.modules.get("torch")
    if torch is not None:
        out["cuda"] = str(torch.version.cuda)
        out["cudnn"] = str(torch.backends.cudnn.version())
    for p in plugins:
        out[f"plugin.{p}"] = module_hash(p)
    return {f"ablate.version.{k}": v for k, v in out.items()}


@lru_cache(maxsize=1)
def source_tags() -> dict[str, str]:
    """What MLflow's fluent API would tag a run with (entry point, user, git commit...), which
    ``MlflowClient.create_run`` does not add, and whether the work tree had uncommitted changes."""
    tags: dict[str, str] = {}
    try:
        from mlflow.tracking.context.registry import resolve_tags

        tags.update({k: str(v) for k, v in resolve_tags().items() if k.startswith("mlflow.")})
    except Exception:  # noqa: BLE001  (a context provider that fails is left out)
        pass
    # MLflow's git tags describe the entry point's repository (ablate's own source when it is
    # installed from a clone); the working directory's repository holds the experiments and
    # plug-ins: its commit, and whether it had uncommitted changes.
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                              timeout=10)  # fmt: skip
        status = subprocess.run(["git", "status", "--porcelain"], capture_output=True,
                                text=True, timeout=10)  # fmt: skip
        if head.returncode == 0 and status.returncode == 0:
            tags["ablate.git.commit"] = head.stdout.strip()
            tags["ablate.git.dirty"] = "true" if status.stdout.strip() else "false"
    except (OSError, subprocess.SubprocessError):
        pass
    # MLflow's run page shows mlflow.source.git.commit: where the entry point is not in a
    # repository (ablate installed from a package), the working directory's commit is the one
    # that says which experiments and plug-ins ran, as the fluent API would record it when run
    # from there.
    if "ablate.git.commit" in tags:
        tags.setdefault("mlflow.source.git.commit", tags["ablate.git.commit"])
    tags["mlflow.source.name"] = tags.get("mlflow.source.name") or " ".join(sys.argv)[:500]
    return tags
