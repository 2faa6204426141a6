"""Helpers for the fault-injection tests: experiments on the fault plugin, sweeps run as a user
runs them (the ``ablate`` command in a subprocess), and what MLflow and Optuna hold afterwards."""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import yaml

from ablate import tracking as T

PLUGIN = Path(__file__).parent / "plugins" / "fault_models.py"


def fault_experiment(raw: dict, folder: Path, model: str = "gated_pspnet", **train) -> Path:
    """The tiny experiment on one of the fault plugin's models, written into ``folder`` with
    the plugin module beside it (a plugin in the working directory, as a user keeps one)."""
    shutil.copy(PLUGIN, folder / "fault_models.py")
    raw = dict(raw, plugins=["fault_models"])
    raw["model"] = {"name": model, "params": {"backbone": "tiny"}}
    raw["train"] = {**raw["train"], **train}
    path = folder / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def ablate(args: list[str], cwd: Path, env: dict | None = None, **kw) -> subprocess.Popen:
    """``ablate ARGS`` as a user starts it, in its own session (a terminal's Ctrl-C is a
    SIGINT to its process group; tests send it with os.killpg)."""
    full = {**os.environ, **(env or {})}
    full.pop("MLFLOW_TRACKING_URI", None)
    return subprocess.Popen(
        [sys.executable, "-m", "ablate.cli", *args], cwd=cwd, env=full,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True, **kw,
    )  # fmt: skip


def wait_for(predicate, timeout: float = 300, what: str = "the condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        value = predicate()
        if value:
            return value
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def inside_gate(gate: Path) -> list[int]:
    """Pids of the workers waiting at the gate."""
    return [int(p.name.rsplit(".", 1)[1]) for p in gate.parent.glob(gate.name + ".*")]


def mlflow_runs(uri: str, experiment: str = "tiny") -> list:
    c = T.client(uri)
    exp = c.get_experiment_by_name(experiment)
    return T.find_runs(c, exp.experiment_id) if exp else []


def by_role_status(runs) -> collections.Counter:
    return collections.Counter((r.data.tags.get(T.ROLE), r.info.status) for r in runs)


def finished_cells(runs) -> collections.Counter:
    """(config hash, seed) -> number of FINISHED seed runs: exactly once means all 1."""
    return collections.Counter(
        (r.data.tags[T.HASH], r.data.tags[T.SEED])
        for r in runs
        if r.data.tags.get(T.ROLE) == "seed" and r.info.status == "FINISHED"
    )


def optuna_trials(storage: str, study: str = "tiny") -> list:
    import optuna

    return optuna.load_study(study_name=study, storage=storage).trials
