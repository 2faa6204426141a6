"""The report's sentences, each a claim with the numbers and runs behind it (claims.json).

Every sentence of the headline is a :class:`Claim`: the words, the test that supports them, its
statistic, p-value or interval, n, and the MLflow run ids it used, so that anyone can recompute
it from MLflow (tests/test_claims.py does, with independent code).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import pandas as pd

from ablate.stats.analysis import Analysis
from ablate.stats.dose import DoseResponse, TwoFactor
from ablate.stats.seeds import WILD_DRAWS


def family(a: Analysis) -> str:
    """The pairwise family's test, as claims.json names it."""
    if a.critical == "Tukey":
        return f"Tukey's studentized range over all pairs (Tukey 1953), on the {a.design}"
    return (
        "the largest studentized difference over all pairs, its critical value from a wild "
        "bootstrap of the residuals with each configuration's own noise (Rademacher signs, "
        f"{WILD_DRAWS} tables; Tukey's would be {a.tukey_factor:.3g} se), on the {a.design}"
    )


def family_numbers(a: Analysis, seeds) -> dict[str, Any]:
    return {"critical": a.hsd_factor, "critical_from": a.critical,
            "tukey_critical": a.tukey_factor, "sigma": a.sigma, "df": a.df,
            "seeds": seeds}  # fmt: skip


@dataclass
class Claim:
    kind: str  # best_set | confirmed | nominated | dose | two_factor | reference
    text: str
    test: str
    n: int
    run_ids: list[str]
    p: float | None = None
    interval: list[float] | None = None
    statistic: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        return {k: _clean(v) for k, v in d.items()}


def best_set(a: Analysis, metric: str, study: str) -> Claim | None:
    """The search's possibly-best set (once a confirmation exists, :func:`nominated` says it
    instead)."""
    tested = a.table[a.table["status"] == "tested"]
    run_ids = [rid for ids in tested.get("_run_ids", []) for rid in ids]
    if a.tested == 0:
        return Claim("best_set", "No configuration has all its seeds finished without a "
                     "failure yet: nothing is compared.", "none", 0, [])  # fmt: skip
    top = tested.iloc[0]
    stat = f"{metric} {top['mean']:.3f}"
    if a.tested == 1:
        return Claim("best_set", f"Only one configuration is compared: {top['label']} gives "
                     f"{stat}.", "none", int(top["n"]), run_ids)  # fmt: skip
    test = family(a)
    numbers = {
        **family_numbers(a, a.seeds),
        "set": a.best_set, "means": dict(zip(tested["label"], tested["mean"], strict=True)),
    }  # fmt: skip
    if not (math.isfinite(a.sigma) and a.sigma > 0):
        best = _best_mean(a).lower()
        return Claim("best_set", f"The runs have no spread around the model, so no setting "
                     f"can be tested against another; the {best}: {top['label']}, {stat}.",
                     a.design, len(run_ids), run_ids, statistic=numbers)  # fmt: skip
    selected = (
        " (selected on the same data, so optimistic: `ablate confirm "
        f"{study}` re-trains the possibly-best set on fresh seeds)"
    )
    level = _level(a.alpha)
    if len(a.best_set) == a.tested:
        text = (
            f"No setting is shown worse than another: the data cannot tell the {a.tested} "
            f"compared settings apart ({level}). {_best_mean(a)}: {top['label']}, "
            f"{stat}{selected}."
        )
    elif len(a.best_set) == 1:
        text = (
            f"**{top['label']}** is the only setting not shown worse than another ({level}): "
            f"{stat}{selected}; it is called best only once that holds on fresh seeds."
        )
    else:
        text = (
            f"**Possibly best ({level}): {', '.join(a.best_set)}**; each of the other "
            f"{a.tested - len(a.best_set)} settings is worse than one of them. "
            f"{_best_mean(a)}: {top['label']}, {stat}{selected}."
        )
    return Claim("best_set", text, test, len(run_ids), run_ids, statistic=numbers)


