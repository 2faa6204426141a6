"""Racing: more seeds only for the configurations that may still be best (``search.race``).

Every configuration of the grid starts on the first ``initial`` seeds. A *stage* ends when every
configuration still racing has finished its seeds; then the possibly-best set of those
configurations is computed as the report computes it (the max-t over all pairs on the
seed-paired runs, each configuration with its own noise; the critical value from a parametric
bootstrap, which errs towards keeping: :func:`ablate.stats.racing.survivors`),
at ``alpha / stages``: the configurations outside it stop (*raced out*), the others get ``step``
more seeds. By Bonferroni over the stages, the chance that the truly best configuration is raced
out is at most ``alpha`` (docs/statistics.md measures it). The reference configuration is never
raced out.

A stage's decision is kept in a ``stage`` ticket and each configuration's seed count in a
``race`` ticket of the study's database: any driver reads the same ones, a killed one's are
not taken again, and a decision is a function of the finished runs only (taking it twice gives
the same answer).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd

from ablate import spec as S
from ablate.stats.racing import survivors
from ablate.study.cells import Config
from ablate.study.claims import Tickets
from ablate.study.decide import OUT, SEEDS, Decider, Verdict
from ablate.study.rungs import is_reference, reference_values


class Racing(Decider):
    def __init__(self, spec: S.Experiment, tickets: Tickets, grid: dict[str, dict]):
        assert spec.search.race is not None
        self.spec, self.tickets = spec, tickets
        self.race = spec.search.race
        self.seeds = list(spec.search.seeds)
        self.counts = self.race.counts(len(self.seeds))
        self.level = self.race.level(len(self.seeds))
        self.grid = grid  # hash -> values
        ref = reference_values(spec, grid) if self.race.keep_reference else None
        self.protected = {h for h, v in self.grid.items() if is_reference(ref, v)}

    def judge(self, configs: Sequence[Config], exhausted: Callable[[], bool]) -> list[Verdict]:
        """Configurations that finished their seeds while racing, once every configuration
        is open: more seeds, or raced out."""
        if not exhausted():
            return []
        waiting = [c for c in configs if c.racing and c.finished_seeds() and not c.ended()]
        out = []
        for n in sorted({len(c.cells) for c in waiting}):
            stage = self.decide(n)
            if stage is None:
                continue
            for config in (c for c in waiting if len(c.cells) == n):
                if config.hash in stage["alive"]:
                    more = [s for s in self.seeds[: stage["next"]] if s not in config.cells]
                    racing = stage["next"] < len(self.seeds)
                    out.append(Verdict(config, SEEDS, seeds=more, racing=racing))
                else:  # raced out (or ended otherwise): resolved with the seeds it has
                    raced = config.hash in stage["out"]
                    out.append(Verdict(config, OUT, at=n if raced else None))
        return out

    def granted(self) -> dict[str, tuple[int, bool]]:
        """Each configuration's seed count and whether it was raced out."""
        tickets = self.tickets.all("race")
        return {h: self._count(tickets.get(h)) for h in self.grid}

    def _count(self, ticket) -> tuple[int, bool]:
        r = ticket.result if ticket is not None else {}
        return r.get("seeds", self.counts[0]), bool(r.get("out"))

    def seeds_for(self, config_hash: str) -> list[int]:
        n, _ = self._count(self.tickets.get("race", config_hash))
        return self.seeds[:n]

    def racing(self, config_hash: str) -> bool:
        n, out = self._count(self.tickets.get("race", config_hash))
        return not out and n < len(self.seeds)

    def decide(self, n: int) -> dict[str, Any] | None:
        """The stage at ``n`` seeds: {"alive": [...], "out": [...], "next": n'}, or None while a
        configuration racing at ``n`` is still training."""
        t = self.tickets.get("stage", str(n))
        if t is not None and t.state == "done":
            self._grant(t.result)
            return t.result
        granted, trials = self.granted(), self.tickets.all("trial")
        cells = self.tickets.all("cell")
        rows = []
        for h, (count, out) in granted.items():
            if out or count != n or (h in trials and trials[h].state == "done"):
                continue  # raced out before, or ended (pruned, failed)
            states = [cells.get(f"{h}/{s}") for s in self.seeds[:n]]
            if any(c is not None and c.state in ("failed", "pruned") for c in states):
                continue  # ends on its own: a seed failed, or a pruner stopped it
            if any(c is None or c.state not in ("done", "trained") for c in states):
                return None
            rows += [{"config_hash": h, "seed": s, "objective": c.result["objective"]}
                     for s, c in zip(self.seeds[:n], states, strict=True)]  # fmt: skip
        table = pd.DataFrame(rows, columns=["config_hash", "seed", "objective"])
        direction = self.spec.objective.direction
        alive = survivors(table, direction, self.level, self.protected) if rows else set()
        following = [c for c in self.counts if c > n]
        out = sorted(set(table["config_hash"]) - alive)
        result = {"n": n, "next": following[0] if following else n, "alpha": self.level,
                  "alive": sorted(alive), "out": out}  # fmt: skip
        if not self.tickets.record("stage", str(n), "done", result):
            result = self.tickets.get("stage", str(n)).result  # another driver's, the same
        self._grant(result)
        return result

    def _grant(self, result: dict[str, Any]) -> None:
        """Write each configuration's new seed count (the same values whoever writes them;
        never back to an earlier stage's)."""
        granted = self.granted()
        for h in result["alive"]:
            if granted[h][0] < result["next"] and not granted[h][1]:
                self._set(h, {"seeds": result["next"], "out": False})
        for h in result["out"]:
            if not granted[h][1]:
                self._set(h, {"seeds": result["n"], "out": True})

    def _set(self, h: str, value: dict[str, Any]) -> None:
        if not self.tickets.record("race", h, "done", value):
            self.tickets.move("race", h, ("done",), "done", value)
