"""Tracking writes that survive an MLflow store being away: a local journal, delivered in order.

Every tracking write of a sweep (run creation, params, metrics, tags, artifacts, a run's status)
is appended to a journal file on local disk first and delivered to MLflow by one background
thread, run by run, in the order written. A store that is unreachable or locked is retried with
backoff while training goes on; nothing is dropped. A run's end is the last operation of its
queue, so a run is FINISHED in MLflow only after everything logged before it is stored.

Runs are named by ablate's own *run key*, known before MLflow assigns a run id (which needs the
store). Creation is idempotent: the key is a tag of the run, and a creation whose answer was lost
is found again by it. A run created by another driver (a shared configuration run) is found the
same way. A journal left by a process that died is *orphaned*; a later journal can adopt what it
had not delivered (:mod:`ablate.tracking.orphans`).

One piece (about 450 lines): the writers and the delivery thread share one lock, one queue per
run and one file; split, each half would need the other's invariants to be read.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import sys
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ablate.tracking import store as S

# MLflow answers that retrying cannot change; anything else (a refused connection, a locked
# SQLite file, a 5xx) is retried.
PERMANENT = {
    "INVALID_PARAMETER_VALUE",
    "RESOURCE_DOES_NOT_EXIST",
    "RESOURCE_ALREADY_EXISTS",
    "BAD_REQUEST",
    "MALFORMED_REQUEST",
    "INVALID_STATE",
}
MAX_BACKOFF_S = 15.0
ROTATE_BYTES = 4 << 20
FINAL = ("FINISHED", "FAILED", "KILLED")


def default_root() -> Path:
    return Path(os.environ.get("ABLATE_JOURNAL") or ".ablate/journal").expanduser().resolve()


def new_key() -> str:
    return uuid.uuid4().hex


class Journal:
    """Append tracking operations; a background thread delivers them to ``uri``.

    Args:
        uri: the MLflow tracking URI.
        root: folder of journals (one sub-folder per live journal, locked while it lives).
        on_status: called as ``on_status(key, status)`` once a run's status change is stored
            (e.g. to record that a cell's run is FINISHED in MLflow).
    """

    def __init__(
        self,
        uri: str,
        root: Path | None = None,
        on_status: Callable[[str, str], None] | None = None,
    ):
        self.uri, self.on_status = uri, on_status
        self.folder = (root or default_root()) / new_key()
        self.folder.mkdir(parents=True, mode=0o700)
        self._lock_file = open(self.folder / "lock", "w")  # noqa: SIM115  (held for our life)
        fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        self._path = self.folder / "journal.jsonl"
        self._file = _open_private(self._path)
        self._seq = 0
        self._queues: dict[str, deque[dict]] = {}  # run key -> ops not yet stored
        self._ids: dict[str, str] = {}  # run key -> MLflow run id
        self._experiments: dict[str, str] = {}  # run key -> experiment id (for lookups)
        self._links: dict[str, str] = {}  # child key -> parent key, to set once found
        self._retry_at: dict[str, float] = {}  # run key -> when to try a blocked queue again
        self._tried_create: set[str] = set()
        self._cond = threading.Condition()
        self._closing = False
        self._problem: str | None = None  # the last delivery error, until a round succeeds
        self._calling_since: float | None = None  # a store call in flight since
        self.dropped: list[str] = []  # operations the store refused for good
        self._client = None
        self._thread = threading.Thread(target=self._deliver, name="ablate-journal", daemon=True)
        self._thread.start()

    # -- writing ----------------------------------------------------------------------------
    def create_run(
        self,
        key: str,
        experiment_id: str,
        name: str,
        tags: Mapping[str, str],
        parent: str | None = None,
        reuse: bool = False,
    ) -> None:
        """A new run named by ``key``; ``reuse``: a run already stored under this key (one an
        interrupted sweep created) is taken instead, tagged and marked RUNNING again."""
        self.append(
            {"op": "create", "run": key, "experiment": experiment_id, "name": name,
             "tags": dict(tags), "parent": parent, "reuse": reuse}
        )  # fmt: skip

    def bind(self, key: str, run_id: str, experiment_id: str | None = None) -> None:
        """``key`` names an existing run."""
        self.append({"op": "bind", "run": key, "run_id": run_id, "experiment": experiment_id})

    def expect(self, key: str, experiment_id: str) -> None:
        """``key`` names a run created elsewhere (another driver); find it by its key tag."""
        with self._cond:
            self._experiments.setdefault(key, experiment_id)

    def log_params(self, key: str, params: Mapping[str, Any]) -> None:
        self.append({"op": "params", "run": key, "params": {k: str(v) for k, v in params.items()}})

    def log_metrics(self, key: str, values: Mapping[str, float], step: int = 0) -> None:
        now = int(time.time() * 1000)
        self.append(
            {"op": "metrics", "run": key,
             "metrics": [[k, float(v), now, step] for k, v in values.items()]}
        )  # fmt: skip

    def set_tags(self, key: str, tags: Mapping[str, str]) -> None:
        self.append({"op": "tags", "run": key, "tags": {k: str(v) for k, v in tags.items()}})

    def clear_failure(self, key: str) -> None:
        """Remove a run's failure tags (it is running again, or ended well after all)."""
        self.append({"op": "untags", "run": key, "keys": [S.FAILURE, S.FAILURE_KIND]})

    def log_artifacts(self, key: str, path: str, artifact_path: str | None = None) -> None:
        self.append({"op": "artifacts", "run": key, "path": path, "artifact_path": artifact_path})

    def set_status(
        self,
        key: str,
        status: str,
        reason: str | None = None,
        kind: str | None = None,
        **extra: Any,
    ) -> None:
        """End (``FINISHED``, ``FAILED``, ``KILLED``) or reopen (``RUNNING``) a run; ``extra``
        is kept with the operation (e.g. the cell a seed run trains, for an adopting driver)."""
        if reason:
            tags = {S.FAILURE: reason[:5000]} | ({S.FAILURE_KIND: kind} if kind else {})
            self.set_tags(key, tags)
        self.append({"op": "status", "run": key, "status": status, **extra})

    def append(self, op: dict) -> None:
        """Journal one operation (on disk first), to be delivered in order."""
        with self._cond:
            self._seq += 1
            op = {"seq": self._seq, **op}
            self._write(op)
            key = op["run"]
            if op["op"] == "create":
                self._experiments[key] = op["experiment"]
            elif op["op"] == "bind" and op.get("experiment"):
                self._experiments[key] = op["experiment"]
            self._queues.setdefault(key, deque()).append(op)
            self._cond.notify_all()

    @property
    def problem(self) -> str | None:
        """Why writes are not getting through (an error, or a store that does not answer)."""
        since = self._calling_since
        if since is not None and time.monotonic() - since > 10:
            return f"no answer for {time.monotonic() - since:.0f} s"
        return self._problem

    def files(self, key: str) -> Path:
        """A folder for a run's files (artifacts), kept until the journal is delivered."""
        folder = self.folder / "files" / key
        folder.mkdir(parents=True, exist_ok=True)
        return folder

    # -- waiting ----------------------------------------------------------------------------
    def pending(self) -> int:
        with self._cond:
            return sum(len(q) for q in self._queues.values()) + len(self._links)

    def run_id(self, key: str) -> str | None:
        with self._cond:
            return self._ids.get(key)

    def drain(self, timeout: float | None = None) -> bool:
        """Wait until everything journaled so far is stored; False on timeout."""
        end = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while any(self._queues.values()) or self._links:
                left = None if end is None else end - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._cond.wait(timeout=1.0 if left is None else min(left, 1.0))
        return True

    def close(self, timeout: float | None = None) -> bool:
        """Deliver what is left (up to ``timeout``) and stop. What could not be delivered stays
        on disk, orphaned, for the next journal in the same root to adopt."""
        done = self.drain(timeout)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=5)
        self._file.close()
        if done:
            self._lock_file.close()
            shutil.rmtree(self.folder, ignore_errors=True)
        else:
            self._lock_file.close()  # releases the lock: the folder is now an orphan
        return done

    # -- delivery (the background thread) ---------------------------------------------------
    def _deliver(self) -> None:
        backoff = 0.5
        while True:
            with self._cond:
                while not self._closing and not self._due():
                    self._cond.wait(timeout=self._next_wait())
                if self._closing:
                    return
                now = time.time()
                keys = [
                    k for k, q in self._queues.items() if q and self._retry_at.get(k, 0) <= now
                ]
            try:
                for key in keys:
                    self._deliver_head(key)
                self._link_parents()
                self._problem, backoff = None, 0.5
                self._maybe_rotate()
            except _Retry as exc:
                self._problem = S.mask_url(str(exc))[:300]
                time.sleep(backoff)
                backoff = min(MAX_BACKOFF_S, backoff * 2)

    def _due(self) -> bool:
        now = time.time()
        if any(q and self._retry_at.get(k, 0) <= now for k, q in self._queues.items()):
            return True
        return bool(self._links) and self._retry_at.get("_links", 0) <= now

    def _next_wait(self) -> float:
        waits = [t - time.time() for t in self._retry_at.values()]
        return max(0.05, min([1.0, *waits]))

    def _deliver_head(self, key: str) -> None:
        with self._cond:
            queue = self._queues.get(key)
            if not queue:
                return
            head = queue[0]
            batch = [head]
            if head["op"] in ("params", "metrics", "tags"):
                batch = _mergeable(queue)
        run_id = self._ids.get(key)
        if head["op"] == "bind":
            self._record_id(key, head["run_id"])
        elif head["op"] == "create":
            if run_id is None:
                self._create(head)
        else:
            if run_id is None:
                run_id = self._find(key)
                if run_id is None:  # created elsewhere and not stored yet: try again later
                    with self._cond:
                        self._retry_at[key] = time.time() + 5.0
                    return
            self._apply(run_id, batch)
        with self._cond:
            for _ in batch:
                queue.popleft()
            if not queue:
                del self._queues[key]
                self._retry_at.pop(key, None)
            self._write({"ack": [op["seq"] for op in batch]})
            self._cond.notify_all()
        if head["op"] == "status" and self.on_status is not None:
            self.on_status(key, head["status"])

    def _create(self, op: dict) -> None:
        from mlflow.entities import RunTag

        key = op["run"]
        c = self._mlflow()
        if key in self._tried_create or op.get("reuse"):  # a lost answer may have created it
            with self._cond:
                self._experiments.setdefault(key, op["experiment"])
            found = self._find(key)
            if found and op.get("reuse"):
                tags = [RunTag(k, str(v)) for k, v in op["tags"].items()]
                self._call(lambda: c.log_batch(found, tags=tags))
                self._call(lambda: c.update_run(found, status="RUNNING"))
            if found:
                return
        self._tried_create.add(key)
        tags = {**op["tags"], S.RUN_KEY: key}
        parent = op.get("parent")
        if parent:
            parent_id = self._ids.get(parent) or self._find(parent)
            if parent_id:
                tags[S.PARENT] = parent_id
            else:
                with self._cond:
                    self._links[key] = parent
        run_id = self._call(lambda: c.create_run(op["experiment"], run_name=op["name"], tags=tags))
        self._record_id(key, run_id.info.run_id)

    def _apply(self, run_id: str, batch: list[dict]) -> None:
        from mlflow.entities import Metric, Param, RunTag

        c = self._mlflow()
        head = batch[0]
        try:
            if head["op"] == "status" and head["status"] in FINAL:
                self._call(lambda: c.set_terminated(run_id, status=head["status"]))
            elif head["op"] == "status":
                self._call(lambda: c.update_run(run_id, status=head["status"]))
            elif head["op"] == "untags":

                def untag():
                    present = c.get_run(run_id).data.tags
                    for k in head["keys"]:
                        if k in present:
                            c.delete_tag(run_id, k)

                self._call(untag)
            elif head["op"] == "artifacts":
                path = Path(head["path"])
                if path.is_dir():
                    self._call(lambda: c.log_artifacts(run_id, str(path), head["artifact_path"]))
                elif path.is_file():
                    self._call(lambda: c.log_artifact(run_id, str(path), head["artifact_path"]))
            else:
                metrics = [Metric(*m) for op in batch for m in op.get("metrics", [])]
                params = [
                    Param(k, v[:6000]) for op in batch for k, v in op.get("params", {}).items()
                ]
                tags = [RunTag(k, v) for op in batch for k, v in op.get("tags", {}).items()]
                self._call(lambda: c.log_batch(run_id, metrics=metrics, params=params, tags=tags))
        except _Refused as exc:
            self.dropped.append(f"{head['op']} of run {run_id}: {exc}")
            print(f"ablate: MLflow refused {head['op']} for run {run_id}: {exc}", file=sys.stderr)

    def _link_parents(self) -> None:
        if not self._links or self._retry_at.get("_links", 0) > time.time():
            return
        c = self._mlflow()
        for child, parent in list(self._links.items()):
            parent_id = self._ids.get(parent) or self._find(parent)
            child_id = self._ids.get(child)
            if parent_id and child_id:
                self._call(lambda: c.set_tag(child_id, S.PARENT, parent_id))  # noqa: B023
                with self._cond:
                    del self._links[child]
                    self._cond.notify_all()
        if self._links:
            self._retry_at["_links"] = time.time() + 5.0

    def _find(self, key: str) -> str | None:
        """The id of the run whose key tag is ``key`` (created by us or by another driver)."""
        if key in self._ids:
            return self._ids[key]
        exp = self._experiments.get(key)
        if exp is None:
            return None
        c = self._mlflow()
        runs = self._call(lambda: S.search(c, exp, {S.RUN_KEY: key}))
        if not runs:
            return None
        self._record_id(key, runs[0].info.run_id)
        return runs[0].info.run_id

    def _record_id(self, key: str, run_id: str) -> None:
        with self._cond:
            self._ids[key] = run_id
            self._write({"id": key, "run_id": run_id})

    def _call(self, fn):
        """One store call, classified (retry or refused), timed for :attr:`problem`."""
        self._calling_since = time.monotonic()
        try:
            return _classified(fn)
        finally:
            self._calling_since = None

    def _mlflow(self):
        if self._client is None:
            self._client = S.client(self.uri)
        return self._client

    # -- the file ---------------------------------------------------------------------------
    def _write(self, record: dict) -> None:
        self._file.write(json.dumps(record) + "\n")
        self._file.flush()

    def _maybe_rotate(self) -> None:
        """Start a fresh file once everything in the current one is stored."""
        with self._cond:
            if any(self._queues.values()) or self._path.stat().st_size < ROTATE_BYTES:
                return
            self._file.close()
            self._file = _open_private(self._path, truncate=True)
            for key, run_id in self._ids.items():  # keep the key -> id map
                self._write({"id": key, "run_id": run_id})


