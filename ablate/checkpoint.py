"""A run's checkpoints: its whole training state at the end of each epoch, at most two kept.

Written atomically (a temporary file, then a rename), so a run killed while saving leaves the
previous checkpoint intact. Where: ``$ABLATE_CHECKPOINTS/<run key>/`` (default
``.ablate/checkpoints/``); a shared file system there lets a driver on another machine resume a
run.
"""

from __future__ import annotations

import os
import random
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch

KEEP = 2


def root() -> Path:
    return Path(os.environ.get("ABLATE_CHECKPOINTS") or ".ablate/checkpoints").expanduser()


def folder(run_key: str) -> Path:
    return root().resolve() / run_key


class Checkpoints:
    def __init__(self, path: Path, keep: int = KEEP):
        self.path, self.keep = Path(path), keep

    def save(self, epoch: int, state: dict[str, Any]) -> Path:
        self.path.mkdir(parents=True, exist_ok=True)
        target = self.path / f"epoch-{epoch:06d}.pt"
        tmp = target.with_suffix(".tmp")
        torch.save(state, tmp)
        os.replace(tmp, target)
        for old in self.files()[: -self.keep]:
            old.unlink(missing_ok=True)
        return target

    def files(self) -> list[Path]:
        return sorted(self.path.glob("epoch-*.pt")) if self.path.is_dir() else []

    def latest(self, map_location: str | torch.device = "cpu") -> dict[str, Any] | None:
        """The newest readable checkpoint (a file cut short by a kill is skipped)."""
        for path in reversed(self.files()):
            try:
                return torch.load(path, map_location=map_location, weights_only=False)
            except (RuntimeError, EOFError, OSError):
                continue
        return None

    def clear(self) -> None:
        shutil.rmtree(self.path, ignore_errors=True)


def rng_state() -> dict[str, Any]:
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
             "python": random.getstate()}  # fmt: skip
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
