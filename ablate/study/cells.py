"""A cell's life: configurations (Optuna trials), their cells (configuration x seed), the states
a cell goes through, and the one function that moves it.

::

    pending --start--> running --trained--> done
       ^  \\              |  \\--failed----> failed
       |   \\--seen-->    |  \\--paused----> paused --pruned--> pruned
       |   held, done,    |                    |  \\--ended----> failed (a sibling seed failed)
       |   failed, ...    |                    \\--kept--> pending (resumed from its checkpoint)
       \\--retried, superseded, interrupted----/

Every move goes through :meth:`Life.move`, which writes together what the move changes: the
cell's ticket (shared with other drivers), its seed run's MLflow status (through the journal),
the sweep's counters and the progress bar, which counts seed-epochs: a cell's epochs as its
worker reports them, the rest of them when it ends (trained, or skipped when it is pruned or
fails).
Moves not in :data:`MOVES`, or from a state the table does not list, are bugs and raise.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ablate import checkpoint as ckpt
from ablate import spec as S


class State(str, enum.Enum):  # a str, so that it compares with a ticket's state (3.10: no StrEnum)
    PENDING = "pending"  # to be claimed
    HELD = "held"  # by another driver
    RUNNING = "running"  # on one of our workers
    PAUSED = "paused"  # at a rung, checkpointed, for a pruner's decision
    DONE = "done"
    FAILED = "failed"
    PRUNED = "pruned"

    def __str__(self) -> str:
        return self.value

    def __format__(self, spec: str) -> str:
        return format(self.value, spec)


FINAL = frozenset({State.DONE, State.FAILED, State.PRUNED})

# A ticket's state as a cell of another driver's (or an earlier sweep's) appears from here.
SEEN = {"done": State.DONE, "trained": State.DONE, "failed": State.FAILED,
        "paused": State.PAUSED, "pruned": State.PRUNED, "free": State.PENDING,
        "running": State.HELD}  # fmt: skip


@dataclass(frozen=True)
class Move:
    sources: frozenset[State]
    to: State
    ticket: str | None  # what the cell's ticket becomes (None: not written)
    status: str | None  # the seed run's MLflow status (None: not written)


_RUN, _PAUSE = frozenset({State.RUNNING}), frozenset({State.PAUSED})
MOVES = {
    "start": Move(frozenset({State.PENDING}), State.RUNNING, "running", None),
    "trained": Move(_RUN, State.DONE, "trained", "FINISHED"),
    "paused": Move(_RUN, State.PAUSED, "paused", "SCHEDULED"),
    "failed": Move(_RUN, State.FAILED, "failed", "FAILED"),
    "retried": Move(_RUN, State.PENDING, "free", "FAILED"),
    "interrupted": Move(_RUN, State.PENDING, "free", "KILLED"),
    "superseded": Move(_RUN, State.PENDING, None, "KILLED"),  # another driver took it over
    "kept": Move(_PAUSE, State.PENDING, "free", None),
    "pruned": Move(_PAUSE, State.PRUNED, "pruned", "KILLED"),
    "ended": Move(_PAUSE, State.FAILED, "failed", "KILLED"),
}


@dataclass(eq=False)
class Cell:
    config: Config
    seed: int
    state: State = State.PENDING
    attempts: int = 0
    run_key: str | None = None
    result: dict[str, Any] = field(default_factory=dict)
    curve: dict[int, float] = field(default_factory=dict)  # epoch -> objective
    resume: str | None = None  # the run key of an earlier attempt to continue from its checkpoint
    counted: int = 0  # its epochs on the progress bar so far (trained or skipped)

    @property
    def id(self) -> str:
        return f"{self.config.namespace}{self.config.hash}/{self.seed}"


@dataclass(eq=False)
class Config:
    trial: Any  # optuna.Trial
    values: dict[str, Any]
    spec: S.Experiment
    hash: str
    run_key: str
    ticket: tuple[str, str] | None  # the Optuna trial's ticket (None: no trial, confirmation)
    cells: dict[int, Cell] = field(default_factory=dict)
    role: str = "seed"  # the role of its seed runs: seed (the search) or confirm
    racing: bool = False  # may still get seeds (search.race): not resolved until it ends
    namespace: str = ""  # of its cells' tickets ("confirm/": apart from the search's cells)

    @property
    def label(self) -> str:
        return S.label(self.values)

    def in_state(self, *states: State) -> list[Cell]:
        return [c for c in self.cells.values() if c.state in states]

    def finished_seeds(self) -> bool:
        return all(c.state in FINAL for c in self.cells.values())

    def ended(self) -> bool:
        """A seed failed or was pruned: no more seeds will change this configuration's fate."""
        return bool(self.in_state(State.FAILED, State.PRUNED))

    def resolved(self) -> bool:
        return self.finished_seeds() and (self.ended() or not self.racing)

    def at_rung(self) -> int | None:
        """The rung every unfinished seed is paused at, when none is still training."""
        states = {c.state for c in self.cells.values()}
        if State.PAUSED not in states or not states <= FINAL | {State.PAUSED}:
            return None
        return min(c.result["at"] for c in self.in_state(State.PAUSED))


