"""Tickets: atomic claims on shared work, in the study's own database (SQLite or PostgreSQL).

A ticket is one row ``(study, kind, key)``; whoever inserts it first, or moves it from ``free``
(or from a holder whose heartbeat is older than the grace period) to itself with one
``UPDATE ... WHERE``, holds it. Both are atomic on SQLite and PostgreSQL alike, unlike
``SELECT ... FOR UPDATE``, which SQLite ignores. Every time is the database's own clock, so
machines whose clocks differ agree on who is stale.

Kinds: ``cell`` (one configuration x seed: trained exactly once), ``trial`` (the Optuna trial of
a grid configuration, created and told exactly once), ``config_run`` / ``study_run`` (the shared
MLflow runs, created exactly once), ``reopen`` (a trial re-opened for new seeds or after its
driver died, exactly once).

States: ``running`` (held: being worked on), ``trained`` (a cell's result is known, its MLflow run
not yet stored; still held), ``done``, ``failed`` (final), ``free`` (released, to be taken again).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from ablate.errors import AblateError
from ablate.tracking import mask_url

HELD = ("running", "trained")
PATIENCE_S = 600  # how long a database that is away or locked is retried before giving up

_meta = sa.MetaData()
TABLE = sa.Table(
    "ablate_tickets",
    _meta,
    sa.Column("study", sa.String(512), primary_key=True),
    sa.Column("kind", sa.String(32), primary_key=True),
    sa.Column("key", sa.String(256), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("owner", sa.String(64)),
    sa.Column("heartbeat", sa.Float, nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=1),
    sa.Column("result", sa.Text),
)


@dataclass(frozen=True)
class Ticket:
    state: str
    owner: str | None
    attempts: int
    result: dict[str, Any]
    won: bool = False  # this call made us the holder
    stale: bool = False  # held by someone whose heartbeat is past the grace period


class Tickets:
    """The ticket table of one study, used by one owner (a driver process)."""

    def __init__(self, url: str, study: str, owner: str, grace_s: float):
        self.study, self.owner, self.grace_s = study, owner, grace_s
        kwargs: dict[str, Any] = {"pool_pre_ping": True}
        if url.startswith("sqlite"):
            kwargs["connect_args"] = {"timeout": 60}
        self.engine = sa.create_engine(url, **kwargs)
        self.now = _clock(self.engine.dialect.name)
        self._retrying(lambda: _create_table(self.engine))

    # -- claiming ---------------------------------------------------------------------------
    def claim(self, kind: str, key: str) -> Ticket:
        """Take the ticket if it is new, free or stale; otherwise say who has it and how."""
        t = TABLE.c

        def run():
            with self.engine.begin() as conn:
                try:
                    conn.execute(
                        TABLE.insert().values(
                            study=self.study, kind=kind, key=key, state="running",
                            owner=self.owner, heartbeat=self.now, attempts=1, result="{}",
                        )
                    )  # fmt: skip
                    return Ticket("running", self.owner, 1, {}, won=True)
                except sa.exc.IntegrityError:
                    pass
            with self.engine.begin() as conn:
                taken = conn.execute(
                    TABLE.update()
                    .where(self._pk(kind, key))
                    .where(
                        (t.state == "free")
                        | (t.state.in_(HELD) & (t.heartbeat < self.now - self.grace_s))
                    )
                    .values(state="running", owner=self.owner, heartbeat=self.now,
                            attempts=t.attempts + 1)
                )  # fmt: skip
                row = conn.execute(sa.select(TABLE).where(self._pk(kind, key))).one()
            return _ticket(row, won=taken.rowcount == 1, stale=False)

        return self._retrying(run)

    def reopen(self, kind: str, key: str, result: dict | None = None) -> bool:
        """Take back a ``done`` ticket (e.g. a grid configuration that now has more seeds)."""
        values: dict[str, Any] = {"state": "running", "owner": self.owner, "heartbeat": self.now}
        if result is not None:
            values["result"] = json.dumps(result)
        return self._update(kind, key, values, TABLE.c.state == "done")

    def set(self, kind: str, key: str, state: str, result: dict | None = None) -> bool:
        """Move a ticket we hold to ``state``; False when it is no longer ours (taken over
        after our heartbeat went stale)."""
        values: dict[str, Any] = {"state": state, "heartbeat": self.now}
        if result is not None:
            values["result"] = json.dumps(result)
        mine = (TABLE.c.owner == self.owner) & TABLE.c.state.in_(HELD)
        return self._update(kind, key, values, mine)

    def finish(self, kind: str, key: str, result: dict | None = None) -> bool:
        """``running`` (or ``free``) -> ``done`` by whoever gets there first (e.g. telling a
        grid trial once every seed is in, whichever driver trained the last one)."""
        values: dict[str, Any] = {"state": "done", "owner": self.owner, "heartbeat": self.now}
        if result is not None:
            values["result"] = json.dumps(result)
        return self._update(kind, key, values, TABLE.c.state.in_(("running", "free")))

    def move(self, kind: str, key: str, sources: tuple[str, ...], state: str,
             result: dict | None = None, *, fresh: bool = False) -> bool:  # fmt: skip
        """``sources`` -> ``state`` by whoever gets there first, held by no one (a paused cell
        that a pruner's decision promotes or prunes). ``fresh``: its attempts start again."""
        values: dict[str, Any] = {"state": state, "owner": None, "heartbeat": self.now}
        if result is not None:
            values["result"] = json.dumps(result)
        if fresh:
            values["attempts"] = 0
        return self._update(kind, key, values, TABLE.c.state.in_(sources))

    def adopt(self, kind: str, key: str, owner: str | None) -> bool:
        """Take over a ``trained`` ticket from its stale ``owner`` (whose finished run's records
        we deliver for it)."""
        t = TABLE.c
        condition = (
            (t.state == "trained") & (t.owner == owner) & (t.heartbeat < self.now - self.grace_s)
        )
        return self._update(kind, key, {"owner": self.owner, "heartbeat": self.now}, condition)

    def release_all(self) -> int:
        """Free every ticket we hold (an interrupted driver: others may take them at once).
        A cell's record of its run is cleared: the releaser ended that run itself."""
        t = TABLE.c
        mine = (t.study == self.study) & (t.owner == self.owner) & (t.state == "running")

        def run():
            with self.engine.begin() as conn:
                cells = conn.execute(
                    TABLE.update()
                    .where(mine & (t.kind == "cell"))
                    .values(state="free", result="{}")
                ).rowcount
                others = conn.execute(
                    TABLE.update().where(mine & (t.kind != "cell")).values(state="free")
                ).rowcount
            return cells + others

        return self._retrying(run)

    def record(self, kind: str, key: str, state: str, result: dict) -> bool:
        """Insert a finished ticket unless one exists (finished work found in MLflow)."""

        def run():
            try:
                with self.engine.begin() as conn:
                    conn.execute(
                        TABLE.insert().values(
                            study=self.study, kind=kind, key=key, state=state, owner=None,
                            heartbeat=self.now, attempts=1, result=json.dumps(result),
                        )
                    )  # fmt: skip
                return True
            except sa.exc.IntegrityError:
                return False

        return self._retrying(run)

    # -- reading and beating ----------------------------------------------------------------
    def get(self, kind: str, key: str) -> Ticket | None:
        def run():
            with self.engine.connect() as conn:
                row = conn.execute(
                    sa.select(
                        TABLE, (TABLE.c.heartbeat < self.now - self.grace_s).label("old")
                    ).where(self._pk(kind, key))
                ).one_or_none()
            return None if row is None else _ticket(row, stale=bool(row.old))

        return self._retrying(run)

    def all(self, kind: str) -> dict[str, Ticket]:
        t = TABLE.c

        def run():
            with self.engine.connect() as conn:
                rows = conn.execute(
                    sa.select(TABLE, (t.heartbeat < self.now - self.grace_s).label("old")).where(
                        (t.study == self.study) & (t.kind == kind)
                    )
                ).all()
            return {r.key: _ticket(r, stale=bool(r.old)) for r in rows}

        return self._retrying(run)

    def beat(self, shared: Iterable[tuple[str, str]] = ()) -> None:
        """Heartbeat every ticket we hold, and the ``shared`` ones we work under (a grid
        trial's ticket is kept alive by every driver training one of its cells)."""
        t = TABLE.c
        self._exec(
            TABLE.update()
            .where((t.study == self.study) & (t.owner == self.owner) & t.state.in_(HELD))
            .values(heartbeat=self.now)
        )
        for kind, key in shared:
            self._exec(
                TABLE.update()
                .where(self._pk(kind, key) & (t.state == "running"))
                .values(heartbeat=self.now)
            )

    # -- plumbing ---------------------------------------------------------------------------
    def _pk(self, kind: str, key: str):
        t = TABLE.c
        return (t.study == self.study) & (t.kind == kind) & (t.key == key)

    def _update(self, kind, key, values, condition) -> bool:
        stmt = TABLE.update().where(self._pk(kind, key) & condition).values(**values)
        return self._retrying(lambda: self._exec(stmt).rowcount == 1)

    def _exec(self, stmt):
        with self.engine.begin() as conn:
            return conn.execute(stmt)

    def _retrying(self, fn):
        return retrying(fn, "the study database")


def retrying(fn, what: str, patience_s: float = PATIENCE_S):
    """Call ``fn``; while the database is away or locked, try again with backoff."""
    start, delay, told = time.monotonic(), 0.5, False
    while True:
        try:
            return fn()
        except sa.exc.DBAPIError as exc:
            away = isinstance(exc, (sa.exc.OperationalError, sa.exc.InterfaceError))
            if not (away or exc.connection_invalidated):
                raise
            if time.monotonic() - start > patience_s:
                raise AblateError(
                    f"{what} has been unreachable for {patience_s:.0f} s: "
                    f"{mask_url(str(exc.orig))[:200]}"
                ) from None
            if not told:
                print(
                    f"ablate: {what} is unreachable or locked ({mask_url(str(exc.orig))[:120]}"
                    "); retrying",
                    file=sys.stderr,
                )
                told = True
            time.sleep(delay)
            delay = min(10.0, delay * 2)


def _ticket(row, won: bool = False, stale: bool = False) -> Ticket:
    return Ticket(row.state, row.owner, row.attempts, json.loads(row.result or "{}"), won, stale)


def _clock(dialect: str):
    """The database's current time in seconds since the epoch, as an SQL expression."""
    if dialect == "sqlite":
        return sa.literal_column("((julianday('now') - 2440587.5) * 86400.0)", sa.Float)
    if dialect == "postgresql":
        return sa.literal_column("extract(epoch from clock_timestamp())", sa.Float)
    if dialect in ("mysql", "mariadb"):
        return sa.literal_column("unix_timestamp(now(6))", sa.Float)
    raise AblateError(f"the study database's dialect {dialect!r} is not supported for claims")


def _create_table(engine) -> None:
    try:
        _meta.create_all(engine, checkfirst=True)
    except (sa.exc.IntegrityError, sa.exc.ProgrammingError):
        # Two drivers creating it at the same moment on PostgreSQL: the other one won.
        if not sa.inspect(engine).has_table(TABLE.name):
            raise
