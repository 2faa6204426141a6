"""A cell's life (ablate/study/cells.py): each move writes the cell's ticket, its seed run's
MLflow status, the sweep's counters and the progress together; moves outside the table are
refused. Real tickets (SQLite) and a real journal to a real MLflow store."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from ablate import tracking as T
from ablate.study import adapter as A
from ablate.study.cells import FINAL, MOVES, Cell, Config, Life, State
from ablate.study.claims import Tickets
from ablate.study.result import SweepResult
from ablate.tracking.journal import Journal, new_key


@pytest.fixture
def world(tmp_path):
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    T.check_tracking_uri(uri)
    with T.first_use(uri):
        exp = T.get_or_create_experiment(T.client(uri), "cells")
    db = A.db_url(f"sqlite:///{tmp_path / 'optuna.db'}")
    mine, theirs = (Tickets(db, "s", owner, A.GRACE_S) for owner in ("me", "them"))
    journal = Journal(uri, tmp_path / "journal")
    result = SweepResult("s", exp, None, uri)
    steps = []
    life = Life(mine, journal, result, exp, lambda n, skipped: steps.append((n, skipped)))
    yield life, theirs, journal, result, steps, uri
    journal.close(timeout=60)


EPOCHS_3 = SimpleNamespace(train=SimpleNamespace(epochs=3))  # what a cell's life reads of a spec


def _cell(life: Life, journal: Journal, seed: int = 0) -> Cell:
    config = Config(None, {}, EPOCHS_3, "h", "config-key", None)
    cell = Cell(config, seed)
    config.cells[seed] = cell
    assert life.claim(cell, checkpoints=False)
    cell.run_key = new_key()
    journal.create_run(cell.run_key, life.experiment_id, f"seed={seed}", {T.ROLE: "seed"})
    life.move(cell, "start", {"run_key": cell.run_key})
    return cell


def _status(journal: Journal, uri: str, key: str) -> tuple[str, dict]:
    assert journal.drain(60)
    run = T.client(uri).get_run(journal.run_id(key))
    return run.info.status, run.data.tags


def test_a_trained_cell_is_done_everywhere_at_once(world):
    life, _, journal, result, steps, uri = world
    cell = _cell(life, journal)
    assert life.tickets.get("cell", cell.id).state == "running" and steps == []
    assert life.move(cell, "trained", {"objective": 0.5, "run_key": cell.run_key})
    assert cell.state is State.DONE and cell.result["objective"] == 0.5
    assert life.tickets.get("cell", cell.id).state == "trained"
    assert _status(journal, uri, cell.run_key)[0] == "FINISHED"
    assert (result.trained, result.failed, steps) == (1, 0, [(3, False)])  # 3 epochs trained


def test_a_failure_is_counted_by_its_first_line_and_its_run_ends_failed(world):
    life, _, journal, result, steps, uri = world
    cells = [_cell(life, journal, seed) for seed in (0, 1)]
    for cell in cells:
        why = "RuntimeError: shapes differ\n  at line 3"
        life.move(cell, "failed", {"reason": why}, why=why, kind="error")
    assert all(c.state is State.FAILED for c in cells) and steps == [
        (3, True),
        (3, True),
    ]  # skipped
    assert result.failure_kinds == {"error": 2}
    assert result.failures["RuntimeError: shapes differ"][:2] == ["error", 2]
    status, tags = _status(journal, uri, cells[0].run_key)
    assert status == "FAILED" and tags[T.FAILURE_KIND] == "error"


def test_a_cell_taken_over_by_another_driver_is_superseded_not_done(world):
    life, theirs, journal, result, steps, uri = world
    cell = _cell(life, journal)
    # Our heartbeat went stale: the other driver moved the ticket to itself.
    life.tickets.grace_s = theirs.grace_s = -1.0
    assert theirs.claim("cell", cell.id).won
    assert not life.move(cell, "trained", {"objective": 0.5, "run_key": cell.run_key})
    assert cell.state is State.PENDING and result.trained == 0 and steps == []
    status, tags = _status(journal, uri, cell.run_key)
    assert status == "KILLED" and tags[T.FAILURE_KIND] == "superseded"


def test_a_cell_seen_done_elsewhere_is_reused_and_counted_once(world):
    life, theirs, journal, result, steps, _ = world
    config = Config(None, {}, EPOCHS_3, "h", "config-key", None)
    cell = config.cells[0] = Cell(config, 0)
    assert theirs.claim("cell", cell.id).won
    assert not life.claim(cell, checkpoints=False)
    assert cell.state is State.HELD and steps == []
    theirs.set("cell", cell.id, "done", {"objective": 0.25})
    life.seen(cell, life.tickets.get("cell", cell.id).state, {"objective": 0.25})
    assert cell.state is State.DONE and result.reused == 1 and steps == [(3, False)]


@pytest.mark.parametrize("event", sorted(MOVES))
def test_a_move_from_a_state_the_table_does_not_list_is_refused(world, event):
    life, _, journal, *_ = world
    wrong = next(s for s in State if s not in MOVES[event].sources)
    config = Config(None, {}, EPOCHS_3, "h", "config-key", None)
    cell = Cell(config, 0, state=wrong)
    with pytest.raises(AssertionError, match=f"no move '{event}' from {wrong}"):
        life.move(cell, event)


def test_the_final_states_are_those_no_move_leaves():
    left = {s for m in MOVES.values() for s in m.sources}
    assert FINAL == set(State) - left - {State.HELD}
