"""Everything ablate asks of Optuna: storage, study, sampler, trials, heartbeats.

Every use of Optuna's private API is in this file (``study._storage``, ``study._study_id``,
``_get_stale_trial_ids``), so an Optuna release that moves them breaks one module.
Optuna's own heartbeat thread only runs under ``optimize()``; ablate drives trials with
ask/tell, so :class:`Heartbeat` records the beats itself.

One piece (about 380 lines) on purpose: every Optuna call in one file, so that an Optuna release
is checked against one module.
"""

from __future__ import annotations

import json
import sys
import threading
import warnings
from collections.abc import Iterable
from typing import Any

from ablate import spec as S
from ablate import tracking as T
from ablate.errors import AblateError

HEARTBEAT_S = 5  # a RUNNING trial or a held ticket without a beat for GRACE_S is a dead one's
GRACE_S = 20
DEFAULT_STORAGE = "sqlite:///optuna.db"
INTERRUPTED = "ablate.interrupted"  # a trial whose driver died or was stopped (not a result)
REOPENS = "ablate.reopens"  # this trial continues trial N (new seeds, or N was interrupted)


def db_url(url: str) -> str:
    """The SQLAlchemy URL for a storage URL: relative SQLite paths made absolute (one file for
    every process), ``postgresql://`` bound to psycopg 3 (SQLAlchemy 2.1's default)."""
    url = T.absolute_sqlite(url)
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return url


def open_storage(url: str):
    import optuna

    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
    shown = T.mask_url(url)
    if url.startswith("sqlite:///"):
        T.private_sqlite(url[len("sqlite:///") :], "Optuna storage", shown)
    engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
    try:
        with T.first_use(url):
            return T.retried(
                lambda: optuna.storages.RDBStorage(
                    db_url(url),
                    engine_kwargs=engine,
                    heartbeat_interval=HEARTBEAT_S,
                    grace_period=GRACE_S,
                )  # fmt: skip
            )
    except Exception as exc:  # noqa: BLE001  (SQLAlchemy/driver errors vary by backend)
        hint = ""
        if "postgresql" in url and "psycopg" in str(exc):
            hint = " (install the driver: pip install 'ablate[postgres]')"
        raise AblateError(
            f"cannot open Optuna storage {shown!r}: {T.mask_url(str(exc))[:300]}{hint}"
        ) from None


def open_study(storage, name: str, spec: S.Experiment, storage_url: str, confirm: bool = False):
    """Create or load the study; refuse one that holds a different experiment. A search (not
    a confirmation) records its whole experiment, report settings and runtime settings
    included, for ``ablate confirm STUDY`` and ``ablate report STUDY``."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    direction = spec.objective.direction
    try:
        study = optuna.create_study(
            study_name=name, storage=storage, sampler=make_sampler(spec), direction=direction,
            pruner=make_pruner(spec), load_if_exists=True,
        )  # fmt: skip
    except Exception as exc:  # noqa: BLE001
        raise AblateError(
            f"cannot create or load study {name!r}: {T.mask_url(str(exc))[:300]}"
        ) from None
    fp = S.fingerprint(spec)
    stored = study.user_attrs.get("ablate.fingerprint")
    if stored is None:
        study.set_user_attr("ablate.fingerprint", fp)
        study.set_user_attr("ablate.experiment", spec.name)
        study.set_user_attr("ablate.plugins", spec.plugins)
    elif stored != fp:
        before = json.loads(stored)
        if json.dumps(S.without_runtime(before), sort_keys=True) == fp:
            why = ("made by an earlier ablate, whose configuration hashes included the runtime "
                   "settings (loader workers, threads, device, checkpoint, keep)")  # fmt: skip
        else:
            why = f"a different experiment ({S.changes(before, json.loads(fp))})"
        raise AblateError(
            f"study {name!r} already exists in {T.mask_url(storage_url)} with {why}; pass "
            "--study NEW_NAME to start a new study"
        )
    if study.direction.name.lower() != direction:
        raise AblateError(f"study {name!r} exists with direction {study.direction.name.lower()}")
    if confirm:
        return study
    if study.user_attrs.get("ablate.seeds") != spec.search.seeds:
        study.set_user_attr("ablate.seeds", spec.search.seeds)
    dumped = spec.model_dump(mode="json")
    if study.user_attrs.get("ablate.spec") != dumped:
        study.set_user_attr("ablate.spec", dumped)
    return study


def differs(storage_url: str, name: str, spec: S.Experiment) -> str | None:
    """How the study's experiment differs from ``spec`` ("changed a: 1 -> 2"), or None when it
    is the same (or there is no such study yet)."""
    import optuna

    try:
        attrs = optuna.load_study(study_name=name, storage=db_url(storage_url)).user_attrs
    except KeyError:
        return None
    stored = attrs.get("ablate.fingerprint")
    if stored is None or stored == S.fingerprint(spec):
        return None
    return S.changes(json.loads(stored), json.loads(S.fingerprint(spec)))


def make_sampler(spec: S.Experiment):
    import optuna

    s = spec.search
    if s.sampler == "tpe":
        return optuna.samplers.TPESampler(seed=s.sampler_seed, constant_liar=True)
    # Random, and the grid's bookkeeping: grid trials are created with their values fixed
    # (fixed_trial), one per configuration, so the sampler is never asked for them.
    return optuna.samplers.RandomSampler(seed=s.sampler_seed)


def make_pruner(spec: S.Experiment):
    """Optuna's pruner for ``search.pruner``; its resource is the epoch count (a rung)."""
    import optuna

    p = spec.search.pruner
    if p.name == "median":
        return optuna.pruners.MedianPruner(
            n_startup_trials=p.get("n_startup_trials"), n_warmup_steps=p.get("n_warmup_steps"),
            interval_steps=p.get("interval_steps"),
        )  # fmt: skip
    if p.name == "successive_halving":
        return optuna.pruners.SuccessiveHalvingPruner(
            min_resource=p.get("min_resource"), reduction_factor=p.get("reduction_factor"),
            min_early_stopping_rate=p.get("min_early_stopping_rate"),
        )  # fmt: skip
    if p.name == "hyperband":
        return optuna.pruners.HyperbandPruner(
            min_resource=p.get("min_resource"), max_resource=spec.train.epochs,
            reduction_factor=p.get("reduction_factor"),
        )  # fmt: skip
    return optuna.pruners.NopPruner()


