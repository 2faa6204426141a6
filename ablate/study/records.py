"""The study's MLflow records: one study run, one run per configuration, one per cell.

Shared runs (the study run, a configuration's run) are created exactly once across drivers: the
driver that wins the ``study_run`` / ``config_run`` ticket journals the creation, the others
refer to the same run by its key (a tag), which the journal resolves once the run is stored.
Keys are derived from the study's name and fingerprint, so a study recreated with a different
experiment never reuses the old runs, and one recreated with the same experiment does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import yaml

from ablate import spec as S
from ablate import tracking as T
from ablate.study.claims import Tickets
from ablate.tracking.journal import Journal


@dataclass
class Records:
    """What a driver writes to MLflow, through its journal."""

    journal: Journal
    tickets: Tickets
    experiment_id: str
    study: str
    study_key: str  # "<study name>@<fingerprint id>"
    provenance: dict[str, str] = field(default_factory=dict)  # source and version tags
    creating: dict[tuple[str, str], str] = field(default_factory=dict)  # ticket -> run key

    def config_key(self, config_hash: str) -> str:
        return f"{self.study_key}/{config_hash}"

    # -- the shared runs --------------------------------------------------------------------
    def open_study_run(
        self, c, spec: S.Experiment, storage_url: str, overrides: list[str], confirm=False
    ):
        key = self.study_key
        ticket = self.tickets.claim("study_run", key)
        if ticket.won:
            found = T.search(c, self.experiment_id, {T.RUN_KEY: key})
            if found:
                self.journal.bind(key, found[0].info.run_id, self.experiment_id)
                self.tickets.set("study_run", key, "done", {"run_id": found[0].info.run_id})
            else:
                fp = key.rsplit("@", 1)[1].split(":", 1)[0]
                tags = {**self.provenance, T.ROLE: "study", T.STUDY: self.study,
                        T.STUDY_KEY: key, T.FINGERPRINT: fp}  # fmt: skip
                self.journal.create_run(key, self.experiment_id, self.study, tags)
                self.journal.log_params(key, study_params(spec, storage_url))
                self.creating[("study_run", key)] = key
        else:
            self.journal.expect(key, self.experiment_id)
        # Tags, not params: they change between sweeps of one study (seeds may be added). A
        # confirmation keeps what the search said (its seeds, overrides, racing's alpha); the
        # report settings are the experiment's, the study's own when confirmed by name.
        tags = {"ablate.report_settings": spec.report.model_dump_json()[:5000]}
        if not confirm:
            tags |= {
                "ablate.seeds": json.dumps(spec.search.seeds),
                "ablate.overrides": json.dumps(overrides)[:5000],
                "ablate.race_alpha": str(spec.search.race.alpha if spec.search.race else 0),
            }
        self.journal.set_tags(key, tags)
        self.journal.clear_failure(key)  # an earlier sweep's interruption is over
        self.journal.set_status(key, "RUNNING")

    def open_config_run(
        self, config_hash: str, label: str, trial: int, params: dict, reopen: bool
    ) -> str:
        """The configuration's run: created by the first driver to get here; ``reopen`` (this
        driver opened a new trial for it) marks it RUNNING again. A driver that only joins
        another's configuration leaves its status alone: the teller ends it."""
        key = self.config_key(config_hash)
        ticket = self.tickets.claim("config_run", config_hash)
        if ticket.won:
            tags = {
                **self.provenance, T.ROLE: "config", T.STUDY: self.study,
                T.STUDY_KEY: self.study_key, T.TRIAL: str(trial), T.HASH: config_hash,
            }  # fmt: skip
            self.journal.create_run(key, self.experiment_id, label, tags, parent=self.study_key,
                                    reuse=True)  # fmt: skip
            self.journal.log_params(key, params)
            self.creating[("config_run", config_hash)] = key
        elif reopen:
            self.journal.expect(key, self.experiment_id)
            self.journal.set_tags(key, {T.TRIAL: str(trial)})
            self.journal.clear_failure(key)
            self.journal.set_status(key, "RUNNING")
        else:
            self.journal.expect(key, self.experiment_id)
        return key

    def settle(self) -> None:
        """Mark the shared runs this driver created as done once MLflow holds them (until then
        their tickets stay held, so a driver that dies first hands the creation on)."""
        for (kind, ticket_key), run_key in list(self.creating.items()):
            run_id = self.journal.run_id(run_key)
            if run_id is not None:
                self.tickets.set(kind, ticket_key, "done", {"run_id": run_id})
                del self.creating[(kind, ticket_key)]

    # -- seed runs --------------------------------------------------------------------------
    def start_seed_run(self, key: str, cell, attempt: int) -> None:
        config = cell.config
        tags = {
            **self.provenance, T.ROLE: config.role, T.STUDY: self.study,
            T.STUDY_KEY: self.study_key, T.HASH: config.hash, T.SEED: str(cell.seed),
            "ablate.attempt": str(attempt),
        }  # fmt: skip
        if config.trial is not None:
            tags[T.TRIAL] = str(config.trial.number)
        name = f"{config.label} seed={cell.seed}".strip()
        self.journal.create_run(key, self.experiment_id, name, tags, parent=config.run_key)
        self.journal.log_params(key, {**config.values, "seed": cell.seed, **config.spec.flatten()})
        write_experiment_file(self.journal, key, config.spec, name, cell.seed)

    def resume_seed_run(self, key: str, attempt: int) -> None:
        """An earlier attempt's run, continued from its checkpoint (same MLflow run)."""
        self.journal.expect(key, self.experiment_id)
        self.journal.set_tags(key, {"ablate.attempt": str(attempt)})
        self.journal.clear_failure(key)
        self.journal.set_status(key, "RUNNING")

    # -- at start-up ------------------------------------------------------------------------
    def import_finished(self, c) -> int:
        """Cells finished in MLflow but unknown to the tickets (e.g. the Optuna database was
        recreated): recorded as done, so they are reused, not trained again."""
        n = 0
        for r in T.search(c, self.experiment_id, {T.STUDY_KEY: self.study_key, T.ROLE: "seed"}):
            if r.info.status != "FINISHED" or "objective" not in r.data.metrics:
                continue
            cell = f"{r.data.tags[T.HASH]}/{r.data.tags[T.SEED]}"
            result = {
                "objective": r.data.metrics["objective"],
                "run_key": r.data.tags.get(T.RUN_KEY),
                "fit_s": r.data.metrics.get("time/fit_s"),
            }
            n += self.tickets.record("cell", cell, "done", result)
        return n

    def end_orphaned_runs(self, c) -> int:
        """End RUNNING seed and configuration runs that no live driver works on as KILLED."""
        cells = self.tickets.all("cell")
        trials = self.tickets.all("trial")
        stale = []
        for r in T.search(c, self.experiment_id, {T.STUDY_KEY: self.study_key}):
            if r.info.status != "RUNNING":
                continue
            role, tags = r.data.tags.get(T.ROLE), r.data.tags
            if role in ("seed", "confirm"):
                space = "confirm/" if role == "confirm" else ""
                t = cells.get(f"{space}{tags.get(T.HASH)}/{tags.get(T.SEED)}")
                live = (
                    t is not None and t.state in ("running", "trained") and not t.stale
                    and t.result.get("run_key") == tags.get(T.RUN_KEY)
                )  # fmt: skip
            elif role == "config":
                t = trials.get(tags.get(T.HASH, ""))
                if t is not None and t.state == "done":  # told: a late "RUNNING" overtook it
                    c.set_terminated(r.info.run_id, status="FINISHED")
                    continue
                live = t is not None and t.state == "running" and not t.stale
            else:
                continue
            if not live:
                stale.append(r)
        return T.mark_interrupted(c, stale, "interrupted: the process ended before the run did")