def _mergeable(queue: deque) -> list[dict]:
    """The head's run of params/metrics/tags operations that fit in one ``log_batch``."""
    out, n_metrics, n_params, n_tags = [], 0, 0, 0
    for op in queue:
        if op["op"] not in ("params", "metrics", "tags"):
            break
        m, p, t = len(op.get("metrics", [])), len(op.get("params", {})), len(op.get("tags", {}))
        if out and (
            n_metrics + m > S.MAX_METRICS_PER_BATCH
            or n_params + p > S.MAX_PARAMS_PER_BATCH
            or n_tags + t > S.MAX_TAGS_PER_BATCH
        ):
            break
        out.append(op)
        n_metrics, n_params, n_tags = n_metrics + m, n_params + p, n_tags + t
    return out


class _Retry(Exception):
    """The store is away or busy: try again later."""


class _Refused(Exception):
    """The store refused the operation for good."""


def _classified(fn):
    try:
        return fn()
    except Exception as exc:  # noqa: BLE001  (classified below)
        code = getattr(exc, "error_code", None)
        if code in PERMANENT:
            raise _Refused(S.mask_url(str(exc))[:500]) from None
        raise _Retry(f"{type(exc).__name__}: {exc}") from None


def _open_private(path: Path, truncate: bool = False):
    flags = os.O_CREAT | os.O_WRONLY | (os.O_TRUNC if truncate else os.O_APPEND)
    return os.fdopen(os.open(path, flags, 0o600), "a", buffering=1)
