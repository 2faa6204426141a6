"""The sweep driver: a study's (configuration, seed) cells, each trained exactly once.

    open   the study (Optuna), its tickets, the journal to MLflow, the study's records, workers
    loop   idle workers get cells this driver has claimed -> what workers report is handled ->
           every few seconds: the cells other drivers hold, the dead, the journal
    close  interrupted runs KILLED and their tickets freed; the journal delivered; a summary

Any number of drivers, on any machines that share the Optuna storage and the MLflow tracking
URI, can run one study: a cell is trained by the driver that claims it (:mod:`.claims`), a
configuration's trial is told by the driver that resolves its last cell. A failed cell is
retried (``retries``) only for faults of the machinery (a worker that died, a CUDA error), never
for a diverged loss.

What happens to a cell is :mod:`.cells` (its states and moves); what ends or extends a
configuration early, :mod:`.decide`; telling a trial, :mod:`.tell`. One piece (about 450
lines): the loop's steps share the driver's state (the cells in flight, the open
configurations, the bar), and each reads best beside the others.
"""

from __future__ import annotations

import math
import os
import sys
import time
import uuid

from ablate import checkpoint as ckpt
from ablate import provenance as P
from ablate import spec as S
from ablate import tracking as T
from ablate.errors import AblateError
from ablate.study import adapter as A
from ablate.study import resources as R
from ablate.study import worker as W
from ablate.study.cells import Cell, Config, Life, State
from ablate.study.claims import Tickets
from ablate.study.configs import ConfirmSource, GridSource, SamplerSource
from ablate.study.counts import finish_counts, seed_epochs
from ablate.study.decide import FAIL, KEEP, PRUNE, SEEDS, Verdict
from ablate.study.names import check_study_name
from ablate.study.orphans import adopt_orphans
from ablate.study.pool import WorkerPool
from ablate.study.race import Racing
from ablate.study.records import Records, pin_code_version
from ablate.study.result import Options, SweepResult
from ablate.study.rungs import Rungs
from ablate.study.signals import Interrupted, signals
from ablate.study.tell import tell
from ablate.tracking.journal import Journal, new_key

__all__ = ["Interrupted", "Options", "SweepResult", "sweep"]

RETRIED = {"worker_died", "cuda"}  # faults of the machinery, not of the configuration
DRAIN_S = float(os.environ.get("ABLATE_DRAIN_S", 1800))  # wait this long for MLflow at the end


def sweep(spec: S.Experiment, options: Options | None = None, **kwargs) -> SweepResult:
    """Run (or resume, or join) the experiment's study; see the module docstring."""
    d = Driver(spec, options or Options(**kwargs))
    with signals(d):
        try:
            d.open()
            while d.busy():
                d.dispatch()
                d.handle(d.pool.events(timeout=0.5))
                d.tick()
                d.check_signal()
        except Interrupted as exc:
            d.stop(f"interrupted by {exc.name}", "interrupted")
            raise
        finally:
            d.close()
    return d.result