def confirmed(a: Analysis, metric: str, seeds: list[int]) -> Claim | None:
    """The possibly-best set and the reference re-trained on fresh seeds."""
    if a.tested < 1:
        return None
    tested = a.table[a.table["status"] == "tested"]
    run_ids = [rid for ids in tested.get("_run_ids", []) for rid in ids]
    top = tested.iloc[0]
    ci = f"[{top['ci95_low']:.3f}, {top['ci95_high']:.3f}]"
    numbers = {**family_numbers(a, seeds),
               "set": a.best_set, "means": dict(zip(tested["label"], tested["mean"],
                                                    strict=True))}  # fmt: skip
    where = f"on {len(seeds)} fresh seeds never used in the search"
    if a.tested >= 2 and len(a.best_set) == 1:
        others = [x for x in tested["label"] if x != top["label"]]
        text = (
            f"**{top['label']} is best**, confirmed {where}: {metric} {top['mean']:.3f} {ci} "
            f"(95% t-interval over the fresh seeds); {', '.join(others)} "
            f"{'is' if len(others) == 1 else 'are'} worse there ({_level(a.alpha)})."
        )
    elif a.tested >= 2:
        text = (
            f"Confirmed {where}: {', '.join(a.best_set)} cannot be told apart "
            f"({_level(a.alpha)}); "
            f"{top['label']} has the {_best_mean(a).lower()}, {metric} {top['mean']:.3f} {ci}."
        )
    else:
        text = f"Confirmed {where}: {top['label']} gives {metric} {top['mean']:.3f} {ci}."
    return Claim("confirmed", text, family(a), len(run_ids), run_ids,
                 interval=[top["ci95_low"], top["ci95_high"]], statistic=numbers)  # fmt: skip


def nominated(a: Analysis, metric: str) -> Claim | None:
    """The search's possibly-best set once a confirmation has re-trained it: what was
    nominated for confirmation, not a claim (the confirmation's comparisons are the claim, and
    take the search's share of the 5%)."""
    if a.tested < 2 or not a.best_set:
        return None
    tested = a.table[a.table["status"] == "tested"]
    run_ids = [rid for ids in tested.get("_run_ids", []) for rid in ids]
    text = (
        f"The search nominated {', '.join(a.best_set)} for confirmation (not shown worse than "
        f"another at {_level(a.alpha)} on its own seeds); a nomination, not a claim: the "
        f"confirmation above decides. {_best_mean(a)} in the search: {tested.iloc[0]['label']}, "
        f"{metric} {tested.iloc[0]['mean']:.3f} (selected on the same data, so optimistic)."
    )
    numbers = {**family_numbers(a, a.seeds), "set": a.best_set,
               "means": dict(zip(tested["label"], tested["mean"], strict=True))}  # fmt: skip
    return Claim("nominated", text, family(a), len(run_ids), run_ids,
                 statistic=numbers)  # fmt: skip


