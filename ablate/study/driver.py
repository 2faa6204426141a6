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
"""

from __future__ import annotations

import math
import os
import signal
import sys
import time
import uuid
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from ablate import checkpoint as ckpt
from ablate import provenance as P
from ablate import spec as S
from ablate import tracking as T
from ablate.checkpoint import Checkpoints
from ablate.errors import AblateError
from ablate.report.stats import summarize
from ablate.study import adapter as A
from ablate.study import resources as R
from ablate.study.claims import Tickets
from ablate.study.configs import Cell, Config, ConfirmSource, GridSource, SamplerSource
from ablate.study.pool import WorkerPool
from ablate.study.race import Racing
from ablate.study.records import Records
from ablate.study.rungs import KEEP, Rungs
from ablate.tracking.journal import Journal, adopt, discard, new_key, orphans

RETRIED = {"worker_died", "cuda"}  # faults of the machinery, not of the configuration
DRAIN_S = float(os.environ.get("ABLATE_DRAIN_S", 1800))  # wait this long for MLflow at the end


@dataclass
class Options:
    workers: int | None = None
    gpus: list[str] | None = None  # None: every visible GPU; []: none
    workers_per_gpu: int | None = None
    storage: str | None = None
    tracking_uri: str | None = None
    study_name: str | None = None
    progress: bool = True
    overrides: list[str] = field(default_factory=list)
    retries: int = 1
    max_failures: int | None = None
    journal_root: Path | None = None
    # Confirmation: these configurations (search values) on these fresh seeds, not a search.
    confirm: tuple[list[dict], list[int]] | None = None
    reuse_stale: bool = False  # reuse runs made by another version of the code


@dataclass
class SweepResult:
    study_name: str
    experiment_id: str
    study_run_id: str | None
    tracking_uri: str
    trained: int = 0
    reused: int = 0
    failed: int = 0
    retried: int = 0
    finished_cells: int = 0
    expected_cells: int = 0
    pruned_cells: int = 0  # seed runs a pruner stopped at a rung
    pruned_configs: int = 0
    raced_out: int = 0  # configurations that stopped short of every seed (search.race)
    failure_kinds: dict[str, int] = field(default_factory=dict)
    # Each distinct reason runs failed for: its first line -> [kind, count, one run's id]
    failures: dict[str, list] = field(default_factory=dict)
    stopped: str | None = None  # why the sweep ended early, if it did
    undelivered: int = 0  # journal operations MLflow has not received yet
    configs: int = 0  # distinct configurations
    trials: int | None = None  # trials counted toward n_trials (tpe, random)

    @property
    def complete(self) -> bool:
        done = self.finished_cells + self.pruned_cells
        return done == self.expected_cells and not self.stopped

    def summary(self) -> str:
        kinds = ", ".join(f"{k}: {v}" for k, v in sorted(self.failure_kinds.items()))
        line = (
            f"study {self.study_name}: {self.finished_cells} of {self.expected_cells} "
            f"(configuration, seed) runs finished; this sweep trained {self.trained}, reused "
            f"{self.reused}, failed {self.failed}" + (f" ({kinds})" if kinds else "")
        )
        if self.pruned_cells:
            line += (
                f"; {self.pruned_cells} runs of {self.pruned_configs} configurations pruned "
                "at a rung"
            )
        if self.raced_out:
            line += f"; {self.raced_out} configurations raced out with fewer seeds"
        if self.retried:
            line += f", retried {self.retried}"
        if self.trials is not None and self.trials != self.configs:
            line += f"; {self.trials} trials proposed {self.configs} distinct configurations"
        if self.stopped:
            line += f"; stopped: {self.stopped}"
        if self.undelivered:
            line += f"; {self.undelivered} tracking writes wait in the journal for MLflow"
        return "\n".join([line, *self.failure_lines()])

    def failure_lines(self) -> list[str]:
        """Why runs failed: one line per distinct reason (its first line, how many, one run);
        a single line when every run of this sweep failed for the same reason."""

        def run(r: list) -> str:
            return f"MLflow run {r[2]}" if r[2] else "MLflow run not stored yet"

        if len(self.failures) == 1 and self.failed and not self.trained and not self.reused:
            ((reason, r),) = self.failures.items()
            return [f"every run failed with the same {r[0]}: {reason} ({r[1]} runs; e.g. "
                    f"{run(r)})"]  # fmt: skip
        return [
            f"  {r[1]} failed ({r[0]}): {reason} (e.g. {run(r)})"
            for reason, r in sorted(self.failures.items(), key=lambda kv: -kv[1][1])
        ]


class Interrupted(KeyboardInterrupt):
    def __init__(self, name: str):
        super().__init__(name)
        self.name = name


def sweep(spec: S.Experiment, options: Options | None = None, **kwargs) -> SweepResult:
    """Run (or resume, or join) the experiment's study; see the module docstring."""
    d = Driver(spec, options or Options(**kwargs))
    with _signals(d):
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
        self.pool = self.journal = self.heart = self.bar = self.rungs = self.racing = None
        self._next_tick = 0.0
        self._told_problem = None
        self._judge_due = True  # something changed that may let a rung be decided

    # -- open -------------------------------------------------------------------------------
    def open(self) -> None:
        from ablate.preflight import preflight

        spec, opts = self.spec, self.opts
        if spec.search.sampler != "grid" and not spec.search.n_trials:
            raise AblateError(f"the {spec.search.sampler} sampler needs search.n_trials")
        check_study_name(self.name)
        gpus = self._gpus()
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
        fp = A.fingerprint_id(spec)
        if opts.reuse_stale:
            self._pin_code_version(c, exp_id, fp)
        code = P.code_version(spec.plugins)
        provenance = {**P.source_tags(), **P.versions(spec.plugins), "ablate.code_version": code}
        self.records = Records(self.journal, self.tickets, exp_id, self.name,
                               f"{self.name}@{fp}:{code}", provenance)  # fmt: skip
        self._adopt_orphans()
        self.records.open_study_run(c, spec, storage_url, opts.overrides,
                                    confirm=opts.confirm is not None)  # fmt: skip
        self.records.import_finished(c)
        self.records.end_orphaned_runs(c)
        if opts.confirm is not None:
            self.source = ConfirmSource(spec, self.study, self.tickets, self.records,
                                        *opts.confirm)  # fmt: skip
        else:
            source = GridSource if spec.search.sampler == "grid" else SamplerSource
            self.source = source(spec, self.study, self.tickets, self.records)
            if spec.search.race is not None:
                self.source.racing = self.racing = Racing(spec, self.tickets)
        self.rungs = Rungs(spec, self.study, self.tickets)
        if spec.search.pruner.name != "none" and not self.rungs.active and not opts.confirm:
            _say(
                f"ablate: search.pruner {spec.search.pruner.name!r} has no rung below "
                f"train.epochs={spec.train.epochs}: nothing will be pruned"
            )
        self.heart = A.Heartbeat(self.study, self.tickets)
        self.heart.start()
        self.pool = WorkerPool(places)
        self.bar = _bar(self.expected(), opts.progress, self.name)

    def _pin_code_version(self, c, exp_id: str, fp: str) -> None:
        """--reuse-stale: count as this code the code that made the study's latest runs."""
        runs = T.search(c, exp_id, {T.ROLE: "study", T.STUDY: self.name, T.FINGERPRINT: fp})
        latest = max(runs, key=lambda r: r.info.start_time or 0, default=None)
        old = latest.data.tags.get("ablate.code_version") if latest else None
        now = P.code_version(self.spec.plugins)
        if old and old != now:
            P.PINNED = old
            _say(
                f"ablate: --reuse-stale: reusing runs made with code version {old} (this code "
                f"is {now}); they may not be what this code would produce"
            )

    def _gpus(self) -> list[str]:
        if self.spec.train.device == "cpu":
            return []
        if self.opts.gpus is None:
            return R.visible_gpus()
        visible = R.visible_gpus()
        missing = [g for g in self.opts.gpus if g not in visible]
        if missing and visible != [] or (self.opts.gpus and not visible):
            raise AblateError(
                f"--gpus {','.join(self.opts.gpus)}: not visible here "
                f"(visible: {','.join(visible) or 'none'})"
            )
        return self.opts.gpus

    def _adopt_orphans(self) -> None:
        """Deliver what a killed driver journaled on this machine but never sent. A run it
        finished is delivered FINISHED when its cell is still ours to keep (then it is not
        trained again); any other unfinished run of it ends KILLED."""
        for orphan in orphans(self.journal.folder.parent):
            runs = {}
            for key, ops in orphan.runs.items():
                final = [op for op in ops if op["op"] == "status" and op["status"] != "RUNNING"]
                if key in orphan.ended and not final:
                    runs[key] = ops  # ended, with a few writes before the end left to deliver
                elif final and final[-1].get("cell") and final[-1]["status"] == "FINISHED":
                    if not self._keep_orphan_cell(final[-1]["cell"], key):
                        final[-1]["status"] = "KILLED"
                        ops.insert(-1, _tags_op(key, "superseded: the cell was trained again",
                                                "superseded"))  # fmt: skip
                elif not final and orphan.created.get(key, {}).get(T.ROLE) == "seed":
                    ops = [*ops, _tags_op(key, "interrupted: its driver died", "interrupted"),
                           {"op": "status", "run": key, "status": "KILLED"}]  # fmt: skip
                runs[key] = ops
            adopt(self.journal, orphan, runs)
            discard(orphan)

    def _keep_orphan_cell(self, cell_id: str, run_key: str) -> bool:
        t = self.tickets.get("cell", cell_id)
        if t is None or t.state != "trained" or t.result.get("run_key") != run_key:
            return False
        if not self.tickets.adopt("cell", cell_id, t.owner):
            return False
        self.by_run_key[run_key] = cell_id  # done once MLflow holds it (_on_status)
        return True

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
                for cell in config.cells.values():
                    if cell.state == "pending" and self._claim(cell):
                        return cell
            self._finish_resolved()
            before = self.source.complete_cells
            config = self.source.next()
            self.result.reused += self.source.complete_cells - before
            self._progress(self.source.complete_cells - before)
            if config is None:
                return None
            self.configs.append(config)
            if config.trial is not None:
                self.heart.watch(config.trial, config.ticket)

    def _claim(self, cell: Cell) -> bool:
        t = self.tickets.claim("cell", cell.id)
        if t.won:
            cell.attempts = t.attempts
            cell.resume = None
            dead = t.result.get("run_key")
            if dead and self.spec.train.checkpoint and Checkpoints(ckpt.folder(dead)).files():
                cell.resume = dead  # its checkpoint is here: continue that run where it was
            elif dead and t.result.get("interrupted"):
                cell.resume = dead  # stopped before its first checkpoint: again, in that run
            elif dead and (not t.result.get("ended") or "at" in t.result):
                # A dead driver's run, or one paused on another machine: nothing to resume.
                self.journal.expect(dead, self.result.experiment_id)
                self.journal.set_status(
                    dead, "KILLED", "interrupted: its driver stopped; the cell was taken over",
                    "interrupted",
                )  # fmt: skip
            return True
        if t.state in ("done", "trained"):
            cell.state, cell.result = "done", t.result
            self.result.reused += 1
            self._progress(1)
        elif t.state == "failed":
            cell.state, cell.result = "failed", t.result
            self._progress(1)
        elif t.state in ("paused", "pruned"):
            cell.state, cell.result = t.state, t.result
            self._progress(t.state == "pruned")
        else:
            cell.state = "held"
        return False

    def _start(self, cell: Cell, slot) -> None:
        cell.state, cell.curve = "running", {}
        if cell.resume:
            cell.run_key = cell.resume
            self.records.resume_seed_run(cell.run_key, cell.attempts)
        else:
            cell.run_key = new_key()
            self.records.start_seed_run(cell.run_key, cell, cell.attempts)
        self.tickets.set("cell", cell.id, "running", {"run_key": cell.run_key})
        self.running[cell.id] = (cell, slot)
        self.by_run_key[cell.run_key] = cell.id
        files = self.journal.files(cell.run_key)
        pause = self.rungs.pause_points(cell.config)
        self.pool.submit(slot, cell.id, _payload(cell, files, pause))

    def handle(self, events) -> None:
        for slot, message in events:
            self._judge_due = True
            kind = message[0]
            if kind == "ops":
                for op in message[1]:
                    self.journal.append(op)
            elif kind == "epoch":
                _, cell_id, epoch, value = message
                if cell_id in self.running:
                    self.running[cell_id][0].curve[epoch] = value
            elif kind == "done":
                self._done(message[1], message[2])
                slot.cell = None
            elif kind == "paused":
                self._paused(message[1], message[2])
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

    def _done(self, cell_id: str, r: dict) -> None:
        cell, _ = self.running.pop(cell_id)
        if not math.isfinite(r["objective"]):
            self._resolve_failed(cell, f"non-finite objective {r['objective']}", "diverged")
            return
        fit_s = r["metrics"].get("time/fit_s")  # every segment of the run, resumed ones too
        result = {"objective": r["objective"], "run_key": cell.run_key,
                  "fit_s": fit_s, "epochs": r["epochs"]}  # fmt: skip
        key = cell.run_key
        self.journal.log_metrics(key, {"objective": r["objective"]}, r["epochs"] - 1)
        if self.tickets.set("cell", cell.id, "trained", result):
            self.journal.set_status(key, "FINISHED", cell=cell.id)
            cell.state, cell.result = "done", result
            self.result.trained += 1
            self._progress(1)
            self._share(cell)
        else:  # our claim went stale (a missed heartbeat) and another driver took the cell
            self._superseded(cell)

    def _paused(self, cell_id: str, r: dict) -> None:
        """A seed reached a rung: it waits there (checkpointed) for the pruner's decision."""
        cell, _ = self.running.pop(cell_id)
        if not math.isfinite(r["value"]):
            self._resolve_failed(cell, f"non-finite objective {r['value']}", "diverged")
            return
        result = {"run_key": cell.run_key, "at": r["epochs"], "value": r["value"],
                  "fit_s": r["fit_s"], "ended": True}  # fmt: skip
        key = cell.run_key
        if self.tickets.set("cell", cell.id, "paused", result):
            self.journal.set_tags(key, {"ablate.paused_at": str(r["epochs"])})
            self.journal.set_status(key, "SCHEDULED")
            cell.state, cell.result = "paused", result
        else:
            self._superseded(cell)

    def _superseded(self, cell: Cell) -> None:
        """Our claim went stale (a missed heartbeat) and another driver took the cell over."""
        self.journal.set_status(
            cell.run_key, "KILLED", "superseded: another driver took this cell over", "superseded"
        )
        cell.state = "pending"

    def _judge(self) -> None:
        """Configurations whose seeds all wait at a rung: kept (seeds go on) or pruned."""
        if self.rungs is None or not self.rungs.active:
            return
        for config in self.configs:
            rung = config.at_rung()
            if rung is None:
                continue
            if any(c.state == "failed" for c in config.cells.values()):
                decision, why = "failed", "another seed of this configuration failed"
            else:
                decision = self.rungs.decide(config, rung)
                why = f"pruned at epoch {rung}: the mean over its seeds did not keep it"
            if decision is None:
                continue
            for cell in config.cells.values():
                if cell.state == "paused":
                    self._apply(cell, rung, decision, why)

    def _race(self) -> None:
        """Configurations that finished their seeds while racing: more seeds, or raced out
        (search.race; ablate/study/race.py)."""
        if self.racing is None or not self.source.exhausted():
            return
        waiting = [c for c in self.configs if c.racing and c.finished_seeds() and not c.ended()]
        for n in sorted({len(c.cells) for c in waiting}):
            stage = self.racing.decide(n)
            if stage is None:
                continue
            for config in (c for c in waiting if len(c.cells) == n):
                if config.hash in stage["alive"]:
                    new = [s for s in self.spec.search.seeds[: stage["next"]]
                           if s not in config.cells]  # fmt: skip
                    for s in new:
                        config.cells[s] = Cell(config, s)
                    if self.bar is not None:
                        self.bar.total += len(new)
                        self.bar.refresh()
                    config.racing = stage["next"] < len(self.spec.search.seeds)
                else:  # raced out (or ended otherwise): resolved with the seeds it has
                    config.racing = False
                    if config.hash in stage["out"]:
                        self.journal.set_tags(config.run_key, {"ablate.raced_out_at": str(n)})

    def _apply(self, cell: Cell, rung: int, decision: str, why: str) -> None:
        key = cell.run_key or cell.result["run_key"]
        if decision == KEEP:
            self.tickets.move("cell", cell.id, ("paused",), "free", cell.result, fresh=True)
            cell.state = "pending"
            return
        state = "pruned" if decision != "failed" else "failed"
        result = {**cell.result, "reason": why, "kind": state}
        if self.tickets.move("cell", cell.id, ("paused",), state, result):
            self.journal.expect(key, self.result.experiment_id)
            if state == "pruned":
                self.journal.set_tags(key, {"ablate.pruned_at": str(rung)})
            self.journal.set_status(key, "KILLED", why, state)
            Checkpoints(ckpt.folder(key)).clear()
        cell.state, cell.result = state, result
        self._progress(1)

    def _failed(self, cell_id: str, reason: str, kind: str) -> None:
        cell, _ = self.running.pop(cell_id)
        if kind in RETRIED and cell.attempts <= self.opts.retries:
            self.journal.set_status(cell.run_key, "FAILED", f"{reason} (retried)", kind)
            self.tickets.set("cell", cell.id, "free", {"run_key": cell.run_key, "ended": True})
            cell.state = "pending"
            self.result.retried += 1
            return
        self._resolve_failed(cell, reason, kind)

    def _resolve_failed(self, cell: Cell, reason: str, kind: str) -> None:
        result = {"reason": reason, "kind": kind, "run_key": cell.run_key}
        self.journal.set_status(cell.run_key, "FAILED", reason, kind)
        self.tickets.set("cell", cell.id, "failed", result)
        cell.state, cell.result = "failed", result
        self._share(cell)
        self.result.failed += 1
        self.result.failure_kinds[kind] = self.result.failure_kinds.get(kind, 0) + 1
        first = (reason.strip().splitlines() or ["(no message)"])[0][:300]
        seen = self.result.failures.setdefault(first, [kind, 0, cell.run_key])
        seen[1] += 1
        self._progress(1)
        limit = self.opts.max_failures
        if limit is not None and self.result.failed >= limit:
            self.stop(f"{self.result.failed} runs failed (--max-failures {limit})", "stopped")

    def _share(self, cell: Cell) -> None:
        """Other open trials of the same configuration (a sampler proposing it again) wait on
        this cell: they get its result now."""
        for config in self.configs:
            other = config.cells.get(cell.seed)
            if other is not None and other is not cell and other.id == cell.id:
                if other.state == "held":
                    other.state, other.result = cell.state, cell.result
                    self.result.reused += 1
                    self._progress(1)

    def _finish_resolved(self) -> None:
        if self._judge_due:  # a worker reported, or a heartbeat passed
            self._judge_due = False
            self._judge()
            self._race()
        for config in [c for c in self.configs if c.resolved()]:
            self._tell(config)
            self.configs.remove(config)
            if config.trial is not None:
                self.heart.unwatch(config.trial, config.ticket)

    def _tell(self, config: Config) -> None:
        """Tell Optuna the configuration's value (the mean over its seeds; FAIL when a seed
        failed) and log its aggregate, once, by whichever driver gets here first."""
        seeds = sorted(config.cells)
        trial = config.trial
        if trial is None:
            return  # a confirmation: not part of the search, nothing to tell
        if config.ticket[1].startswith("#"):
            self.tickets.set(*config.ticket, "done", {"trial": trial.number, "seeds": seeds})
        elif not self.tickets.finish(*config.ticket, {"trial": trial.number, "seeds": seeds}):
            return  # another driver told it
        if A.trial_state(self.study, trial.number) != "RUNNING":  # failed as interrupted
            attrs = {"config_hash": config.hash, A.REOPENS: trial.number}
            steps = A.intermediate(self.study, trial.number)
            trial = A.fixed_trial(self.study, self.spec, config.values, attrs, steps)
        cells = config.cells.values()
        failed = [c for c in cells if c.state == "failed"]
        pruned = [c for c in cells if c.state == "pruned"]
        ok = [c.result["objective"] for c in cells if c.state == "done"]
        A.set_attr(trial, "seeds", seeds)
        if pruned and not failed:
            at = pruned[0].result["at"]
            self.journal.set_tags(config.run_key, {"ablate.pruned_at": str(at)})
            self.journal.log_metrics(
                config.run_key, {f"{self.spec.objective.metric}_at_rung": summarize(
                    [c.result["value"] for c in pruned]).mean}, at - 1,
            )  # fmt: skip
            self.journal.set_status(config.run_key, "KILLED", pruned[0].result["reason"],
                                    "pruned")  # fmt: skip
            A.tell(self.study, trial, None, pruned=True)
            return
        if failed:
            why = "; ".join(f"seed {c.seed}: {c.result.get('reason')}" for c in failed)
            self.journal.set_status(config.run_key, "FAILED", why, failed[0].result.get("kind"))
            A.tell(self.study, trial, None)
            return
        s = summarize(ok)
        agg = s.as_metrics(self.spec.objective.metric)
        fits = [c.result["fit_s"] for c in cells if c.result.get("fit_s") is not None]
        if fits:
            agg["time/fit_s_mean"] = summarize(fits).mean
        self.journal.log_metrics(config.run_key, agg)
        self.journal.clear_failure(config.run_key)  # an earlier sweep's interruption is over
        self.journal.set_status(config.run_key, "FINISHED")
        A.tell(self.study, trial, s.mean)

    def tick(self) -> None:
        """Every heartbeat: cells held elsewhere, put-off configurations, the journal."""
        now = time.monotonic()
        if now < self._next_tick:
            return
        self._next_tick = now + A.HEARTBEAT_S
        self._judge_due = True
        for config in self.configs:
            for cell in config.cells.values():
                if cell.state == "held":
                    self._poll_held(cell)
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

    def _poll_held(self, cell: Cell) -> None:
        t = self.tickets.get("cell", cell.id)
        if t is None or t.state == "free" or t.stale:
            cell.state = "pending"  # claimable: its holder released it or died
        elif t.state in ("done", "trained"):
            cell.state, cell.result = "done", t.result
            self.result.reused += 1
            self._progress(1)
        elif t.state in ("failed", "paused", "pruned"):
            cell.state, cell.result = t.state, t.result
            self._progress(t.state != "paused")

    def check_signal(self) -> None:
        if self.signal:
            raise Interrupted(self.signal)

    # -- stop and close ---------------------------------------------------------------------
    def stop(self, reason: str, kind: str) -> None:
        """End the sweep now: in-flight runs KILLED with ``reason``, their cells freed."""
        if self.stopping:
            return
        self.stopping = reason
        self.result.stopped = reason
        if self.pool is not None:
            self.pool.close(timeout=0)
        if self.journal is None:
            return
        for cell, _ in self.running.values():
            self.journal.set_status(cell.run_key, "KILLED", reason, kind)
            # Freed at once for the next sweep, which continues the same run (from its
            # checkpoint, or from the start if it had none yet).
            result = {"run_key": cell.run_key, "ended": True, "interrupted": True}
            self.tickets.set("cell", cell.id, "free", result)
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
        self._finish_counts()
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
        self.result.study_run_id = self.journal.run_id(self.records.study_key)
        for seen in self.result.failures.values():  # run keys -> MLflow's run ids
            seen[2] = self.journal.run_id(seen[2]) if seen[2] else None

    def _finish_counts(self) -> None:
        """Cells finished and expected, study-wide: a sampler that proposes one configuration
        twice expects its cells once."""
        seeds = set(self.spec.search.seeds)
        granted = self.racing.granted() if self.racing is not None else {}
        missing, prefix = 0, ""
        if self.opts.confirm is not None:
            values, confirm_seeds = self.opts.confirm
            hashes = {S.with_values(self.spec, v).config_hash() for v in values}
            seeds, prefix = set(confirm_seeds), "confirm/"
        elif self.spec.search.sampler == "grid":
            hashes = set(S.grid_configs(self.spec))
        else:
            all_trials = A.trials(self.study)
            superseded = {t.user_attrs.get(A.REOPENS) for t in all_trials} - {None}
            counted = [
                t for t in all_trials
                if not t.user_attrs.get(A.INTERRUPTED) and t.number not in superseded
            ]  # fmt: skip
            hashes = {t.user_attrs.get("config_hash") for t in counted} - {None}
            missing = max(0, self.spec.search.n_trials - len(counted))
            self.result.trials = len(counted)
        finished, pruned = 0, set()
        self.result.pruned_cells = 0
        for key, t in self.tickets.all("cell").items():
            if not key.startswith(prefix) or (not prefix and key.startswith("confirm/")):
                continue
            h, _, seed = key[len(prefix) :].rpartition("/")
            if h in granted and int(seed) not in self.spec.search.seeds[: granted[h][0]]:
                continue  # a seed this configuration was not raced to
            if h in hashes and int(seed) in seeds and t.state in ("done", "trained"):
                finished += 1
            elif h in hashes and int(seed) in seeds and t.state == "pruned":
                pruned.add(h)
                self.result.pruned_cells += 1
        self.result.configs = len(hashes)
        self.result.pruned_configs = len(pruned)
        self.result.finished_cells = finished
        self.result.expected_cells = (len(hashes) + missing) * len(seeds)
        if granted:
            self.result.expected_cells = sum(n for h, (n, _) in granted.items() if h in hashes)
            self.result.raced_out = sum(out for h, (_, out) in granted.items() if h in hashes)

    def expected(self) -> int:
        if self.opts.confirm is not None:
            return len(self.opts.confirm[0]) * len(self.opts.confirm[1])
        if self.racing is not None:
            return sum(n for n, _ in self.racing.granted().values())
        s = self.spec.search
        n = len(S.grid_cells(self.spec)) if s.sampler == "grid" else s.n_trials
        return n * len(s.seeds)

    # -- callbacks --------------------------------------------------------------------------
    def _on_status(self, key: str, status: str) -> None:
        """The journal stored a run's status: a cell's run FINISHED in MLflow is done."""
        cell_id = self.by_run_key.get(key)
        if cell_id is not None and status == "FINISHED":
            self.tickets.set("cell", cell_id, "done")

    def _progress(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)