class Driver:
    def __init__(self, spec: S.Experiment, opts: Options):
        self.spec, self.opts = spec, opts
        self.name = opts.study_name or spec.name
        self.owner = f"{os.uname().nodename}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.configs: list[Config] = []
        self.running: dict[str, tuple[Cell, object]] = {}  # cell id -> (cell, worker slot)
        self.by_run_key: dict[str, str] = {}  # a live seed run's key -> its cell id
        self.signal: str | None = None
        self.stopping: str | None = None
        self.pool = self.journal = self.heart = self.bar = self.racing = None
        self.deciders: list = []
        self._next_tick = 0.0
        self._told_problem = None
        self._judge_due = True  # something changed that may let a decider decide

    # -- open -------------------------------------------------------------------------------
    def open(self) -> None:
        from ablate.preflight import preflight

        spec, opts = self.spec, self.opts
        if spec.search.sampler != "grid" and not spec.search.n_trials:
            raise AblateError(f"the {spec.search.sampler} sampler needs search.n_trials")
        check_study_name(self.name)
        gpus = R.chosen_gpus(spec.train.device, opts.gpus)
        places = R.placements(opts.workers, gpus, opts.workers_per_gpu)
        preflight(spec, placed_on_gpu=bool(gpus))
        uri = T.tracking_uri(opts.tracking_uri)
        T.check_tracking_uri(uri)
        storage_url = opts.storage or A.DEFAULT_STORAGE
        rdb = A.open_storage(storage_url)
        self.study = A.open_study(rdb, self.name, spec, storage_url, opts.confirm is not None)
        self.tickets = Tickets(A.db_url(storage_url), self.name, self.owner, A.GRACE_S)
        with T.first_use(uri):  # MlflowClient() opens the store: may create its tables
            c = T.retried(lambda: T.client(uri))
            exp_id = T.retried(lambda: T.get_or_create_experiment(c, spec.name))
        self.result = SweepResult(self.name, exp_id, None, uri)
        self.journal = Journal(uri, opts.journal_root, on_status=self._on_status)
        self.life = Life(self.tickets, self.journal, self.result, exp_id, self._progress)
        fp = S.fingerprint_id(spec)
        if opts.reuse_stale and (told := pin_code_version(c, exp_id, self.name, fp,
                                                           spec.plugins)):  # fmt: skip
            _say(told)
        # The grid, computed once for all who need it (each configuration's hash: after
        # --reuse-stale has pinned the code version that the hashes include).
        self.grid = S.grid_configs(spec) if spec.search.sampler == "grid" else {}
        code = P.code_version(spec.plugins)
        provenance = {**P.source_tags(), **P.versions(spec.plugins), "ablate.code_version": code}
        self.records = Records(self.journal, self.tickets, exp_id, self.name,
                               f"{self.name}@{fp}:{code}", provenance)  # fmt: skip
        adopt_orphans(self.journal, self.tickets, self.by_run_key)
        self.records.open_study_run(c, spec, storage_url, opts.overrides,
                                    confirm=opts.confirm is not None)  # fmt: skip
        self.records.import_finished(c)
        self.records.end_orphaned_runs(c)
        self._open_source()
        self.heart = A.Heartbeat(self.study, self.tickets)
        self.heart.start()
        self.pool = WorkerPool(places)
        most, self._expected = seed_epochs(spec, opts, self.grid)
        self._skipped = 0
        self.bar = _bar(most, opts.progress, self.name)
        self._postfix()

    def _open_source(self) -> None:
        """Where configurations come from, and who may end or extend them early."""
        spec, args = self.spec, (self.spec, self.study, self.tickets, self.records)
        if self.opts.confirm is not None:
            self.source = ConfirmSource(*args, *self.opts.confirm)
        elif spec.search.sampler == "grid":
            self.source = GridSource(*args, self.grid)
        else:
            self.source = SamplerSource(*args)
        if spec.search.race is not None and self.opts.confirm is None:
            self.source.racing = self.racing = Racing(spec, self.tickets, self.grid)
            self.deciders.append(self.racing)
        self.rungs = Rungs(spec, self.study, self.tickets, self.grid)
        if self.rungs.active:
            self.deciders.insert(0, self.rungs)
        elif spec.search.pruner.name != "none" and not self.opts.confirm:
            _say(
                f"ablate: search.pruner {spec.search.pruner.name!r} has no rung below "
                f"train.epochs={spec.train.epochs}: nothing will be pruned"
            )

    # -- the loop ---------------------------------------------------------------------------
    def busy(self) -> bool:
        if self.stopping:
            return False
        self._finish_resolved()
        return (
            bool(self.running)
            or any(not c.resolved() for c in self.configs)
            or (not self.source.exhausted())
        )

    def dispatch(self) -> None:
        for slot in self.pool.idle():
            if not slot.ready or self.stopping:
                continue
            cell = self._next_cell()
            if cell is None:
                return
            self._start(cell, slot)

    def _next_cell(self) -> Cell | None:
        while True:
            for config in self.configs:
                for cell in config.in_state(State.PENDING):
                    if self.life.claim(cell, self.spec.train.checkpoint):
                        return cell
            self._finish_resolved()
            before, complete = self.source.complete_cells, self.source.complete_configs
            config = self.source.next()
            self.result.reused += self.source.complete_cells - before
            if self.source.complete_configs > complete:  # all they may spend is spent
                done = self.source.complete_configs - complete
                self._progress(done * self._seeds_at_most() * self.spec.train.epochs)
            if config is None:
                return None
            self.configs.append(config)
            if config.trial is not None:
                self.heart.watch(config.trial, config.ticket)

    def _start(self, cell: Cell, slot) -> None:
        cell.curve = {}
        if cell.resume:
            cell.run_key = cell.resume
            self.records.resume_seed_run(cell.run_key, cell.attempts)
        else:
            cell.run_key = new_key()
            self.records.start_seed_run(cell.run_key, cell, cell.attempts)
        self.life.move(cell, "start", {"run_key": cell.run_key})
        self.running[cell.id] = (cell, slot)
        self.by_run_key[cell.run_key] = cell.id
        files = self.journal.files(cell.run_key)
        pause = self.rungs.pause_points(cell.config)
        self.pool.submit(
            slot, cell.id, W.payload(cell, files, pause, ckpt.folder(cell.run_key), P.PINNED)
        )

    def handle(self, events) -> None:
        """What workers report: journal operations, epochs, and how each cell ended."""
        for slot, message in events:
            self._judge_due = True
            kind = message[0]
            if kind == "ops":
                for op in message[1]:
                    self.journal.append(op)
            elif kind == "epoch":
                _, cell_id, epoch, value = message
                if cell_id in self.running:
                    cell = self.running[cell_id][0]
                    cell.curve[epoch] = value
                    self.life.advance(cell, epoch + 1)
            elif kind in ("done", "paused"):
                self._ended(kind, message[1], message[2])
                slot.cell = None
            elif kind == "failed":
                self._failed(message[1], message[2], message[3])
                slot.cell = None
                if message[3] == "cuda":  # that worker exits: its CUDA context is suspect
                    self.pool.replace(slot)
            elif kind == "died" and message[2] in self.running:
                _, code, cell_id = message
                why = "killed" if code and code < 0 else "exited"
                self._failed(
                    cell_id, f"the worker process {why} (exit code {code}) during the run",
                    "worker_died",
                )  # fmt: skip
        self._finish_resolved()

    def _ended(self, kind: str, cell_id: str, r: dict) -> None:
        """A seed finished (``done``) or reached a rung, where it waits checkpointed for the
        pruner's decision (``paused``)."""
        cell, _ = self.running.pop(cell_id)
        value = r["objective"] if kind == "done" else r["value"]
        if not math.isfinite(value):
            self._resolve_failed(cell, f"non-finite objective {value}", "diverged")
        elif kind == "paused":
            result = {"run_key": cell.run_key, "at": r["epochs"], "value": value,
                      "fit_s": r["fit_s"], "ended": True}  # fmt: skip
            self.life.move(cell, "paused", result, rung=r["epochs"])
        else:
            fit_s = r["metrics"].get("time/fit_s")  # every segment of the run, resumed too
            result = {"objective": value, "run_key": cell.run_key, "fit_s": fit_s,
                      "epochs": r["epochs"]}  # fmt: skip
            self.journal.log_metrics(cell.run_key, {"objective": value}, r["epochs"] - 1)
            if self.life.move(cell, "trained", result):
                self._share(cell)

    def _failed(self, cell_id: str, reason: str, kind: str) -> None:
        cell, _ = self.running.pop(cell_id)
        if kind in RETRIED and cell.attempts <= self.opts.retries:
            result = {"run_key": cell.run_key, "ended": True}
            self.life.move(cell, "retried", result, why=reason, kind=kind)
        else:
            self._resolve_failed(cell, reason, kind)

    def _resolve_failed(self, cell: Cell, reason: str, kind: str) -> None:
        result = {"reason": reason, "kind": kind, "run_key": cell.run_key}
        self.life.move(cell, "failed", result, why=reason, kind=kind)
        self._share(cell)
        limit = self.opts.max_failures
        if limit is not None and self.result.failed >= limit:
            self.stop(f"{self.result.failed} runs failed (--max-failures {limit})", "stopped")

    def _share(self, cell: Cell) -> None:
        """Other open trials of the same configuration (a sampler proposing it again) wait on
        this cell: they get its result now."""
        for config in self.configs:
            other = config.cells.get(cell.seed)
            if other is not None and other is not cell and other.id == cell.id:
                if other.state is State.HELD:
                    self.life.seen(other, cell.state, cell.result)

    # -- deciders: pruning at rungs, racing -------------------------------------------------
    def _decide(self) -> None:
        for decider in self.deciders:
            for verdict in decider.judge(self.configs, self.source.exhausted):
                self._carry_out(verdict)

    def _carry_out(self, v: Verdict) -> None:
        config = v.config
        if v.action == KEEP:
            for cell in config.in_state(State.PAUSED):
                self.life.move(cell, "kept", cell.result)
        elif v.action in (PRUNE, FAIL):
            kind, event = ("pruned", "pruned") if v.action == PRUNE else ("failed", "ended")
            for cell in config.in_state(State.PAUSED):
                result = {**cell.result, "reason": v.why, "kind": kind}
                self.life.move(cell, event, result, why=v.why, kind=kind, rung=v.rung)
        elif v.action == SEEDS:
            for s in v.seeds:
                config.cells[s] = Cell(config, s)
            config.racing = v.racing
        else:  # OUT: resolved with the seeds it has (raced out, or ended otherwise)
            config.racing = False
            if v.at is not None:
                self.journal.set_tags(config.run_key, {"ablate.raced_out_at": str(v.at)})

    def _finish_resolved(self) -> None:
        if self._judge_due:  # a worker reported, or a heartbeat passed
            self._judge_due = False
            self._decide()
        for config in [c for c in self.configs if c.resolved()]:
            if config.role == "seed":  # the seeds it never got (raced out, or ended)
                never = self._seeds_at_most() - len(config.cells)
                self._progress(max(0, never) * self.spec.train.epochs, True)
            tell(config, self.spec, self.study, self.tickets, self.journal)
            self.configs.remove(config)
            if config.trial is not None:
                self.heart.unwatch(config.trial, config.ticket)

    def tick(self) -> None:
        """Every heartbeat: cells held elsewhere, put-off configurations, the journal."""
        now = time.monotonic()
        if now < self._next_tick:
            return
        self._next_tick = now + A.HEARTBEAT_S
        self._judge_due = True
        for config in self.configs:
            for cell in config.in_state(State.HELD):
                t = self.tickets.get("cell", cell.id)
                if t is None or t.state == "free" or t.stale:
                    self.life.seen(cell, "free")  # claimable: its holder released it or died
                elif t.state != "running":
                    self.life.seen(cell, t.state, t.result)
        if self.spec.search.sampler == "grid":
            A.fail_stale(self.study)
        self.source.retry_later()
        self._finish_resolved()
        self.records.settle()
        self._watch_journal()

    def _watch_journal(self) -> None:
        """Say when MLflow stops taking writes, and when it takes them again."""
        problem = self.journal.problem
        if bool(problem) != bool(self._told_problem):
            if problem:
                _say(
                    f"ablate: MLflow unreachable ({problem[:100]}); its writes wait in the "
                    "journal and training goes on"
                )
            else:
                _say("ablate: MLflow is back; sending what the journal holds")
        self._told_problem = problem

    def check_signal(self) -> None:
        if self.signal:
            raise Interrupted(self.signal)

    # -- stop and close ---------------------------------------------------------------------
    def stop(self, reason: str, kind: str) -> None:
        """End the sweep now: in-flight runs KILLED with ``reason``, their cells freed (for
        the next sweep, which continues the same run: from its checkpoint, or from the start
        if it had none yet)."""
        if self.stopping:
            return
        self.stopping = reason
        self.result.stopped = reason
        if self.pool is not None:
            self.pool.close(timeout=0)
        if self.journal is None:
            return
        for cell, _ in self.running.values():
            result = {"run_key": cell.run_key, "ended": True, "interrupted": True}
            self.life.move(cell, "interrupted", result, why=reason, kind=kind)
        self.running.clear()
        mine = [
            c for c in self.configs
            if c.ticket and _owner(self.tickets.get(*c.ticket)) == self.owner
        ]  # fmt: skip
        A.interrupt(self.study, [c.trial.number for c in mine], reason)
        for config in mine:
            self.journal.set_status(config.run_key, "KILLED", reason, kind)
        self.tickets.release_all()

    def close(self) -> None:
        if self.heart is not None:
            self.heart.stop()
        if self.pool is not None:
            self.pool.close()
        if self.bar is not None:
            self.bar.close()
        if self.journal is None:
            return
        if not self.stopping:
            self.journal.set_status(self.records.study_key, "FINISHED")
        else:
            status, kind = ("KILLED", "interrupted") if self.signal else ("FAILED", "stopped")
            self.journal.set_status(self.records.study_key, status, self.stopping, kind)
        finish_counts(self.spec, self.opts, self.grid, self.racing, self.tickets, self.study,
                      self.result)  # fmt: skip
        self._drain()
        self.result.study_run_id = self.journal.run_id(self.records.study_key)
        for seen in self.result.failures.values():  # run keys -> MLflow's run ids
            seen[2] = self.journal.run_id(seen[2]) if seen[2] else None

    def _drain(self) -> None:
        """Wait for MLflow to take what the journal holds (briefly after Ctrl-C)."""
        patience = 20.0 if self.signal else DRAIN_S
        end = time.monotonic() + patience
        if self.journal.pending() and not self.journal.drain(5):
            _say(
                f"ablate: waiting up to {patience:.0f} s for MLflow at "
                f"{T.mask_url(self.result.tracking_uri)} to take {self.journal.pending()} "
                "writes from the journal (Ctrl-C leaves them there for the next sweep)"
            )
        try:
            while not self.journal.drain(2) and time.monotonic() < end:
                self._watch_journal()
            self._watch_journal()
            delivered = self.journal.close(timeout=max(0.0, end - time.monotonic()))
        except KeyboardInterrupt:
            delivered = False
        if delivered:
            self.records.settle()
        self.result.undelivered = 0 if delivered else max(1, self.journal.pending())

    # -- callbacks --------------------------------------------------------------------------
    def _on_status(self, key: str, status: str) -> None:
        """The journal stored a run's status: a cell's run FINISHED in MLflow is done."""
        cell_id = self.by_run_key.get(key)
        if cell_id is not None and status == "FINISHED":
            self.tickets.set("cell", cell_id, "done")

    def _progress(self, n: int, skipped: bool = False) -> None:
        """``n`` seed-epochs trained, or ``skipped`` (pruned, raced out, failed)."""
        if self.bar is not None and n > 0:
            self.bar.update(n)
            if skipped:
                self._skipped += n
                self._postfix()

    def _seeds_at_most(self) -> int:
        """The seeds a configuration may get: the search's, or the confirmation's."""
        if self.opts.confirm is not None:
            return len(self.opts.confirm[1])
        return len(self.spec.search.seeds)

    def _postfix(self) -> None:
        """Beside the bar: what the study is expected to train, and what it skipped."""
        parts = []
        if self._expected < self.bar.total:
            parts.append(f"expected ~{self._expected}")
        if self._skipped:
            parts.append(f"{self._skipped} skipped (pruned, raced out or failed)")
        if parts:
            self.bar.set_postfix_str("; ".join(parts), refresh=False)


def _say(line: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


def _owner(ticket) -> str | None:
    return None if ticket is None else ticket.owner


def _bar(total: int, enabled: bool, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"sweep {name}", unit="seed-epoch", disable=not enabled)