def synchronous(spec: S.Experiment) -> bool:
    """Successive halving over a grid: ablate decides a rung once every configuration of the
    grid has reached it (textbook successive halving), not Optuna's asynchronous variant."""
    return spec.search.sampler == "grid" and spec.search.pruner.name == "successive_halving"


def report(trial, value: float, step: int) -> None:
    """A configuration's value at a rung (the mean over its seeds), once per step."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*already reported")
        trial.report(value, step)


def should_prune(trial) -> bool:
    return bool(trial.should_prune())


def intermediate(study, number: int) -> dict[int, float]:
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return dict(study._storage.get_trial(trial_id).intermediate_values)


def copy_intermediate(study, trial, values: dict[int, float]) -> None:
    """A continued trial carries the rung values its predecessor reported."""
    for step, value in values.items():
        study._storage.set_trial_intermediate_value(trial._trial_id, int(step), value)


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
            value = trial.suggest_float(alias, p.low, p.high, step=p.step, log=p.log)
            # On a step, the grid's value (0.6, not Optuna's 0.6000000000000001): the same
            # configuration hash as a grid's, and a readable run name.
            values[alias] = round(value, 10) if p.step else value
    return values


def distributions(spec: S.Experiment, values: dict[str, Any]) -> dict[str, Any]:
    """The Optuna distribution of each parameter ``values`` has (what :func:`suggest` asks)."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    out: dict[str, Any] = {}
    for alias, c in S.search_space(spec).items():
        if alias not in values:
            continue
        p = c.param
        if p.type == "categorical":
            out[alias] = CategoricalDistribution(p.choices)
        elif p.type == "int":
            out[alias] = IntDistribution(int(p.low), int(p.high), step=int(p.step or 1), log=p.log)
        else:
            out[alias] = FloatDistribution(p.low, p.high, step=p.step, log=p.log)
    return out


def ask(study):
    with warnings.catch_warnings():
        # Optuna's heartbeat thread only runs under optimize(); Heartbeat covers ask/tell.
        warnings.filterwarnings("ignore", message="Heartbeat of storage")
        trial = study.ask()
    study._storage.record_heartbeat(trial._trial_id)
    return trial


def fixed_trial(study, spec: S.Experiment, values: dict[str, Any], attrs: dict[str, Any],
                steps: dict[int, float] | None = None):  # fmt: skip
    """A RUNNING trial whose parameters are ``values`` (a grid configuration), with the rung
    values ``steps`` of the trial it continues."""
    import datetime

    import optuna
    from optuna.trial import FrozenTrial, TrialState

    dists = distributions(spec, values)
    template = FrozenTrial(
        number=-1, state=TrialState.RUNNING, value=None,
        datetime_start=datetime.datetime.now(), datetime_complete=None,
        params={a: values[a] for a in dists},
        distributions=dists, user_attrs=dict(attrs), system_attrs={},
        intermediate_values=dict(steps or {}),
        trial_id=-1,
    )  # fmt: skip
    trial_id = study._storage.create_new_trial(study._study_id, template_trial=template)
    study._storage.record_heartbeat(trial_id)
    return optuna.trial.Trial(study, trial_id)