def pin_code_version(c, exp_id: str, study: str, fp: str, plugins: list[str]) -> str | None:
    """--reuse-stale: count as this code the code that made the study's latest runs; returns
    what to tell the user, if anything."""
    from ablate import provenance as P

    runs = T.search(c, exp_id, {T.ROLE: "study", T.STUDY: study, T.FINGERPRINT: fp})
    latest = max(runs, key=lambda r: r.info.start_time or 0, default=None)
    old = latest.data.tags.get("ablate.code_version") if latest else None
    now = P.code_version(plugins)
    if not old or old == now:
        return None
    P.PINNED = old
    return (f"ablate: --reuse-stale: reusing runs made with code version {old} (this code is "
            f"{now}); they may not be what this code would produce")  # fmt: skip


def write_experiment_file(journal: Journal, key: str, spec: S.Experiment, name: str, seed: int):
    """The resolved experiment a run trained (a trial's values written in), as the run's
    artifact ``experiment.yaml``."""
    files = journal.files(key)
    text = yaml.safe_dump(spec.model_dump(mode="json"))
    (files / "experiment.yaml").write_text(f"# ablate seed run: {name}\n# seed: {seed}\n{text}")
    journal.log_artifacts(key, str(files / "experiment.yaml"), None)


def study_params(spec: S.Experiment, storage_url: str) -> dict[str, Any]:
    s, o = spec.search, spec.objective
    space = S.search_space(spec)
    return {
        "sampler": s.sampler,
        "n_trials": s.n_trials,
        "objective": f"{o.direction} {o.metric} ({o.reduce})",
        "optuna_storage": T.mask_url(storage_url),
        "search_order": json.dumps(list(space)),
        "fingerprint": S.fingerprint_id(spec),
        **{
            f"search.{a}": json.dumps(
                c.param.model_dump(exclude_none=True)
                | ({"when": {c.parent: c.when}} if c.parent else {})
            )
            for a, c in space.items()
        },
    }
