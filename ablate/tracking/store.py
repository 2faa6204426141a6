"""MLflow stores: which URI, whether it is usable, and the few synchronous calls ablate makes.

Everything goes through ``MlflowClient`` (no global active run), so a driver and the report can
use one store side by side. ``mlflow`` is imported lazily: ``import ablate`` does not need it.
Writes made while training go through :mod:`ablate.tracking.journal` instead, which survives a
store that is away for a while.
"""

from __future__ import annotations

import os
import re
import time
import urllib.error
import urllib.request
from collections.abc import Iterable, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from ablate.errors import AblateError

ROLE, STUDY, TRIAL, HASH, SEED = (
    "ablate.role",
    "ablate.study",
    "ablate.trial",
    "ablate.config_hash",
    "ablate.seed",
)
RUN_KEY = "ablate.run_key"  # ablate's own id of a run, known before MLflow assigns its run id
STUDY_KEY = "ablate.study_key"  # the study run a run belongs to (study name + fingerprint)
FINGERPRINT = "ablate.fingerprint"
FAILURE = "ablate.failure"
FAILURE_KIND = "ablate.failure_kind"  # diverged | error | worker_died | cuda | interrupted | ...
EXPERIMENT_KIND = ("mlflow.experimentKind", "custom_model_development")  # UI opens on runs
PARENT = "mlflow.parentRunId"
MAX_METRICS_PER_BATCH = 1000
MAX_PARAMS_PER_BATCH = 100
MAX_TAGS_PER_BATCH = 100

_CREDENTIALS = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^:/@\s]*):[^@/\s]+@")
_QUERY_SECRET = re.compile(r"(?i)(?P<key>[?&](?:password|passwd|pwd|token)=)[^&\s]+")


def mask_url(text: str) -> str:
    """Hide the password of every ``scheme://user:password@host`` (and ``?password=``) in
    ``text``: storage and tracking URLs are printed and logged, their secrets never."""
    text = _CREDENTIALS.sub(r"\g<scheme>\g<user>:***@", text)
    return _QUERY_SECRET.sub(r"\g<key>***", text)


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
    shown = mask_url(uri)
    if uri.startswith(("http://", "https://")):
        try:
            with urllib.request.urlopen(uri.rstrip("/") + "/health", timeout=5) as resp:
                if resp.status != 200:
                    raise AblateError(f"MLflow tracking server {shown} answered {resp.status}")
        except (urllib.error.URLError, OSError, ValueError) as exc:
            reason = mask_url(str(getattr(exc, "reason", exc)))
            raise AblateError(
                f"cannot reach the MLflow tracking server at {shown}: {reason}"
            ) from None
    elif uri.startswith("sqlite:///"):
        private_sqlite(uri[len("sqlite:///") :], "MLflow tracking URI", shown)
    elif "://" in uri and not uri.startswith(
        ("file://", "postgresql", "mysql", "mssql", "databricks")
    ):
        raise AblateError(f"unsupported MLflow tracking URI {shown!r}")


def private_sqlite(path: str, what: str, shown: str) -> None:
    """A SQLite file's folder exists and is writable; a file ablate creates is made 0600 (the
    databases hold every parameter of every run)."""
    file = Path(path).expanduser().resolve()
    parent = file.parent
    if not parent.is_dir():
        raise AblateError(f"{what} {shown!r}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise AblateError(f"{what} {shown!r}: folder {parent} is not writable")
    if not file.exists():
        os.close(os.open(file, os.O_CREAT | os.O_WRONLY, 0o600))


def client(uri: str):
    """An ``MlflowClient`` whose HTTP calls fail within seconds instead of minutes: the
    journal retries on its own schedule, and a start-up check should not hang."""
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "15")
    os.environ.setdefault("MLFLOW_ARTIFACT_UPLOAD_DOWNLOAD_TIMEOUT", "600")  # checkpoints
    # A sweep ends hundreds of runs; MLflow would print a link for each one.
    os.environ.setdefault("MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT", "true")
    from mlflow.tracking import MlflowClient

    return MlflowClient(tracking_uri=uri)


@contextmanager
def first_use(uri: str, attempts: int = 5):
    """Around the first contact with a store, which may create its tables: drivers that start
    together on one machine do it one at a time for a SQLite file (MLflow's and Optuna's schema
    migrations are not safe to run side by side); elsewhere, retried (the other one wins)."""
    if uri.startswith("sqlite:///"):
        import fcntl

        with open(uri[len("sqlite:///") :], "rb") as fh:  # flock: independent of SQLite's locks
            fcntl.flock(fh, fcntl.LOCK_EX)
            yield
        return
    yield


def retried(fn, attempts: int = 5):
    """``fn()``, tried again a few times: a concurrent first use of a store can fail once."""
    import random

    for i in range(attempts):
        try:
            return fn()
        except Exception:  # noqa: BLE001
            if i == attempts - 1:
                raise
            time.sleep(1 + random.random())


def get_or_create_experiment(c, name: str) -> str:
    exp = c.get_experiment_by_name(name)
    if exp is None:
        try:
            return c.create_experiment(name, tags=dict([EXPERIMENT_KIND]))
        except Exception:  # noqa: BLE001  (another driver created it first)
            exp = c.get_experiment_by_name(name)
            if exp is None:
                raise
    if exp.lifecycle_stage == "deleted":
        c.restore_experiment(exp.experiment_id)
    return exp.experiment_id


def find_runs(c, experiment_id: str, **tags: str) -> list:
    """Runs whose ``ablate.<key>`` tags equal the given values (all pages)."""
    return search(c, experiment_id, {f"ablate.{k}": v for k, v in tags.items()})


def search(c, experiment_id: str, tags: Mapping[str, str]) -> list:
    """Runs whose tags equal the given values (all pages)."""
    filt = " and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items())
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


def mark_interrupted(c, runs: Iterable, reason: str, kind: str = "interrupted") -> int:
    """End RUNNING runs left by a killed process as KILLED, with the reason in a tag."""
    n = 0
    for run in runs:
        if run.info.status == "RUNNING":
            c.set_tag(run.info.run_id, FAILURE_KIND, kind)
            end_run(c, run.info.run_id, "KILLED", reason)
            n += 1
    return n
