"""Orphans: journals whose process died before delivering everything, found (their lock is
free), read back and adopted by a live journal."""

from __future__ import annotations

import fcntl
import json
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ablate.tracking.journal import FINAL, Journal, default_root


@dataclass
class Orphan:
    folder: Path
    runs: dict[str, list[dict]] = field(default_factory=dict)  # run key -> undelivered ops
    ids: dict[str, str] = field(default_factory=dict)  # run key -> MLflow run id
    ended: set[str] = field(default_factory=set)  # run keys whose end was journaled
    created: dict[str, dict] = field(default_factory=dict)  # run key -> tags, runs it created


def orphans(root: Path | None = None) -> list[Orphan]:
    """Journals under ``root`` whose process is gone (their lock is free), with what they had
    not delivered. Each one is locked for the caller; :func:`discard` removes it."""
    root = root or default_root()
    found = []
    for folder in sorted(p for p in root.glob("*") if p.is_dir()) if root.is_dir() else []:
        lock = folder / "lock"
        try:
            fh = open(lock, "a")  # noqa: SIM115
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # a live journal
        orphan = Orphan(folder)
        orphan._lock = fh  # type: ignore[attr-defined]
        acked: set[int] = set()
        ops: list[dict] = []
        path = folder / "journal.jsonl"
        for line in path.read_text().splitlines() if path.exists() else []:
            try:
                record = json.loads(line)
            except json.JSONDecodeError:
                continue  # a line cut short by the kill
            if "ack" in record:
                acked.update(record["ack"])
            elif "id" in record:
                orphan.ids[record["id"]] = record["run_id"]
            else:
                ops.append(record)
        for op in ops:
            if op["op"] == "status" and op["status"] in FINAL:
                orphan.ended.add(op["run"])
            if op["op"] == "create":
                orphan.created[op["run"]] = op["tags"]
            if op["seq"] not in acked:
                orphan.runs.setdefault(op["run"], []).append(op)
        for key in orphan.created:  # every op delivered, but the run never ended
            if key not in orphan.ended:
                orphan.runs.setdefault(key, [])
        found.append(orphan)
    return found


def adopt(journal: Journal, orphan: Orphan, runs: Mapping[str, list[dict]]) -> None:
    """Journal ``runs`` (some of the orphan's, possibly changed) again in ``journal``; the
    files their artifacts name move with them."""
    for ops in runs.values():
        for op in ops:
            if op["op"] == "artifacts" and Path(op["path"]).is_relative_to(orphan.folder):
                moved = journal.folder / Path(op["path"]).relative_to(orphan.folder)
                if Path(op["path"]).exists() and not moved.exists():
                    moved.parent.mkdir(parents=True, exist_ok=True)
                    shutil.move(op["path"], moved)
                op["path"] = str(moved)
    for key, run_id in orphan.ids.items():
        if key in runs and not any(op["op"] == "create" for op in runs[key]):
            journal.bind(key, run_id)
    for key, ops in runs.items():
        for op in ops:
            if op["op"] == "create" and key in orphan.ids:
                journal.bind(key, orphan.ids[key], op["experiment"])
                continue
            journal.append({k: v for k, v in op.items() if k != "seq"})


def discard(orphan: Orphan) -> None:
    orphan._lock.close()  # type: ignore[attr-defined]
    shutil.rmtree(orphan.folder, ignore_errors=True)