def check_study_name(name: str) -> None:
    """A study name names a report folder: no path separators, no leading dot."""
    import re

    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}", name) or ".." in name:
        raise AblateError(
            f"study name {name!r}: use letters, digits, '_', '.', '-' (it names the report "
            "folder, so it cannot hold a path)"
        )


def _payload(cell: Cell, files: Path, pause: list[int]) -> dict:
    spec = cell.config.spec
    return {
        "cell": cell.id,
        "run_key": cell.run_key,
        "seed": cell.seed,
        "spec": spec.model_dump(mode="json"),
        "objective_metric": spec.objective.metric,
        "checkpoints": str(ckpt.folder(cell.run_key)) if spec.train.checkpoint else None,
        "files": str(files),
        "code_version": P.PINNED,
        "pause": pause,
    }


def _say(line: str) -> None:
    from tqdm.auto import tqdm

    tqdm.write(line, file=sys.stderr)


def _owner(ticket) -> str | None:
    return None if ticket is None else ticket.owner


def _tags_op(key: str, reason: str, kind: str) -> dict:
    return {"op": "tags", "run": key, "tags": {T.FAILURE: reason, T.FAILURE_KIND: kind}}


def _bar(total: int, enabled: bool, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"sweep {name}", unit="run", disable=not enabled)


@contextmanager
def _signals(driver: Driver):
    """SIGINT and SIGTERM end the sweep cleanly: the loop notices at its next turn (within a
    second); before the loop starts they interrupt at once."""
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        name = signal.Signals(signum).name
        if driver.pool is None or driver.stopping:
            raise Interrupted(name)
        driver.signal = name

    old = {s: signal.signal(s, handler) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, h in old.items():
            signal.signal(s, h)
