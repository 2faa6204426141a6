"""Policies replayed on learning curves (bench/replay.py): which configurations train, on how
many seeds, for how many epochs, and what their report then says.

A policy is a design (which levels, how many seeds) and the rules that end or extend
configurations early, each the driver's own rule on the cube's numbers:

- ``halving``: synchronous successive halving (ablate/study/rungs.py): at each rung (epoch
  count) every configuration's value is the mean over its first seeds at that epoch; the best
  ``max(1, n // reduction_factor)`` of the ``n`` non-reference configurations go on (ties
  too), the reference always;
- ``guard``: guarded pruning: at each rung a configuration stops only when the rung's
  seed-paired values show it worse than another (the racing rule,
  :func:`ablate.stats.racing.survivors`: the max-t with a parametric bootstrap's critical value,
  at ``alpha`` per rung); its error rate comes out of the report's 5%, as racing's does;
- ``race``: racing (ablate/study/race.py): every configuration on the first ``initial`` seeds;
  at each stage the possibly-best set at ``alpha / stages`` goes on with ``step`` more seeds.

:func:`run` returns the seed runs the policy finished (the last epoch's value), which
configurations were raced out, and the seed-epochs it spent; :func:`claims` the report's
headline on them (ablate/report/headline.py, the report's own code).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from curves import Cube

from ablate.report.headline import headline
from ablate.stats.analysis import fmt
from ablate.stats.racing import survivors


@dataclass(frozen=True)
class Policy:
    name: str
    levels: tuple | None = None  # the factor's values it trains (None: every level)
    seeds: int | None = None  # seeds per configuration at most (None: the cube's)
    rungs: tuple[int, ...] = ()  # epochs at which halving or the guard judges
    halving: int | None = None  # reduction factor of successive halving at the rungs
    guard: float | None = None  # guarded pruning: each rung's error rate
    race: tuple[int, int, float] | None = None  # racing: initial seeds, step, alpha
    about: str = ""


@dataclass
class Outcome:
    rows: pd.DataFrame  # finished seed runs: factor, seed, objective, config_hash, run_id
    raced: dict[str, int] = field(default_factory=dict)
    cost: float = 0.0  # seed-epochs trained
    spent: float = 0.0  # the share of the report's 5% its early decisions spent
    seeds: int = 0  # the seeds a configuration that is never stopped gets
    configs: int = 0


def from_spec(name: str, spec, about: str = "") -> Policy:
    """The policy an experiment file describes: its grid's levels (of its one factor), seeds,
    pruner and racing."""
    p, race = spec.search.pruner, spec.search.race
    (param,) = spec.search.params.values()
    return Policy(
        name, levels=tuple(param.grid()), seeds=len(spec.search.seeds),
        rungs=tuple(p.rungs(spec.train.epochs)),
        halving=p.get("reduction_factor") if p.name == "successive_halving" else None,
        race=(race.initial, race.step, race.alpha) if race else None, about=about,
    )  # fmt: skip


def run(policy: Policy, cube: Cube) -> Outcome:
    c_all, s_all, epochs = cube.shape
    seeds = min(policy.seeds or s_all, s_all)
    configs = [i for i, v in enumerate(cube.levels)
               if policy.levels is None or any(_same(v, w) for w in policy.levels)]  # fmt: skip
    ref = cube.reference
    sign = 1.0 if cube.direction == "maximize" else -1.0
    start = min(policy.race[0], seeds) if policy.race else seeds
    trained = dict.fromkeys(configs, 0)  # epochs each trained on its first seeds
    alive = list(configs)
    out = Outcome(pd.DataFrame(), seeds=seeds, configs=len(configs))
    for rung in (r for r in policy.rungs if r < epochs):
        for c in alive:
            trained[c] = rung
        ranked = [c for c in alive if c != ref]
        if policy.halving and ranked:
            value = {c: sign * cube.y[c, :start, rung - 1].mean() for c in ranked}
            k = max(1, len(ranked) // policy.halving)
            cutoff = sorted(value.values(), reverse=True)[k - 1]
            alive = [c for c in alive if c == ref or value[c] >= cutoff]
        elif policy.guard and len(alive) >= 2:
            kept = survivors(_table(cube, alive, range(start), rung), cube.direction,
                             policy.guard, {f"c{ref}"})  # fmt: skip
            alive = [c for c in alive if f"c{c}" in kept]
    if policy.guard:
        out.spent += policy.guard * len([r for r in policy.rungs if r < epochs])
    for c in alive:
        trained[c] = epochs
    out.cost = float(start * sum(trained.values()))
    n = {c: start for c in alive}
    if policy.race and start < seeds:
        from ablate.spec import Race

        race = Race(initial=policy.race[0], step=policy.race[1], alpha=policy.race[2])
        counts, level = race.counts(seeds), race.level(seeds)
        out.spent += race.alpha
        racing = list(alive)
        for i, k in enumerate(counts[:-1]):
            kept = survivors(_table(cube, racing, range(k), epochs), cube.direction, level,
                             {f"c{ref}"})  # fmt: skip
            for c in racing:
                if f"c{c}" not in kept:
                    out.raced[f"c{c}"] = k
            racing = [c for c in racing if f"c{c}" in kept]
            for c in racing:
                n[c] = counts[i + 1]
            out.cost += float(len(racing) * (counts[i + 1] - k) * epochs)
    rows = []
    for c, k in n.items():
        for s in range(k):
            rows.append({cube.factor: cube.levels[c], "seed": s, "objective": cube.y[c, s, -1],
                         "config_hash": f"c{c}", "run_id": f"c{c}-{s}"})  # fmt: skip
    out.rows = pd.DataFrame(rows)
    return out


def claims(out: Outcome, cube: Cube, metric: str = "objective") -> list[dict]:
    """The report's headline on what the policy finished, as claims.json holds it."""
    h = headline(out.rows, [cube.factor], metric, cube.direction, study="replay",
                 settings={"reference": {cube.factor: cube.levels[cube.reference]}},
                 seed_list=list(range(out.seeds)), raced=out.raced,
                 race_alpha=out.spent)  # fmt: skip
    return [c.to_json() for c in h.claims]


def label(cube: Cube, c: int) -> str:
    """A configuration's label in the report (``aux_weight=0.4``)."""
    return f"{cube.factor}={fmt(cube.levels[c])}"


def _table(cube: Cube, configs, seeds, epoch: int) -> pd.DataFrame:
    return pd.DataFrame(
        [
            {"config_hash": f"c{c}", "seed": s, "objective": cube.y[c, s, epoch - 1]}
            for c in configs
            for s in seeds
        ]  # fmt: skip
    )


def _same(a, b) -> bool:
    if isinstance(a, str) or isinstance(b, str):
        return a == b
    return bool(np.isclose(float(a), float(b)))
