"""From a seed-level table to the per-configuration table and the headline's claims (pure)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd

from ablate.report.stats import holm, summarize, welch_p

ALPHA = 0.05


@dataclass
class Analysis:
    table: pd.DataFrame  # one row per configuration, best first
    best: pd.Series
    indistinguishable: pd.DataFrame  # configurations not shown to differ from the best
    claim_best: bool  # the best is significantly better than every other configuration
    baseline: float | None
    label: str


def label_of(row, aliases: list[str]) -> str:
    """``a=1, b=x`` over the aliases that have a value (a method's own parameters are empty
    for the other methods)."""
    return ", ".join(f"{a}={_fmt(row[a])}" for a in aliases if not pd.isna(row[a])) or "default"


def analyze(seeds: pd.DataFrame, aliases: list[str], metric: str, direction: str) -> Analysis:
    keys = aliases or ["config_hash"]
    rows = []
    for values, group in seeds.groupby(keys, sort=True, dropna=False):
        values = values if isinstance(values, tuple) else (values,)
        s = summarize(group[metric].tolist())
        row = dict(zip(keys, values, strict=True))
        row.update(mean=s.mean, std=s.std, ci95_low=s.ci95_low, ci95_high=s.ci95_high, n=s.n)
        if "time/fit_s" in group:
            row["fit_time_s"] = float(group["time/fit_s"].mean())
        row["_values"] = group[metric].tolist()
        rows.append(row)
    table = pd.DataFrame(rows)
    ascending = direction == "minimize"
    table = table.sort_values("mean", ascending=ascending, kind="stable").reset_index(drop=True)
    best = table.iloc[0]
    raw = [float("nan")] + [welch_p(best["_values"], v) for v in table["_values"].iloc[1:]]
    table["p_vs_best"] = raw
    table["p_vs_best_holm"] = [float("nan")] + holm(raw[1:])
    table["label"] = [label_of(r, aliases) for _, r in table.iterrows()]
    same = table.iloc[1:][~(table["p_vs_best_holm"].iloc[1:] < ALPHA)]
    claim = len(table) > 1 and same.empty and best["n"] >= 2
    baseline_col = "baseline/" + metric.split("/", 1)[-1]
    baseline = float(seeds[baseline_col].mean()) if baseline_col in seeds else None
    return Analysis(
        table.drop(columns="_values"),
        table.iloc[0].drop("_values"),
        same.drop(columns="_values"),
        bool(claim),
        baseline,
        label_of(best, aliases),
    )


def headline(a: Analysis, metric: str, direction: str) -> str:
    b = a.best
    ci = (
        f"95% CI [{b['ci95_low']:.3f}, {b['ci95_high']:.3f}]"
        if math.isfinite(b["ci95_low"])
        else "no CI with one seed"
    )
    stat = f"{metric} {b['mean']:.3f} ({ci}, n={int(b['n'])})"
    word = "highest" if direction == "maximize" else "lowest"
    if len(a.table) == 1:
        return f"Only one configuration was run: {a.label} gives {stat}."
    if a.claim_best:
        return (
            f"**{a.label} is best**: {stat}; every other setting is worse at p < {ALPHA} "
            f"(Welch t-test, Holm-corrected over {len(a.table) - 1} comparisons)."
        )
    others = ", ".join(a.indistinguishable["label"])
    if len(a.indistinguishable) == len(a.table) - 1 and len(a.table) > 2:
        others = f"any of the other {len(a.table) - 1} settings"
    return (
        f"**{a.label}** has the {word} mean, {stat}, but the data cannot tell it apart from "
        f"{others} (Holm-corrected Welch p ≥ {ALPHA}); no single best setting is shown."
    )


def _fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