def dose(d: DoseResponse, metric: str, direction: str, reference: str) -> Claim:
    test = (
        "quadratic in the factor plus a seed effect (least squares); trend: F-test against "
        "the seeds-only model, and against the seed x trend interaction at "
        f"{100 * d.seeds_level:g}% (the seeds must agree); optimum, gain and loss: from the "
        "curve's simultaneous 95% band (Scheffe): the points no other point beats by more "
        "than the band allows, the band's best and worst change over the reference"
    )
    slope = (
        f"straight-line slope {d.slope:+.3g} per unit [{d.slope_ci[0]:+.3g}, {d.slope_ci[1]:+.3g}]"
        + ("" if d.alpha == 0.05 else f" at {100 * (1 - d.alpha):g}%")
    )
    gain = (
        f"{d.gain:+.3f} {metric} [{d.gain_ci[0]:+.3f}, {d.gain_ci[1]:+.3f}] over {reference} "
        f"at the fitted optimum {d.factor}={d.optimum:.2g} [{d.optimum_ci[0]:.2g}, "
        f"{d.optimum_ci[1]:.2g}]"
    )
    verdict = dose_verdict(d, direction)
    seeds = f"against the seeds' own trends p = {d.seeds_p:.2g}"
    if d.seeds_disagree:
        text = (
            f"No effect of {d.factor} established: the quadratic trend over seeds has F-test "
            f"p = {d.trend_p:.2g}, but the seeds disagree about it ({seeds}, not below "
            f"{100 * d.seeds_level:g}%: the trend may be theirs, not the factor's); more seeds "
            "would tell."
        )
    elif verdict == "none":
        text = (
            f"No effect of {d.factor} detected at the {100 * d.alpha:g}% level (F-test of a "
            f"quadratic trend over seeds, p = {d.trend_p:.2g}). {_could_find(d, metric)}"
        )
    elif verdict == "helps":
        text = (
            f"**{d.factor} helps**: {gain} (trend F-test p = {d.trend_p:.2g}, {seeds}; {slope})."
        )
    elif verdict == "hurts":
        text = (
            f"**{d.factor} hurts**: the fitted curve is best at the reference, {reference}, "
            f"and {d.loss:+.3f} {metric} [{d.loss_ci[0]:+.3f}, {d.loss_ci[1]:+.3f}] against it "
            f"at {d.factor}={d.worst:.2g}, where it is worst (trend F-test p = "
            f"{d.trend_p:.2g}, {seeds}; {slope})."
        )
    else:
        text = (
            f"{d.factor} has an effect (trend F-test p = {d.trend_p:.2g}, {seeds}; {slope}), "
            f"but the gain of its fitted optimum over {reference} is not established: {gain}."
        )
    return Claim("dose", text, test, d.n, d.run_ids, p=d.trend_p, interval=list(d.gain_ci),
                 statistic={"verdict": verdict, "F": d.trend_f, "seeds_p": d.seeds_p,
                            "seeds_df": d.seeds_df, "seeds_level": d.seeds_level,
                            "alpha": d.alpha, "coef": list(d.coef),
                            "optimum": d.optimum, "worst": d.worst, "loss": d.loss,
                            "loss_ci": list(d.loss_ci),
                            "optimum_ci": list(d.optimum_ci), "slope": d.slope,
                            "reference": d.reference, "noise_sd": d.noise_sd,
                            "noise_bound": d.noise_bound,
                            **({"detectable": d.detectable} if verdict == "none"
                               and math.isfinite(d.detectable) else {})})  # fmt: skip


def _could_find(d: DoseResponse, metric: str) -> str:
    """What "not detected" is worth: the change these runs would have found 9 times in 10."""
    lo, hi = min(d.levels), max(d.levels)
    if not math.isfinite(d.detectable):
        return ("These runs are too few to find even a large change 9 times in 10; more seeds "
                "would tell.")  # fmt: skip
    return (
        f"These runs would find a change of {d.detectable:.2g} {metric} from {d.factor}="
        f"{lo:g} to {hi:g}, in a straight line either way, 9 times in 10 (their noise taken "
        f"at its 80% upper bound, sd {d.noise_bound:.2g}; measured: {d.noise_sd:.2g}); a "
        "smaller effect can hide in them, more seeds would show it."
    )


def dose_verdict(d: DoseResponse, direction: str) -> str:
    """What the dose-response sentence says: ``helps`` (the fitted optimum's gain over the
    reference excludes 0), ``hurts`` (a detected effect best at the reference), ``effect``
    (detected, neither of those) or ``none`` (not detected)."""
    if not d.detected:
        return "none"
    if (d.gain_ci[0] > 0) if direction == "maximize" else (d.gain_ci[1] < 0):
        return "helps"
    return "hurts" if d.optimum == d.reference else "effect"


