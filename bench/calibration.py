"""Simulated sweeps through the report's own analysis, to measure its error rates.

A sweep is C configurations x S seeds with y_cs = mu_c + b_s + e_cs, seed effects b_s and noise
e_cs both N(0, 1) (so effects are in units of the noise sd), where the truth is known:

- ``equal``: every mu_c = 0. Any "worse than", "best" or "differs from the reference" statement
  is false; so is a detected trend.
- ``one_better``: one configuration (the fourth) is better by ``effect``; it should stay in the
  possibly-best set.
- ``trend``: mu_c rises linearly by ``effect`` over the factor's range 0..1 (11 levels for 11
  configurations); the trend test should detect it.
- ``peak``: mu_c = effect * (1 - (x - 0.6)^2 / 0.36): 0 at x = 0, a peak of ``effect`` at
  x = 0.6; the fitted optimum's interval should cover 0.6 and the gain's cover ``effect``.

Coverage events: every simultaneous interval against the reference covers the true difference
(``reference_intervals_cover``); the dose-response gain and optimum intervals cover the truth.

``trend_test``: the factor is numeric, so the report also fits its dose-response; then, as in the
report, the pairwise family and the trend test are each at 2.5%. Without it, the pairwise family
is at 5% (a categorical factor).

``bench/calibrate.py`` runs the large version recorded in docs/statistics.md; the test suite
runs a smaller one.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from ablate.report.claims import dose_verdict
from ablate.stats.analysis import analyze
from ablate.stats.budget import headline_alpha
from ablate.stats.dose import dose_response


@dataclass
class Rates:
    scenario: str
    configs: int
    seeds: int
    sweeps: int
    effect: float
    counts: dict[str, int] = field(default_factory=dict)

    def rate(self, event: str) -> float:
        return self.counts.get(event, 0) / self.sweeps

    def given(self, event: str, condition: str, confidence: float = 0.95
              ) -> tuple[float, float, float, int]:  # fmt: skip
        """The event's rate among the sweeps where ``condition`` held (an interval's coverage
        when it is printed), with its Clopper-Pearson interval and the count conditioned on."""
        from scipy.stats import beta

        k, n = self.counts.get(event, 0), self.counts.get(condition, 0)
        if n == 0:
            return float("nan"), 0.0, 1.0, 0
        lo = 0.0 if k == 0 else float(beta.ppf((1 - confidence) / 2, k, n - k + 1))
        hi = 1.0 if k == n else float(beta.ppf(1 - (1 - confidence) / 2, k + 1, n - k))
        return k / n, lo, hi, n

    def upper(self, event: str, confidence: float = 0.99) -> float:
        """Clopper-Pearson upper bound of the event's rate."""
        from scipy.stats import beta

        k = self.counts.get(event, 0)
        return 1.0 if k == self.sweeps else float(beta.ppf(confidence, k + 1, self.sweeps - k))

    def lower(self, event: str, confidence: float = 0.99) -> float:
        from scipy.stats import beta

        k = self.counts.get(event, 0)
        return 0.0 if k == 0 else float(beta.ppf(1 - confidence, k, self.sweeps - k + 1))


