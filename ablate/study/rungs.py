"""Pruning at rungs: a configuration is judged on the mean over its seeds, never on one seed.

Every seed of a configuration trains to a rung (an epoch count, ``search.pruner``), pauses with
its whole state checkpointed (its MLflow run SCHEDULED), and once all its seeds are there the
configuration's value at the rung -- the mean over its seeds -- goes to its Optuna trial
(``trial.report``). Then the decision, taken once for the study and kept in a ``rung`` ticket
(``{config hash}/{rung}``):

- successive halving over a grid (synchronous, as Jamieson & Talwalkar 2016 describe it): when
  every configuration of the grid has reported the rung or ended, the best
  ``max(1, n // reduction_factor)`` of the ``n`` that reported go on (those tied with the last
  one kept go on too);
- any other pruner, and any pruner under tpe/random: Optuna's own (``trial.should_prune()``),
  asked as soon as the configuration's seeds are all at the rung.

The reference configuration of the report (``keep_reference``) always goes on and is not
ranked: the searched loss's effect is measured against it. A kept configuration's seeds continue
from their checkpoints to the next rung; a pruned one's runs end KILLED with ``ablate.pruned_at``
and its trial PRUNED. Decisions live in the study's database, so a driver killed at any moment
leaves them to the next one: none is taken twice, and none differently.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from ablate import spec as S
from ablate.study import adapter as A
from ablate.study.cells import Config, State
from ablate.study.claims import Tickets
from ablate.study.decide import FAIL, KEEP, PRUNE, Decider, Verdict


class Rungs(Decider):
    def __init__(self, spec: S.Experiment, study, tickets: Tickets, grid: dict[str, dict]):
        self.spec, self.study, self.tickets = spec, study, tickets
        self.pruner = spec.search.pruner
        self.rungs = self.pruner.rungs(spec.train.epochs)
        self.sync = A.synchronous(spec)
        self.grid = grid if self.sync else {}  # hash -> values
        self.reference = reference_values(spec, grid) if self.pruner.keep_reference else None

    @property
    def active(self) -> bool:
        return bool(self.rungs)

    def protected(self, values: dict[str, Any]) -> bool:
        return is_reference(self.reference, values)

    def judge(self, configs: Sequence[Config], exhausted: Callable[[], bool]) -> list[Verdict]:
        """Configurations whose seeds all wait at a rung: kept (seeds go on) or pruned."""
        out = []
        for config in configs if self.active else ():
            rung = config.at_rung()
            if rung is None:
                continue
            if config.in_state(State.FAILED):
                out.append(
                    Verdict(config, FAIL, rung, "another seed of this configuration failed")
                )
                continue
            decision = self.decide(config, rung)
            if decision is not None:
                why = f"pruned at epoch {rung}: the mean over its seeds did not keep it"
                out.append(Verdict(config, decision, rung, why))
        return out

    def pause_points(self, config: Config) -> list[int]:
        """The rungs a seed of ``config`` must stop at: all but those it was kept at."""
        if not self.active or config.trial is None:
            return []
        kept = {
            int(key.rpartition("/")[2])
            for key, t in self.tickets.all("rung").items()
            if key.startswith(config.hash + "/") and t.result.get("decision") == KEEP
        }  # fmt: skip
        return [r for r in self.rungs if r not in kept]

    def decide(self, config: Config, rung: int) -> str | None:
        """KEEP or PRUNE ``config`` at ``rung`` (its seeds all paused there), or None while the
        decision must wait (other configurations of a synchronous grid, another driver)."""
        key = f"{config.hash}/{rung}"
        t = self.tickets.get("rung", key)
        if t is not None and t.state == "done":
            return t.result["decision"]
        paused = [c.result["value"] for c in config.in_state(State.PAUSED)]
        value = sum(paused) / len(paused)
        if t is None or t.state == "free" or t.stale or "value" not in t.result:
            if not self.tickets.claim("rung", key).won:
                return None  # another driver is reporting it
            A.report(config.trial, value, rung)
            self.tickets.set("rung", key, "running", {"value": value, "seeds": len(paused)})
        else:
            value = t.result["value"]
        if self.protected(config.values):
            decision = KEEP
        elif not self.sync:
            decision = PRUNE if A.should_prune(config.trial) else KEEP
        else:
            decision = self._halving(config.hash, rung, value)
            if decision is None:
                return None
        if not self.tickets.finish("rung", key, {"value": value, "decision": decision}):
            t = self.tickets.get("rung", key)  # decided meanwhile by another driver
            return t.result.get("decision") if t is not None else None
        return decision

    def _halving(self, config_hash: str, rung: int, value: float) -> str | None:
        """Synchronous successive halving: wait until every grid configuration has reported
        ``rung`` or ended, then keep the best ``max(1, n // eta)`` (ties kept)."""
        rung_tickets = self.tickets.all("rung")
        trials = self.tickets.all("trial")
        values = {}
        for h in self.grid:
            t = rung_tickets.get(f"{h}/{rung}")
            if t is not None and "value" in t.result:
                values[h] = t.result["value"]
            elif trials.get(h) is None or trials[h].state != "done":
                return None  # still training toward this rung (or not opened yet)
        ranked = {
            h: v for h, v in values.items()
            if not self.protected(self.grid[h]) and math.isfinite(v)
        }  # fmt: skip
        if config_hash not in ranked:
            return KEEP
        k = max(1, len(ranked) // self.pruner.get("reduction_factor"))
        sign = -1.0 if self.spec.objective.direction == "maximize" else 1.0
        order = sorted(ranked.values(), key=lambda v: sign * v)
        cutoff = order[k - 1]
        return KEEP if sign * value <= sign * cutoff else PRUNE


def reference_values(spec: S.Experiment, grid: dict[str, dict] | None = None):
    """The report's reference configuration by search alias: ``report.reference``, else the
    first level of every swept parameter of a grid (what the report falls back to); ``grid``:
    the grid's configurations, when already computed."""
    if spec.report.reference:
        return dict(spec.report.reference)
    if spec.search.sampler == "grid" and spec.search.params:
        first = next(iter(grid.values())) if grid else S.grid_cells(spec)[0]
        return {a: first[a] for a in spec.search.params}
    return None


def is_reference(reference: dict[str, Any] | None, values: dict[str, Any]) -> bool:
    """Whether a configuration's search ``values`` are the reference's (None: no reference)."""
    return reference is not None and all(_same(values.get(k), v) for k, v in reference.items())


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, int | float) and isinstance(b, int | float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-12)
    return a == b
