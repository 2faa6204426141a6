"""The Optuna study driver: one trial per configuration, trained once per seed.

The driver is the only process that talks to Optuna. It enumerates the work as (configuration,
seed) cells, hands cells to worker processes, and tells Optuna a trial's value (the mean over its
seeds) once every seed has finished. MLflow is the record of which cells finished: re-running the
same command trains only the cells that have no FINISHED seed run, so an interrupted sweep resumes
where it stopped and a finished cell is never trained twice.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import threading
import time
import warnings
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Any

from ablate import spec as S
from ablate import tracking as T
from ablate.errors import AblateError
from ablate.report.stats import summarize

HEARTBEAT_S = 5  # a RUNNING trial without a heartbeat for GRACE_S belongs to a dead process
GRACE_S = 20
DEFAULT_STORAGE = "sqlite:///optuna.db"


@dataclass
class TrialWork:
    trial: Any  # optuna.Trial
    values: dict[str, Any]
    spec: S.Experiment
    config_hash: str
    run_id: str
    results: dict[int, dict] = field(default_factory=dict)
    waiting: set[int] = field(default_factory=set)


@dataclass
class SweepResult:
    study_name: str
    experiment_id: str
    study_run_id: str
    tracking_uri: str
    trained: int
    reused: int
    failed: int
    finished_cells: int
    expected_cells: int


# --------------------------------------------------------------------------------------------


def open_storage(url: str):
    import optuna

    # The heartbeat is what lets a resumed sweep tell a killed one's trials from live ones.
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)

    if url.startswith("sqlite:///"):
        T._check_sqlite_path(url[len("sqlite:///") :], "Optuna storage", url)
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        return optuna.storages.RDBStorage(
            url, engine_kwargs=engine, heartbeat_interval=HEARTBEAT_S, grace_period=GRACE_S
        )
    except Exception as exc:  # noqa: BLE001  (SQLAlchemy/driver errors vary by backend)
        raise AblateError(f"cannot open Optuna storage {url!r}: {exc}") from None


def make_sampler(spec: S.Experiment):
    import optuna

    s = spec.search
    if s.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=s.sampler_seed, constant_liar=True)
    if s.sampler == "random":
        return optuna.samplers.RandomSampler(seed=s.sampler_seed)
    # Grid cells are enqueued up front and popped one at a time (see _pop_waiting); this sampler
    # only records the enqueued values.
    return optuna.samplers.RandomSampler(seed=s.sampler_seed)


def suggest(trial, spec: S.Experiment) -> dict[str, Any]:
    """Ask the trial for every parameter; a chosen method's own ones only when it is chosen
    (a define-by-run conditional space, which TPE models per branch)."""
    values: dict[str, Any] = {}
    for alias, c in S.search_space(spec).items():
        if c.parent is not None and values.get(c.parent) != c.when:
            continue
        p = c.param
        if p.type == "categorical":
            values[alias] = trial.suggest_categorical(alias, p.choices)
        elif p.type == "int":
            values[alias] = trial.suggest_int(
                alias, int(p.low), int(p.high), step=int(p.step or 1), log=p.log
            )
        else:
            values[alias] = trial.suggest_float(alias, p.low, p.high, step=p.step, log=p.log)
    return values


def search_fingerprint(spec: S.Experiment) -> str:
    """What must not change between runs of one study (seeds may be added)."""
    d = spec.model_dump(mode="json")
    d["search"] = {k: v for k, v in d["search"].items() if k != "seeds"}
    for p in d["search"]["params"].values():  # studies made before the field existed match
        if p.get("spaces") is True:
            del p["spaces"]
    keep = {
        k: d[k] for k in ("data", "model", "terms", "combiner", "train", "objective", "search")
    }
    return json.dumps(keep, sort_keys=True)


# --------------------------------------------------------------------------------------------


def sweep(
    spec: S.Experiment,
    *,
    workers: int = 1,
    storage: str | None = None,
    tracking_uri: str | None = None,
    study_name: str | None = None,
    progress: bool = True,
    overrides: list[str] | None = None,
) -> SweepResult:
    import optuna
    from optuna.trial import TrialState

    if workers < 1:
        raise AblateError("--workers must be at least 1")
    tracking_uri = T.tracking_uri(tracking_uri)
    T.check_tracking_uri(tracking_uri)
    storage_url = T.absolute_sqlite(storage or DEFAULT_STORAGE)
    rdb = open_storage(storage_url)
    name = study_name or spec.name
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = spec.objective.direction
    try:
        study = optuna.create_study(
            study_name=name,
            storage=rdb,
            sampler=make_sampler(spec),
            direction=direction,
            load_if_exists=True,
        )
    except Exception as exc:  # noqa: BLE001
        raise AblateError(f"cannot create or load study {name!r}: {exc}") from None
    fp = search_fingerprint(spec)
    stored = study.user_attrs.get("ablate.fingerprint")
    if stored is None:
        study.set_user_attr("ablate.fingerprint", fp)
        study.set_user_attr("ablate.experiment", spec.name)
    elif stored != fp:
        raise AblateError(
            f"study {name!r} already exists in {storage_url} with a different experiment "
            "(its configuration or search space changed); pass --study NEW_NAME to start a new "
            "study, or remove the old one"
        )
    if study.direction.name.lower() != direction:
        raise AblateError(f"study {name!r} exists with direction {study.direction.name.lower()}")

    c = T.client(tracking_uri)
    exp_id = T.get_or_create_experiment(c, spec.name)
    study_run_id = _study_run(c, exp_id, name, spec, storage_url, overrides or [])
    _reconcile(study, c, exp_id, name)
    if spec.search.sampler == "grid":
        _enqueue_missing_grid(study, spec)

    threads = max(1, (os.cpu_count() or 1) // workers)
    ctx = mp.get_context("spawn")
    pool = ProcessPoolExecutor(
        max_workers=workers,
        mp_context=ctx,
        initializer=_init_worker,
        initargs=(threads, os.getpid()),
    )
    heart = _Heartbeat(rdb)
    heart.start()
    inflight: dict[Future, tuple[TrialWork, int]] = {}
    counts = {"trained": 0, "reused": 0, "failed": 0}
    total = _expected_cells(spec)
    bar = _bar(total, progress, name)
    try:
        while True:
            while len(inflight) < workers:
                work = _next_trial(study, spec, c, exp_id, study_run_id, name)
                if work is None:
                    break
                heart.add(work.trial._trial_id)
                bar.update(len(work.results))
                counts["reused"] += len(work.results)
                for seed in sorted(work.waiting):
                    fut = pool.submit(run_cell, _payload(work, seed, tracking_uri, exp_id, name))
                    inflight[fut] = (work, seed)
                if not work.waiting:
                    _finish_trial(study, c, work, spec, heart)
            if not inflight:
                if _others_running(study):
                    # Another process holds trials: wait until they finish, or until their
                    # heartbeats go stale (a killed sweep) and their cells can be taken over.
                    time.sleep(HEARTBEAT_S)
                    _reconcile(study, c, exp_id, name)
                    if spec.search.sampler == "grid":
                        _enqueue_missing_grid(study, spec)
                    continue
                break
            done, _ = wait(inflight, return_when=FIRST_COMPLETED)
            for fut in done:
                work, seed = inflight.pop(fut)
                result = fut.result()
                work.results[seed] = result
                work.waiting.discard(seed)
                counts["trained" if result["status"] == "FINISHED" else "failed"] += 1
                bar.update(1)
                if not work.waiting:
                    _finish_trial(study, c, work, spec, heart)
    except BrokenProcessPool:
        raise AblateError(
            "a worker process died (out of memory?); run the same command again to resume"
        ) from None
    finally:
        bar.close()
        heart.stop()
        pool.shutdown(wait=True, cancel_futures=True)

    complete = study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
    summary = {
        "study/configs_complete": len(complete),
        "study/cells_trained": counts["trained"],
        "study/cells_failed": counts["failed"],
    }
    if complete:
        summary["study/best_value"] = study.best_value
    T.log_metrics(c, study_run_id, summary)
    T.end_run(c, study_run_id, "FINISHED")
    finished = {
        (r.data.tags[T.HASH], r.data.tags[T.SEED])
        for r in T.find_runs(c, exp_id, study=name, role="seed")
        if r.info.status == "FINISHED" and int(r.data.tags[T.SEED]) in spec.search.seeds
    }
    return SweepResult(
        name,
        exp_id,
        study_run_id,
        tracking_uri,
        **counts,
        finished_cells=len(finished),
        expected_cells=total,
    )


def _study_run(c, exp_id, name, spec, storage_url, overrides) -> str:
    runs = T.find_runs(c, exp_id, role="study", study=name)
    if runs:
        run_id = runs[0].info.run_id
        T.reopen_run(c, run_id)
        return run_id
    run_id = T.start_run(c, exp_id, name, {T.ROLE: "study", T.STUDY: name})
    s, o = spec.search, spec.objective
    space = S.search_space(spec)
    T.log_params(
        c,
        run_id,
        {
            "sampler": s.sampler,
            "seeds": json.dumps(s.seeds),
            "n_trials": s.n_trials,
            "objective": f"{o.direction} {o.metric} ({o.reduce})",
            "optuna_storage": storage_url,
            "overrides": json.dumps(overrides),
            "search_order": json.dumps(list(space)),
            **{
                f"search.{a}": json.dumps(
                    c.param.model_dump(exclude_none=True)
                    | ({"when": {c.parent: c.when}} if c.parent else {})
                )
                for a, c in space.items()
            },
        },
    )
    return run_id


def _reconcile(study, c, exp_id: str, name: str) -> None:
    """Fail trials whose process died; end their MLflow runs as KILLED."""
    import optuna
    from optuna.trial import TrialState

    optuna.storages.fail_stale_trials(study)
    live = {str(t.number) for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))}
    stale = [
        r
        for r in T.find_runs(c, exp_id, study=name)
        if r.info.status == "RUNNING"
        and r.data.tags.get(T.ROLE) in ("config", "seed")
        and r.data.tags.get(T.TRIAL) not in live
    ]
    T.mark_interrupted(c, stale, "interrupted: the process ended before the run finished")


def _enqueue_missing_grid(study, spec: S.Experiment) -> None:
    """Enqueue every grid configuration that is neither done for all seeds nor under way."""
    from optuna.trial import TrialState

    seeds = set(spec.search.seeds)
    have = set()
    for t in study.get_trials(
        deepcopy=False, states=(TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
    ):
        if t.state == TrialState.COMPLETE and not seeds <= set(t.user_attrs.get("seeds", [])):
            continue  # finished for fewer seeds than now asked: train the new seeds
        params = t.system_attrs.get("fixed_params", t.params)
        have.add(json.dumps(params, sort_keys=True))
    for cell in S.grid_cells(spec):
        if json.dumps(cell, sort_keys=True) not in have:
            study.enqueue_trial(cell)


def _pop_waiting(study):
    """Take one enqueued trial atomically (two workers can never take the same cell)."""
    import optuna
    from optuna.trial import TrialState

    storage = study._storage
    study_id = storage.get_study_id_from_name(study.study_name)
    for t in storage.get_all_trials(study_id, deepcopy=False, states=(TrialState.WAITING,)):
        # Heartbeat first: Optuna never counts a RUNNING trial without one as stale, so a kill
        # between the state change and a later first beat would leave the cell blocked forever.
        storage.record_heartbeat(t._trial_id)
        try:
            if storage.set_trial_state_values(t._trial_id, state=TrialState.RUNNING):
                return optuna.trial.Trial(study, t._trial_id)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    return None


def _next_trial(study, spec, c, exp_id, study_run_id, name) -> TrialWork | None:
    from optuna.trial import TrialState

    if spec.search.sampler == "grid":
        trial = _pop_waiting(study)
    else:
        states = (TrialState.COMPLETE, TrialState.RUNNING, TrialState.WAITING)
        if len(study.get_trials(deepcopy=False, states=states)) >= spec.search.n_trials:
            trial = _pop_waiting(study)
        else:
            with warnings.catch_warnings():
                # Optuna's heartbeat thread only runs under optimize(); ours (_Heartbeat) covers
                # ask/tell, so its warning about that does not apply here.
                warnings.filterwarnings("ignore", message="Heartbeat of storage")
                trial = study.ask()
            study._storage.record_heartbeat(trial._trial_id)
    if trial is None:
        return None
    values = suggest(trial, spec)
    trial_spec = S.with_values(spec, values)
    h = trial_spec.config_hash()
    trial.set_user_attr("config_hash", h)
    run_id = _config_run(c, exp_id, study_run_id, name, trial.number, h, values, trial_spec)
    work = TrialWork(trial, values, trial_spec, h, run_id)
    finished = {}
    for r in T.find_runs(c, exp_id, study=name, config_hash=h, role="seed"):
        seed = int(r.data.tags[T.SEED])
        if r.info.status == "FINISHED" and seed in spec.search.seeds and seed not in finished:
            finished[seed] = {
                "status": "FINISHED",
                "objective": r.data.metrics.get("objective"),
                "metrics": dict(r.data.metrics),
                "run_id": r.info.run_id,
            }
    work.results = finished
    work.waiting = set(spec.search.seeds) - set(finished)
    return work


def _config_run(c, exp_id, study_run_id, name, number, h, values, trial_spec) -> str:
    label = " ".join(f"{k}={v}" for k, v in values.items()) or "default"
    existing = T.find_runs(c, exp_id, study=name, config_hash=h, role="config")
    if existing:
        run_id = existing[0].info.run_id
        T.reopen_run(c, run_id)
        c.set_tag(run_id, T.TRIAL, str(number))
        return run_id
    run_id = T.start_run(
        c,
        exp_id,
        label,
        {T.ROLE: "config", T.STUDY: name, T.TRIAL: str(number), T.HASH: h},
        study_run_id,
    )
    T.log_params(c, run_id, {**values, **trial_spec.flatten()})
    return run_id


def _finish_trial(study, c, work: TrialWork, spec: S.Experiment, heart) -> None:
    from optuna.trial import TrialState

    ok = [r for r in work.results.values() if r["status"] == "FINISHED"]
    metric = spec.objective.metric
    if ok:
        s = summarize([r["objective"] for r in ok])
        agg = s.as_metrics(metric)
        for key in ("time/fit_s",):
            vals = [r["metrics"][key] for r in ok if key in r["metrics"]]
            if vals:
                agg[f"{key}_mean"] = summarize(vals).mean
        T.log_metrics(c, work.run_id, agg)
    failed = [r for r in work.results.values() if r["status"] != "FINISHED"]
    heart.remove(work.trial._trial_id)
    if failed or not ok:
        reason = "; ".join(f"seed {r['seed']}: {r.get('reason')}" for r in failed)
        T.end_run(c, work.run_id, "FAILED", reason or "no seed finished")
        study.tell(work.trial, state=TrialState.FAIL)
        return
    T.end_run(c, work.run_id, "FINISHED")
    work.trial.set_user_attr("seeds", sorted(work.results))
    study.tell(work.trial, s.mean)


def _others_running(study) -> bool:
    from optuna.trial import TrialState

    return bool(study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)))


def _expected_cells(spec) -> int:
    n = len(S.grid_cells(spec)) if spec.search.sampler == "grid" else spec.search.n_trials
    return n * len(spec.search.seeds)


def _bar(total: int, enabled: bool, name: str):
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=f"sweep {name}", unit="run", disable=not enabled)


class _Heartbeat(threading.Thread):
    """Records a heartbeat for every trial this process holds, so others can tell it is alive."""

    def __init__(self, storage):
        super().__init__(daemon=True, name="ablate-heartbeat")
        self._storage, self._ids, self._stop = storage, set(), threading.Event()
        self._lock = threading.Lock()

    def add(self, trial_id: int) -> None:
        with self._lock:
            self._ids.add(trial_id)
        self._storage.record_heartbeat(trial_id)

    def remove(self, trial_id: int) -> None:
        with self._lock:
            self._ids.discard(trial_id)

    def run(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                ids = list(self._ids)
            for i in ids:
                try:
                    self._storage.record_heartbeat(i)
                except Exception:  # noqa: BLE001  (a finished trial can race its last beat)
                    pass

    def stop(self) -> None:
        self._stop.set()


# --------------------------------------------------------------------------------------------
# Worker side


def _init_worker(threads: int, parent_pid: int) -> None:
    import torch

    _die_with_parent(parent_pid)
    torch.set_num_threads(threads)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass


def _die_with_parent(parent_pid: int) -> None:
    """A worker must not outlive a killed driver: it would finish a cell a resumed sweep redoes."""
    import signal

    try:
        import ctypes

        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except OSError:
        pass
    if os.getppid() != parent_pid:
        os._exit(1)


def _payload(work: TrialWork, seed: int, tracking_uri, exp_id, name) -> dict:
    return {
        "spec": work.spec.model_dump(mode="json"),
        "values": work.values,
        "seed": seed,
        "trial": work.trial.number,
        "config_hash": work.config_hash,
        "config_run": work.run_id,
        "tracking_uri": tracking_uri,
        "experiment_id": exp_id,
        "study": name,
    }


def run_cell(p: dict) -> dict:
    """Train one (configuration, seed) cell as a seed run; never raises for a training failure."""
    import torch

    from ablate.train import fit

    spec = S.validate(p["spec"], check_search=False)
    c = T.client(p["tracking_uri"])
    label = " ".join(f"{k}={v}" for k, v in p["values"].items())
    tags = {
        T.ROLE: "seed",
        T.STUDY: p["study"],
        T.TRIAL: str(p["trial"]),
        T.HASH: p["config_hash"],
        T.SEED: str(p["seed"]),
    }
    run_id = T.start_run(
        c, p["experiment_id"], f"{label} seed={p['seed']}".strip(), tags, p["config_run"]
    )
    reporter = None
    try:
        T.log_params(c, run_id, {**p["values"], "seed": p["seed"], **spec.flatten()})
        reporter = T.MLflowReporter(c, run_id)
        result = fit(spec, p["seed"], reporter, progress=False)
        reporter.close()
        c.set_tag(run_id, "ablate.device", result.device)
        if torch.cuda.is_available() and result.device.startswith("cuda"):
            c.set_tag(run_id, "ablate.gpu", result.device_name)
        T.log_metrics(c, run_id, {"objective": result.objective})
        T.end_run(c, run_id, "FINISHED")
        return {
            "status": "FINISHED",
            "seed": p["seed"],
            "objective": result.objective,
            "metrics": result.metrics,
            "run_id": run_id,
        }
    except Exception as exc:  # noqa: BLE001  (any failure ends the run FAILED; the sweep goes on)
        if reporter is not None:
            try:
                reporter.close()
            except Exception:  # noqa: BLE001
                pass
        reason = f"{type(exc).__name__}: {exc}"
        T.end_run(c, run_id, "FAILED", reason)
        return {"status": "FAILED", "seed": p["seed"], "reason": reason, "run_id": run_id}
