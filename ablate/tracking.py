"""MLflow glue: the study -> configuration -> seed run hierarchy, and batched metric logging.

Everything here goes through ``MlflowClient`` (no global active run), so the driver and its worker
processes can log concurrently. ``mlflow`` is imported lazily: ``import ablate`` does not need it.
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from ablate.errors import AblateError
from ablate.train import Reporter

ROLE, STUDY, TRIAL, HASH, SEED = (
    "ablate.role",
    "ablate.study",
    "ablate.trial",
    "ablate.config_hash",
    "ablate.seed",
)
FAILURE = "ablate.failure"
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")  # UI opens on runs
PARENT = "mlflow.parentRunId"
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100


def tracking_uri(explicit: str | None = None) -> str:
    """The URI to use: ``explicit``, else ``$MLFLOW_TRACKING_URI``, else ``sqlite:///mlflow.db``;
    a relative SQLite path made absolute."""
    return absolute_sqlite(
        explicit or os.environ.get("MLFLOW_TRACKING_URI") or "sqlite:///mlflow.db"
    )


def absolute_sqlite(uri: str) -> str:
    """``sqlite:///rel.db`` -> ``sqlite:////abs/rel.db``.

    MLflow caches one store per URI string, and a relative SQLite path is resolved against the
    working directory of whichever process opens it; an absolute path means one database for the
    driver, its workers and the report alike.
    """
    prefix = "sqlite:///"
    if uri.startswith(prefix) and not uri[len(prefix) :].startswith("/"):
        return prefix + str(Path(uri[len(prefix) :]).expanduser().resolve())
    return uri


def check_tracking_uri(uri: str) -> None:
    """Fail fast with one clear message instead of MLflow's minutes of retries."""
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as resp:
                if resp.status != 200:
                    raise AblateError(f"MLflow tracking server {uri} answered {resp.status}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AblateError(
                f"cannot reach the MLflow tracking server at {uri}: {reason}"
            ) from None
    elif uri.startswith("sqlite:///"):
        _check_sqlite_path(uri[len("sqlite:///") :], "MLflow tracking URI", uri)
    elif "://" in uri and not uri.startswith(
        ("file://", "postgresql", "mysql", "mssql", "databricks")
    ):
        raise AblateError(f"unsupported MLflow tracking URI {uri!r}")


def _check_sqlite_path(path: str, what: str, uri: str) -> None:
    parent = Path(path).expanduser().resolve().parent
    if not parent.is_dir():
        raise AblateError(f"{what} {uri!r}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise AblateError(f"{what} {uri!r}: folder {parent} is not writable")


def client(uri: str):
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


def get_or_create_experiment(c, name: str) -> str:
    exp = c.get_experiment_by_name(name)
    if exp is None:
        return c.create_experiment(name, tags=dict([EXPERIMENT_KIND]))
    if exp.lifecycle_stage == "deleted":
        c.restore_experiment(exp.experiment_id)
    return exp.experiment_id


def find_runs(c, experiment_id: str, **tags: str) -> list:
    """Runs whose ``ablate.<key>`` tags equal the given values (all pages)."""
    filt = " and ".join(f"tags.`ablate.{k}` = '{v}'" for k, v in tags.items())
    runs, token = [], None
    while True:
        page = c.search_runs(
            [experiment_id], filter_string=filt, max_results=1000, page_token=token
        )
        runs.extend(page)
        token = page.token
        if not token:
            return runs


def start_run(
    c, experiment_id: str, name: str, tags: Mapping[str, str], parent: str | None = None
) -> str:
    tags = dict(tags)
    if parent:
        tags[PARENT] = parent
    return c.create_run(experiment_id, run_name=name, tags=tags).info.run_id


def log_params(c, run_id: str, params: Mapping[str, Any]) -> None:
    from mlflow.entities import Param

    items = [Param(k, str(v)[:6000]) for k, v in params.items()]
    for i in range(0, len(items), MAX_PARAMS_PER_BATCH):
        c.log_batch(run_id, params=items[i : i + MAX_PARAMS_PER_BATCH])


def log_metrics(c, run_id: str, values: Mapping[str, float], step: int = 0) -> None:
    from mlflow.entities import Metric

    now = int(time.time() * 1000)
    items = [Metric(k, float(v), now, step) for k, v in values.items()]
    for i in range(0, len(items), MAX_METRICS_PER_BATCH):
        c.log_batch(run_id, metrics=items[i : i + MAX_METRICS_PER_BATCH])


def end_run(c, run_id: str, status: str = "FINISHED", reason: str | None = None) -> None:
    if reason:
        c.set_tag(run_id, FAILURE, reason[:5000])
    c.set_terminated(run_id, status=status)


def reopen_run(c, run_id: str) -> None:
    c.update_run(run_id, status="RUNNING")


class MLflowReporter(Reporter):
    """Buffers the trainer's values and writes them with ``log_batch`` on a background thread.

    The training thread only appends to a list; one writer thread sends a batch per epoch.
    ``close`` waits for every batch, so nothing is lost when the run ends.
    """

    def __init__(self, c, run_id: str):
        from mlflow.entities import Metric

        self._metric = Metric
        self._client, self._run_id = c, run_id
        self._buffer: list = []
        self._writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ablate-mlflow")
        self._pending: list[Future] = []

    def metrics(self, values: Mapping[str, float], step: int) -> None:
        now = int(time.time() * 1000)
        self._buffer.extend(self._metric(k, float(v), now, step) for k, v in values.items())
        self._flush()

    def series(self, name: str, values: Sequence[float], first_step: int) -> None:
        now = int(time.time() * 1000)
        self._buffer.extend(
            self._metric(name, float(v), now, first_step + i) for i, v in enumerate(values)
        )

    def _flush(self) -> None:
        batch, self._buffer = self._buffer, []
        for i in range(0, len(batch), MAX_METRICS_PER_BATCH):
            chunk = batch[i : i + MAX_METRICS_PER_BATCH]
            self._pending.append(
                self._writer.submit(self._client.log_batch, self._run_id, metrics=chunk)
            )

    def close(self) -> None:
        self._flush()
        self._writer.shutdown(wait=True)
        for f in self._pending:
            f.result()  # re-raise a failed write here, before the run is marked FINISHED


def mark_interrupted(c, runs: Iterable, reason: str) -> int:
    """End RUNNING runs left by a killed process as KILLED, with the reason in a tag."""
    n = 0
    for run in runs:
        if run.info.status == "RUNNING":
            end_run(c, run.info.run_id, "KILLED", reason)
            n += 1
    return n
