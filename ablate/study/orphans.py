"""What a killed driver journaled on this machine but never sent to MLflow, delivered by the
next driver in the same folder. A run it finished is delivered FINISHED when its cell is still
ours to keep (then it is not trained again); any other unfinished run of it ends KILLED."""

from __future__ import annotations

from ablate import tracking as T
from ablate.tracking.orphans import adopt, discard, orphans


def adopt_orphans(journal, tickets, by_run_key: dict[str, str]) -> None:
    """``by_run_key``: gets the run keys of the finished runs kept (their cells become done
    once MLflow holds them)."""
    for orphan in orphans(journal.folder.parent):
        runs = {}
        for key, ops in orphan.runs.items():
            final = [op for op in ops if op["op"] == "status" and op["status"] != "RUNNING"]
            if key in orphan.ended and not final:
                runs[key] = ops  # ended, with a few writes before the end left to deliver
            elif final and final[-1].get("cell") and final[-1]["status"] == "FINISHED":
                if _keep(tickets, final[-1]["cell"], key):
                    by_run_key[key] = final[-1]["cell"]
                else:
                    final[-1]["status"] = "KILLED"
                    ops.insert(-1, tags_op(key, "superseded: the cell was trained again",
                                           "superseded"))  # fmt: skip
            elif not final and orphan.created.get(key, {}).get(T.ROLE) == "seed":
                ops = [*ops, tags_op(key, "interrupted: its driver died", "interrupted"),
                       {"op": "status", "run": key, "status": "KILLED"}]  # fmt: skip
            runs[key] = ops
        adopt(journal, orphan, runs)
        discard(orphan)


def _keep(tickets, cell_id: str, run_key: str) -> bool:
    t = tickets.get("cell", cell_id)
    if t is None or t.state != "trained" or t.result.get("run_key") != run_key:
        return False
    return tickets.adopt("cell", cell_id, t.owner)


def tags_op(key: str, reason: str, kind: str) -> dict:
    return {"op": "tags", "run": key, "tags": {T.FAILURE: reason, T.FAILURE_KIND: kind}}
