"""Where configurations come from: a grid, a sampler (tpe, random) or a confirmation.

A configuration is one trial, trained once per seed; each (configuration, seed) is a *cell*
(:mod:`.cells`). Grid configurations are enumerated up front and opened in order; a grid
configuration's trial is created and told exactly once across drivers (its ``trial`` ticket).
Sampler configurations (tpe, random) come from ``ask()``, at most ``n_trials`` of them across
drivers; an interrupted trial, or a finished one that lacks newly added seeds, is continued by
an enqueued twin.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from ablate import spec as S
from ablate.study import adapter as A
from ablate.study.cells import Cell, Config
from ablate.study.claims import Tickets
from ablate.study.records import Records

LATER = "later"  # another driver is opening this configuration: try again at the next tick


class Source:
    """Opens configurations for a driver; ``None`` when there is nothing more to open now."""

    def __init__(self, spec: S.Experiment, study, tickets: Tickets, records: Records):
        self.spec, self.study, self.tickets, self.records = spec, study, tickets, records
        self.complete_cells = 0  # cells of configurations found complete (nothing to open)
        self.complete_configs = 0  # and those configurations
        self.racing = None  # search.race: a configuration's seeds so far (study.race.Racing)

    def seeds_for(self, config_hash: str) -> list[int]:
        if self.racing is not None:
            return self.racing.seeds_for(config_hash)
        return list(self.spec.search.seeds)

    def next(self) -> Config | None:
        raise NotImplementedError

    def exhausted(self) -> bool:
        raise NotImplementedError

    def retry_later(self) -> None:
        """Called every tick: configurations put off with LATER may be opened again."""

    def _config(
        self, trial, values: dict[str, Any], ticket: tuple[str, str], opened: bool = True
    ) -> Config:
        spec = S.with_values(self.spec, values)
        h = spec.config_hash()
        label = S.label(values)
        run_key = self.records.open_config_run(
            h, label, trial.number, {**values, **spec.flatten()}, reopen=opened
        )
        config = Config(trial, values, spec, h, run_key, ticket)
        config.cells = {s: Cell(config, s) for s in self.seeds_for(h)}
        config.racing = self.racing is not None and self.racing.racing(h)
        return config


class GridSource(Source):
    def __init__(self, spec, study, tickets, records, grid: dict[str, dict[str, Any]]):
        super().__init__(spec, study, tickets, records)
        self.todo = deque(grid.items())  # (configuration hash, search values), in order
        self.later: list[tuple[str, dict[str, Any]]] = []

    def exhausted(self) -> bool:
        return not self.todo and not self.later

    def retry_later(self) -> None:
        self.todo.extend(self.later)
        self.later.clear()

    def next(self) -> Config | None:
        while self.todo:
            h, values = self.todo.popleft()
            config = self._open(h, values)
            if config == LATER:
                self.later.append((h, values))
            elif config is not None:
                return config
        return None

    def _open(self, h: str, values: dict[str, Any]):
        seeds = self.seeds_for(h)
        t = self.tickets.claim("trial", h)
        if t.won:
            old = t.result.get("trial")
            if old is not None and A.trial_state(self.study, old) == "RUNNING":
                A.interrupt(self.study, [old], "its drivers stopped; continued by a new trial")
            trial = self._new_trial(values, h, old)
        elif t.state == "done":
            if set(seeds) <= set(t.result.get("seeds", [])):
                self.complete_cells += len(seeds)  # every seed asked for is in
                self.complete_configs += 1
                return None
            if not self.tickets.reopen("trial", h):
                return LATER
            trial = self._new_trial(values, h, t.result.get("trial"))
        else:
            number = t.result.get("trial")
            if number is None:
                return LATER  # its opener has not created the trial yet
            trial = A.trial_by_number(self.study, number)
            return self._config(trial, values, ("trial", h), opened=False)  # joining it
        return self._config(trial, values, ("trial", h))

    def _new_trial(self, values, h: str, old: int | None):
        attrs = {"config_hash": h} | ({A.REOPENS: old} if old is not None else {})
        steps = A.intermediate(self.study, old) if old is not None else {}
        trial = A.fixed_trial(self.study, self.spec, values, attrs, steps)
        self.tickets.set("trial", h, "running", {"trial": trial.number})
        return trial


class SamplerSource(Source):
    """tpe / random: ``n_trials`` trials in all, failed ones included (Optuna's semantics)."""

    def __init__(self, spec, study, tickets, records):
        super().__init__(spec, study, tickets, records)
        self._later = False
        # The report's reference is the study's first trial, as a grid's first cell is: a
        # sampler alone might never propose it, and the report would have nothing to compare
        # against. Once per study, across drivers.
        if self.tickets.claim("reference", "enqueued").won:
            if not A.trials(self.study):
                A.enqueue(self.study, A.reference_values(spec))
            self.tickets.set("reference", "enqueued", "done")
        self.reopen_unfinished()

    def exhausted(self) -> bool:
        if A.trials(self.study, ("WAITING",)):
            return False
        return A.budget_used(self.study) >= self.spec.search.n_trials and not self._later

    def retry_later(self) -> None:
        self._later = False
        self.reopen_unfinished()

    def next(self) -> Config | None:
        if not A.trials(self.study, ("WAITING",)):
            used = A.budget_used(self.study)
            if used >= self.spec.search.n_trials:
                return None
            t = self.tickets.claim("ask", str(used))  # one ask per place in the budget
            if not t.won:
                self._later = True
                return None
            trial = A.ask(self.study)
            self.tickets.set("ask", str(used), "done", {"trial": trial.number})
        else:
            trial = A.ask(self.study)  # pops the waiting trial
            old = trial.user_attrs.get(A.REOPENS)
            if old is not None:
                A.copy_intermediate(self.study, trial, A.intermediate(self.study, old))
        if not self.tickets.claim("trial", f"#{trial.number}").won:
            return None  # another driver popped the same waiting trial
        values = A.suggest(trial, self.spec)
        h = S.with_values(self.spec, values).config_hash()
        A.set_attr(trial, "config_hash", h)
        return self._config(trial, values, ("trial", f"#{trial.number}"))

    def reopen_unfinished(self) -> None:
        """Continue (once, across drivers) the trials whose driver died, and finished trials
        that lack seeds added since: an enqueued twin reuses their finished cells."""
        A.fail_stale(self.study)
        seeds = set(self.spec.search.seeds)
        all_trials = A.trials(self.study)
        superseded = {t.user_attrs.get(A.REOPENS) for t in all_trials} - {None}
        for t in all_trials:
            if t.number in superseded:
                continue
            lacking = t.state.name == "COMPLETE" and not seeds <= set(
                t.user_attrs.get("seeds", [])
            )
            if not (t.user_attrs.get(A.INTERRUPTED) or lacking):
                continue
            if self.tickets.claim("reopen", str(t.number)).won:
                A.enqueue(self.study, t.params, t.number)
                self.tickets.set("reopen", str(t.number), "done")


class ConfirmSource(Source):
    """Confirmation: given configurations re-trained on fresh seeds, no Optuna trial (these
    runs are not part of the search), seed runs with role ``confirm`` under each
    configuration's run."""

    def __init__(self, spec, study, tickets, records, values: list[dict], seeds: list[int]):
        super().__init__(spec, study, tickets, records)
        self.todo = deque(values)
        self.seeds = seeds

    def exhausted(self) -> bool:
        return not self.todo

    def next(self) -> Config | None:
        if not self.todo:
            return None
        values = self.todo.popleft()
        spec = S.with_values(self.spec, values)
        h = spec.config_hash()
        run_key = self.records.config_key(h)
        self.records.journal.expect(run_key, self.records.experiment_id)
        config = Config(None, values, spec, h, run_key, None, role="confirm",
                        namespace="confirm/")  # fmt: skip
        config.cells = {s: Cell(config, s) for s in self.seeds}
        return config