def noise_sd(noise: str | None, configs: int, ratio: float = 3.0) -> np.ndarray:
    """Each configuration's noise sd: ``None`` 1 for all; ``step``: the upper half of the
    factor's range ``ratio`` times the lower half's (a training that turns unstable at high
    weights); ``ramp``: rising linearly from 1 to ``ratio`` over the range; ``one``: one
    setting, at 70% of the range, ``ratio`` times the others' (one weight where training turns
    unstable)."""
    if noise is None:
        return np.ones(configs)
    if noise == "step":
        return np.where(np.arange(configs) >= configs // 2 + configs % 2, ratio, 1.0)
    if noise == "ramp":
        return np.linspace(1.0, ratio, configs)
    if noise == "one":
        return np.where(np.arange(configs) == round(0.7 * (configs - 1)), ratio, 1.0)
    raise ValueError(f"unknown noise {noise!r}")


def sweep_table(mu: np.ndarray, seeds: int, rng: np.random.Generator, seed_sd: float = 1.0,
                slope_sd: float = 0.0, noise: str | None = None,
                tails: int | None = None) -> pd.DataFrame:  # fmt: skip
    """``slope_sd``: each seed's own slope over the factor's range (seed x factor interaction),
    in noise sds across the range; ``noise``: see :func:`noise_sd`; ``tails``: the noise drawn
    from Student's t with that many degrees of freedom, scaled to unit variance (heavy tails)."""
    c = len(mu)
    x = np.round(np.linspace(0.0, 1.0, c), 10)
    b = rng.normal(scale=seed_sd, size=seeds)
    u = rng.normal(scale=slope_sd, size=seeds) if slope_sd else np.zeros(seeds)
    draw = (rng.standard_t(tails, size=(c, seeds)) / np.sqrt(tails / (tails - 2)) if tails
            else rng.normal(size=(c, seeds)))  # fmt: skip
    e = noise_sd(noise, c)[:, None] * draw
    y = mu[:, None] + b[None, :] + u[None, :] * (x[:, None] - 0.5) + e
    return pd.DataFrame(
        {
            "factor": np.repeat(x, seeds),
            "seed": np.tile(np.arange(seeds), c),
            "objective": y.reshape(-1),
            "run_id": [f"{i}-{s}" for i in range(c) for s in range(seeds)],
            "config_hash": np.repeat([f"c{i}" for i in range(c)], seeds),
        }
    )


BETTER = 3  # the configuration that is better in ``one_better``


def true_means(scenario: str, configs: int, effect: float) -> np.ndarray:
    """The configurations' true means, mu_c, for a scenario (see the module docstring)."""
    mu = np.zeros(configs)
    if scenario == "one_better":
        mu[BETTER] = effect
    elif scenario == "trend":
        mu = effect * np.linspace(0.0, 1.0, configs)
    elif scenario == "peak":
        x0 = np.linspace(0.0, 1.0, configs)
        mu = effect * (1 - (x0 - 0.6) ** 2 / 0.36)
    elif scenario != "equal":
        raise ValueError(f"unknown scenario {scenario!r}")
    return mu


def simulate(
    scenario: str,
    configs: int,
    seeds: int,
    sweeps: int,
    effect: float = 3.0,
    rng_seed: int = 0,
    trend_test: bool = True,
    seed_sd: float = 1.0,
    reference_lost_seed: bool = False,
    slope_sd: float = 0.0,
    noise: str | None = None,
    tails: int | None = None,
) -> Rates:
    """``seed_sd``: the seed effects' sd (in noise sds); ``reference_lost_seed``: the
    reference's (the first configuration's) run on seed 0 failed; ``slope_sd``: each seed's
    own slope over the range; ``noise``, ``tails``: unequal noise, heavy tails (see
    :func:`sweep_table`)."""
    rng = np.random.default_rng(rng_seed)
    mu, better = true_means(scenario, configs, effect), BETTER
    name = scenario + (":reference lost a seed" if reference_lost_seed else "")
    name += f":seeds' own slopes (sd {slope_sd:g})" if slope_sd else ""
    name += f":noise {noise}" if noise else ""
    name += f":t({tails}) noise" if tails else ""
    r = Rates(name, configs, seeds, sweeps, effect)
    count = r.counts
    x = np.round(np.linspace(0.0, 1.0, configs), 10)
    for _ in range(sweeps):
        table = sweep_table(mu, seeds, rng, seed_sd, slope_sd, noise, tails)
        failed = None
        if reference_lost_seed:
            lost = (table["config_hash"] == "c0") & (table["seed"] == 0)
            failed, table = table[lost][["factor", "seed"]], table[~lost]
        # As the report does: with the trend test in the headline, the two families share 5%.
        alpha = headline_alpha(0.0, trend_test)
        a = analyze(table, ["factor"], "objective", "maximize", seed_list=list(range(seeds)),
                    alpha=alpha, failed=failed, reference={"factor": 0.0})  # fmt: skip
        worse = len(a.best_set) < a.tested
        vs_ref = a.table["vs_ref_low"].gt(0) | a.table["vs_ref_high"].lt(0)
        events = {
            "best_claimed": a.claim_best,
            "worse_statement": worse,
            "best_or_worse": a.claim_best or worse,
            "differs_from_reference": bool(vs_ref.any()),
        }
        if scenario == "one_better":
            events["true_best_in_set"] = f"factor={x[better]:g}" in a.best_set
            events["true_best_claimed_best"] = a.best_set == [f"factor={x[better]:g}"]
        rows = a.table[a.table["vs_ref"].notna()]
        truth = np.interp(rows["factor"].astype(float), x, mu) - mu[0]
        events["reference_intervals_cover"] = bool(
            ((rows["vs_ref_low"] <= truth) & (truth <= rows["vs_ref_high"])).all()
        )
        if trend_test:
            tested = table[
                table["factor"].isin(a.table.loc[a.table["status"] == "tested", "factor"])
            ]  # as the report
            d = dose_response(tested, "factor", "objective", "maximize", 0.0, alpha=alpha)
            events["trend_detected"] = d is not None and d.detected
            events["any_claim"] = (
                events["best_or_worse"] or events["differs_from_reference"]
                or events["trend_detected"]
            )  # fmt: skip
            if scenario == "trend" and effect < 0 and d is not None:
                # A falling curve: best at the reference, worst at 1 by `effect`.
                events["hurts_claimed"] = dose_verdict(d, "maximize") == "hurts"
                covered = d.loss_ci[0] <= effect <= d.loss_ci[1]
                events["hurts_loss_covered"] = events["hurts_claimed"] and covered
            elif scenario in ("trend", "peak") and d is not None:
                events["helps_claimed"] = dose_verdict(d, "maximize") == "helps"
                best_x = 1.0 if scenario == "trend" else 0.6
                events["gain_covered"] = d.gain_ci[0] <= effect <= d.gain_ci[1]
                events["optimum_covered"] = d.optimum_ci[0] <= best_x <= d.optimum_ci[1]
                # Selective coverage: the intervals as a reader meets them, printed only when
                # "helps" is.
                events["helps_gain_covered"] = events["helps_claimed"] and events["gain_covered"]
                events["helps_optimum_covered"] = (events["helps_claimed"]
                                                   and events["optimum_covered"])  # fmt: skip
        for k, v in events.items():
            count[k] = count.get(k, 0) + int(bool(v))
    return r


def simulate_race(
    scenario: str,
    configs: int,
    seeds: int,
    sweeps: int,
    initial: int = 3,
    step: int = 1,
    alpha: float = 0.025,
    effect: float = 3.0,
    rng_seed: int = 0,
    noise: str | None = None,
) -> Rates:
    """Racing (``search.race``) on simulated sweeps: stage by stage the driver's own rule
    (:func:`ablate.stats.racing.survivors`), then the report's pairwise analysis of the
    configurations that ran every seed, at what racing left of 5%. The first configuration is
    the reference (never raced out). Events: ``raced_out_any`` (with every setting equal: a
    false "worse"), ``final_worse`` (the report's false "worse" among the survivors),
    ``any_false``;
    ``best_raced_out``, ``true_best_in_set``, ``true_best_claimed_best`` (one better);
    ``seed_runs`` counts the runs trained, summed over the sweeps (against configs x seeds)."""
    from ablate.spec import Race
    from ablate.stats.racing import survivors

    race = Race(initial=initial, step=step, alpha=alpha)
    counts_ = race.counts(seeds)
    level = race.level(seeds)
    if scenario not in ("equal", "one_better"):
        raise ValueError(f"unknown racing scenario {scenario!r}")
    rng = np.random.default_rng(rng_seed)
    mu, better = true_means(scenario, configs, effect), BETTER
    r = Rates(f"race:{scenario}" + (f":noise {noise}" if noise else ""), configs, seeds, sweeps,
              effect)  # fmt: skip
    count = r.counts
    names = [f"c{i}" for i in range(configs)]
    for _ in range(sweeps):
        full = sweep_table(mu, seeds, rng, noise=noise)
        alive, used = set(names), 0
        for i, n in enumerate(counts_):
            used += len(alive) * (n - (counts_[i - 1] if i else 0))
            if n == seeds:
                break
            stage = full[full["config_hash"].isin(alive) & (full["seed"] < n)]
            alive = survivors(stage[["config_hash", "seed", "objective"]], "maximize", level,
                              {names[0]})  # fmt: skip
        raced_out = len(alive) < configs
        final = full[full["config_hash"].isin(alive)]
        a = analyze(final, [], "objective", "maximize", seed_list=list(range(seeds)),
                    alpha=headline_alpha(alpha, False))  # fmt: skip
        worse = len(a.best_set) < a.tested
        events = {"raced_out_any": raced_out, "final_worse": worse,
                  "any_false": raced_out or worse}  # fmt: skip
        if scenario == "one_better":
            events = {
                "best_raced_out": names[better] not in alive,
                "true_best_in_set": names[better] in a.best_set or a.tested < 2,
                "true_best_claimed_best": a.best_set == [names[better]],
            }
        for k, v in events.items():
            count[k] = count.get(k, 0) + int(bool(v))
        count["seed_runs"] = count.get("seed_runs", 0) + used
    return r


def simulate_confirm(configs: int, seeds: int, fresh: int, sweeps: int, rng_seed: int = 0,
                     seed_sd: float = 1.0) -> Rates:  # fmt: skip
    """The headline after ``ablate confirm``, every setting equal: the search (``configs`` x
    ``seeds``, a numeric factor with its trend test), then its possibly-best set and the
    reference re-trained on ``fresh`` new seeds (new seed effects, new noise), and the headline
    as the report builds it (:func:`ablate.report.headline.headline`). Events: ``any_false``
    (the headline says anything at all: a confirmed "best" or "worse", a difference to the
    reference, a detected trend), and ``old_rule_false``: what the report said before one
    budget covered both -- the search's own claims at its level plus the confirmation's
    comparisons at 5%."""
    from ablate.report.headline import headline

    rng = np.random.default_rng(rng_seed)
    r = Rates("equal:headline with confirmation", configs, seeds, sweeps, 0.0)
    count = r.counts
    mu = np.zeros(configs)
    settings = {"reference": {"factor": 0.0}}
    for _ in range(sweeps):
        search = sweep_table(mu, seeds, rng, seed_sd)
        first = headline(search, ["factor"], "objective", "maximize", study="s",
                         settings=settings, seed_list=list(range(seeds)))  # fmt: skip
        a = first.analysis
        chosen = set(a.best_set) | {a.reference}
        confirm = sweep_table(mu, fresh, rng, seed_sd)
        confirm["seed"] += 10_000
        labels = [f"factor={v:g}" for v in confirm["factor"]]
        confirm = confirm[[lab in chosen for lab in labels]]
        h = headline(search, ["factor"], "objective", "maximize", study="s", settings=settings,
                     seed_list=list(range(seeds)), confirm=confirm)  # fmt: skip
        events = {"any_false": bool(_said(h.claims))}
        # The rule before: the search's claims as reported without a confirmation, and the
        # confirmation's comparisons at 5% of their own.
        old_conf = analyze(confirm, ["factor"], "objective", "maximize",
                           seed_list=sorted(confirm["seed"].unique()), alpha=0.05,
                           reference={"factor": 0.0})  # fmt: skip
        old_conf_false = len(old_conf.best_set) < old_conf.tested or bool(
            (old_conf.table["vs_ref_low"].gt(0) | old_conf.table["vs_ref_high"].lt(0)).any()
        )
        events["old_rule_false"] = bool(_said(first.claims)) or old_conf_false
        events["nominated_all"] = len(a.best_set) == a.tested
        for k, v in events.items():
            count[k] = count.get(k, 0) + int(v)
    return r


def _said(claims) -> list[str]:
    """What a headline claims when every setting is equal (all of it false): a setting worse
    than another (the search's set, or the confirmation's), a difference to the reference,
    an effect of the factor. A nomination is not a claim."""
    out = []
    for c in (c.to_json() for c in claims):
        stat = c.get("statistic") or {}
        if (
            c["kind"] in ("best_set", "confirmed")
            and "set" in stat
            and len(stat["set"]) < len(stat["means"])
        ):
            out.append(f"{c['kind']}: worse")
        if c["kind"] == "reference" and (stat.get("better") or stat.get("worse")):
            out.append("reference: a difference")
        if c["kind"] == "dose" and stat.get("verdict") != "none":
            out.append(f"dose: {stat.get('verdict')}")
    return out