def trial_state(study, number: int) -> str:
    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return study._storage.get_trial(trial_id).state.name


def set_attr(trial, key: str, value: Any) -> None:
    trial.set_user_attr(key, value)


def tell(study, trial, value: float | None, pruned: bool = False) -> None:
    """COMPLETE with ``value``; FAIL when it is None (a configuration with a failed seed);
    PRUNED (Optuna keeps its last rung value) when a pruner stopped it."""
    from optuna.trial import TrialState

    if pruned:
        study.tell(trial, state=TrialState.PRUNED, skip_if_finished=True)
    elif value is None:
        study.tell(trial, state=TrialState.FAIL, skip_if_finished=True)
    else:
        study.tell(trial, value, skip_if_finished=True)


def interrupt(study, trial_numbers: Iterable[int], reason: str) -> list:
    """Fail RUNNING trials as interrupted (not a result: they will be continued)."""
    import optuna
    from optuna.trial import TrialState

    storage, failed = study._storage, []
    for number in trial_numbers:
        tid = storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
        try:
            storage.set_trial_user_attr(tid, INTERRUPTED, reason)
            if storage.set_trial_state_values(tid, state=TrialState.FAIL):
                failed.append(storage.get_trial(tid))
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # finished meanwhile (told by a live driver, or failed by another)
    return failed


def fail_stale(study) -> list:
    """Fail the trials whose driver died (no heartbeat for GRACE_S); return them."""
    storage = study._storage
    stale = storage._get_stale_trial_ids(study._study_id)
    numbers = [storage.get_trial(tid).number for tid in stale]
    return interrupt(study, numbers, "its driver stopped beating (killed or lost)")


def enqueue(study, params: dict[str, Any], reopens: int | None = None) -> None:
    study.enqueue_trial(params, user_attrs={} if reopens is None else {REOPENS: reopens})


def reference_values(spec: S.Experiment) -> dict[str, Any]:
    """The report's reference as search values: ``report.reference``, else the first level of
    each parameter (the grid's first cell: the low end of a range, the first choice)."""
    if spec.search.sampler == "grid" or spec.report.reference is not None:
        return dict(spec.report.reference or {})
    return {a: p.choices[0] if p.type == "categorical" else (int(p.low) if p.type == "int"
            else p.low) for a, p in spec.search.params.items()}  # fmt: skip


def trials(study, states: tuple[str, ...] | None = None) -> list:
    from optuna.trial import TrialState

    want = None if states is None else tuple(TrialState[s] for s in states)
    return study.get_trials(deepcopy=False, states=want)


def budget_used(study) -> int:
    """Trials that count toward ``n_trials`` (Optuna's optimize semantics: failed ones do);
    an interrupted trial, or one continued by another, counts once, through its successor."""
    all_trials = trials(study)
    superseded = {t.user_attrs.get(REOPENS) for t in all_trials} - {None}
    return sum(
        1 for t in all_trials if not t.user_attrs.get(INTERRUPTED) and t.number not in superseded
    )


class Heartbeat(threading.Thread):
    """Beats, every HEARTBEAT_S, the Optuna trials and the tickets this driver works under."""

    def __init__(self, study, tickets):
        super().__init__(daemon=True, name="ablate-heartbeat")
        self._storage, self._tickets = study._storage, tickets
        self._trials: set[int] = set()
        self._shared: set[tuple[str, str]] = set()
        self._lock, self._stop = threading.Lock(), threading.Event()
        self.failures = 0

    def watch(self, trial, shared: tuple[str, str] | None = None) -> None:
        with self._lock:
            self._trials.add(trial._trial_id)
            if shared:
                self._shared.add(shared)

    def unwatch(self, trial, shared: tuple[str, str] | None = None) -> None:
        with self._lock:
            self._trials.discard(trial._trial_id)
            self._shared.discard(shared)

    def run(self) -> None:
        while not self._stop.wait(HEARTBEAT_S):
            with self._lock:
                ids, shared = list(self._trials), list(self._shared)
            try:
                self._tickets.beat(shared)
                for trial_id in ids:
                    self._storage.record_heartbeat(trial_id)
                self.failures = 0
            except Exception as exc:  # noqa: BLE001  (the database is away: try next beat)
                self.failures += 1
                if self.failures == 1:
                    print(
                        f"ablate: heartbeat failed ({T.mask_url(str(exc))[:120]}); retrying",
                        file=sys.stderr,
                    )

    def stop(self) -> None:
        self._stop.set()


def trial_by_number(study, number: int):
    import optuna

    trial_id = study._storage.get_trial_id_from_study_id_trial_number(study._study_id, number)
    return optuna.trial.Trial(study, trial_id)