class Life:
    """Moves cells (see the module's diagram), writing what each move changes."""

    def __init__(self, tickets, journal, result, experiment_id: str,
                 progress: Callable[[int, bool], None]):  # fmt: skip
        self.tickets, self.journal, self.result = tickets, journal, result
        self.experiment_id, self.progress = experiment_id, progress

    def move(self, cell: Cell, event: str, result: dict | None = None, *, why: str = "",
             kind: str = "", rung: int | None = None) -> bool:  # fmt: skip
        """Move ``cell`` by ``event``; False when its ticket was no longer ours (then the cell
        was superseded: another driver took it over, and our run ends KILLED)."""
        m = MOVES[event]
        if cell.state not in m.sources:
            raise AssertionError(f"cell {cell.id}: no move {event!r} from {cell.state}")
        ours = self._ticket(cell, m, event, result)
        if not ours and event in ("trained", "paused"):
            self.move(cell, "superseded")
            return False
        if ours or m.sources != _PAUSE:  # a decision another driver applied: its writes
            self._status(cell, m, event, why, kind, rung)
        self._count(cell, event, why, kind)
        self._enter(cell, m.to, result)
        return ours

    def claim(self, cell: Cell, checkpoints: bool) -> bool:
        """Claim a pending cell for this driver; if another holds it or finished it, the cell
        takes the state its ticket shows. A claimed cell continues an earlier attempt's run
        when that run can go on here (its checkpoint is on this machine, or it was stopped
        before its first); any other run left by a dead driver ends KILLED."""
        t = self.tickets.claim("cell", cell.id)
        if not t.won:
            self.seen(cell, t.state, t.result if t.state != "running" else None)
            return False
        cell.attempts, cell.resume = t.attempts, None
        dead = t.result.get("run_key")
        if dead and checkpoints and ckpt.Checkpoints(ckpt.folder(dead)).files():
            cell.resume = dead  # its checkpoint is here: continue that run where it was
        elif dead and t.result.get("interrupted"):
            cell.resume = dead  # stopped before its first checkpoint: again, in that run
        elif dead and (not t.result.get("ended") or "at" in t.result):
            # A dead driver's run, or one paused on another machine: nothing to resume.
            self.journal.expect(dead, self.experiment_id)
            self.journal.set_status(
                dead, "KILLED", "interrupted: its driver stopped; the cell was taken over",
                "interrupted",
            )  # fmt: skip
        return True

    def seen(self, cell: Cell, ticket_state: str, result: dict | None = None) -> None:
        """What another driver (or an earlier sweep) made of this cell, seen in its ticket or
        in a twin cell of another trial; nothing is written."""
        to = SEEN.get(ticket_state)  # a twin cell's State is its own ticket state's name
        if cell.state not in (State.PENDING, State.HELD) or to is None:
            raise AssertionError(f"cell {cell.id}: cannot see {ticket_state} from {cell.state}")
        if to is State.DONE and cell.state is not State.DONE:
            self.result.reused += 1
        self._enter(cell, to, result)

    def advance(self, cell: Cell, epochs: int, skipped: bool = False) -> None:
        """The progress bar: ``cell`` has reached ``epochs`` (trained, or ``skipped``)."""
        if epochs > cell.counted:
            self.progress(epochs - cell.counted, skipped)
            cell.counted = epochs

    # -- the parts of a move ----------------------------------------------------------------
    def _ticket(self, cell: Cell, m: Move, event: str, result: dict | None) -> bool:
        if m.ticket is None:
            return True
        if m.sources == _PAUSE:  # decided by whoever gets there first; held by no one
            return self.tickets.move("cell", cell.id, ("paused",), m.ticket, result,
                                     fresh=event == "kept")  # fmt: skip
        return self.tickets.set("cell", cell.id, m.ticket, result)

    def _status(self, cell, m: Move, event: str, why: str, kind: str, rung) -> None:
        key = cell.run_key or cell.result.get("run_key")
        if m.status is None or key is None:
            return
        j = self.journal
        if m.sources == _PAUSE:
            j.expect(key, self.experiment_id)  # the run may be another driver's
        if event == "paused":
            j.set_tags(key, {"ablate.paused_at": str(rung)})
        elif event == "pruned":
            j.set_tags(key, {"ablate.pruned_at": str(rung)})
        if event == "trained":
            j.set_status(key, "FINISHED", cell=cell.id)  # done once MLflow holds it
        elif event == "superseded":
            j.set_status(key, "KILLED", "superseded: another driver took this cell over",
                         "superseded")  # fmt: skip
        elif event == "retried":
            j.set_status(key, "FAILED", f"{why} (retried)", kind)
        elif m.status == "SCHEDULED":
            j.set_status(key, "SCHEDULED")
        else:
            j.set_status(key, m.status, why, kind or event)
        if m.sources == _PAUSE and m.to in FINAL:
            ckpt.Checkpoints(ckpt.folder(key)).clear()

    def _count(self, cell: Cell, event: str, why: str, kind: str) -> None:
        r = self.result
        if event == "trained":
            r.trained += 1
        elif event == "retried":
            r.retried += 1
        elif event == "failed":
            r.failed += 1
            r.failure_kinds[kind] = r.failure_kinds.get(kind, 0) + 1
            first = (why.strip().splitlines() or ["(no message)"])[0][:300]
            r.failures.setdefault(first, [kind, 0, cell.run_key])[1] += 1

    def _enter(self, cell: Cell, to: State, result: dict | None) -> None:
        if to is State.PAUSED and result and "at" in result:
            self.advance(cell, int(result["at"]))
        if to in FINAL and cell.state not in FINAL:
            self.advance(cell, cell.config.spec.train.epochs, skipped=to is not State.DONE)
        cell.state = to
        if result is not None:
            cell.result = result