def two_factor(t: TwoFactor) -> Claim:
    parts = []
    for name, p in t.p.items():
        word = "detected" if p < t.alpha else "not detected"
        parts.append(f"{name}: effect {word} (p = {p:.2g})")
    test = (
        "two-way ANOVA with interaction and a seed effect (type II F-tests, each at "
        f"{t.alpha:.2%})"
    )
    text = "; ".join(parts) + "."
    return Claim("two_factor", text, test, t.n, t.run_ids, statistic={"F": t.f, "p": t.p})


def reference(a: Analysis, metric: str) -> Claim | None:
    if a.reference is None or "vs_ref" not in a.table:
        return None
    rows = a.table[a.table["vs_ref"].notna()]
    sign = 1.0 if a.direction == "maximize" else -1.0
    # An interval that excludes 0 says which way; the direction says which way is better.
    apart = (rows["vs_ref_low"] > 0) | (rows["vs_ref_high"] < 0)
    better = rows[apart & (sign * rows["vs_ref"] > 0)]
    worse = rows[apart & (sign * rows["vs_ref"] < 0)]
    name = f"{a.reference}" + (f" ({a.reference_name})" if a.reference_name else "")

    def fmt(r):
        return f"{r['label']} {r['vs_ref']:+.3f} [{r['vs_ref_low']:+.3f}, {r['vs_ref_high']:+.3f}]"  # noqa: E731

    parts = []
    if len(better):
        parts.append(f"better: {'; '.join(fmt(r) for _, r in better.iterrows())}")
    if len(worse):
        parts.append(f"worse: {'; '.join(fmt(r) for _, r in worse.iterrows())}")
    rest = len(rows) - len(better) - len(worse)
    if rest:
        what = "the other" if rest == len(rows) else "the remaining"
        parts.append(f"{what} {rest} setting(s) cannot be told apart from it")
    within_labels: list[str] = []
    if a.margin is not None and "within_margin" in rows:
        within = rows[rows["within_margin"] == True]  # noqa: E712
        within_labels = within["label"].tolist()
        if len(within):
            parts.append(f"within ±{a.margin:g} of it (TOST): {', '.join(within['label'])}")
    text = (
        f"Against {name}, in {metric} (simultaneous {_level(a.alpha)} intervals): "
        + "; ".join(parts) + "."
    )  # fmt: skip
    run_ids = [rid for ids in a.table.get("_run_ids", []) for rid in ids]
    return Claim("reference", text, "differences to the reference in the same simultaneous "
                 f"family ({a.critical})"
                 + (f"; equivalence: TOST at {100 * a.alpha:g}% (simultaneous)"
                    if a.margin else ""),
                 len(run_ids), run_ids,
                 statistic={"reference": a.reference, "margin": a.margin,
                            "better": better["label"].tolist(), "worse": worse["label"].tolist(),
                            "within": within_labels})  # fmt: skip


def _best_mean(a: Analysis) -> str:
    """The best of the means, in words: the highest, or the lowest of a metric to minimize."""
    return "Highest mean" if a.direction == "maximize" else "Lowest mean"


def _level(alpha: float) -> str:
    """95%; 97.5% when the headline's tests share the 5% (the pairwise family and a trend
    test: then no more than 5% of all-equal sweeps make any false statement at all)."""
    return f"{100 * (1 - alpha):g}%"


def shared_note(race: float, pairwise: float, model: str | None, confirmed: bool = False) -> str:
    """How the headline's 5% is shared: racing's eliminations, the pairwise comparisons (the
    confirmation's, once there is one) and a model's tests (a dose-response or two
    factors)."""
    parts = [f"racing's eliminations at {100 * race:g}%"] if race else []
    which = "the confirmation's comparisons" if confirmed else "the pairwise comparisons"
    parts.append(f"{which} at {100 * (1 - pairwise):g}%")
    if model:
        parts.append(f"the {model} at {100 * pairwise:g}%")
    return "The headline's tests share a 5% error rate: " + ", ".join(parts) + "."


def _clean(v):
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {str(k): _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    if hasattr(v, "item"):
        return _clean(v.item())
    if isinstance(v, pd.Timestamp):
        return str(v)
    return v
