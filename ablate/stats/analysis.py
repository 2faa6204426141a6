"""From a seed-level table to the per-configuration table and what may be said of it (pure).

- Which configurations are tested: those with every seed finished (a configuration with a failed
  seed is shown with its failures and never called best; one with a single seed is shown, not
  tested).
- The model: configuration + seed (seeds are paired: the same seed gives every configuration the
  same initial weights and data order), with the pooled residual; an unpaired one-way model only
  when the configurations do not share their seeds. The report says which.
- "Possibly best": every pairwise difference is judged against the largest studentized
  difference over all pairs (the max-t), on the model's pooled residual: its critical value
  from a wild bootstrap of the residuals that gives each configuration its own noise level
  (``seeds.wild_critical``; Tukey's studentized range, which assumes one noise level for
  all, for 2 configurations, 2 seeds or unpaired ones); a configuration is out of the 95%
  possibly-best set when it is significantly worse than some other one. Over all pairs at once,
  any false statement has probability <= 5%, so with every configuration equal no configuration
  is called worse (or best) in more than 5% of sweeps, and the truly best configuration stays in
  the set in >= 95% of sweeps, also when it was chosen after looking at the data. "X is best"
  needs the set to be {X}. (Hsu's MCB was measured and rejected: with ties it calls a
  configuration "not the best" in 28% of all-equal sweeps of 11 x 3; docs/statistics.md.)
- Effects: each configuration's difference to a reference (the experiment's ``report.reference``,
  default the first level) with intervals from the same simultaneous family, and P(better) over
  paired seeds; "within +-m" of the reference only with a margin m (TOST: the 90% simultaneous
  interval inside +-m).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from ablate.stats.seeds import (
    blocked,
    pooled,
    summarize,
    superiority,
    tukey_critical,
    wild_critical,
)

ALPHA = 0.05


@dataclass
class Analysis:
    table: pd.DataFrame  # one row per configuration, tested ones best first
    direction: str
    design: str  # how the tested configurations were compared
    sigma: float = float("nan")
    df: int = 0
    seeds: list[int] = field(default_factory=list)  # the seeds the comparison used
    best_set: list[str] = field(default_factory=list)  # labels of the possibly-best set
    reference: str | None = None
    reference_name: str | None = None
    margin: float | None = None
    seed_p: float = float("nan")  # is there a seed effect (two-way model)?
    notes: list[str] = field(default_factory=list)
    baseline: float | None = None
    tested: int = 0
    hsd_factor: float = float("nan")  # the family's critical value, in se(difference)
    hsd_factor90: float = float("nan")  # the same at 2 alpha (the TOST's 90% intervals)
    tukey_factor: float = float("nan")  # Tukey's q / sqrt(2), what equal noise would give
    critical: str = "Tukey"  # where hsd_factor came from: "Tukey" or "wild bootstrap"
    alpha: float = ALPHA  # the pairwise family's error rate (5%, or its share of 5%)

    @property
    def claim_best(self) -> bool:
        return len(self.best_set) == 1 and self.tested > 1

    @property
    def best(self) -> pd.Series:
        return self.table.iloc[0]

    @property
    def label(self) -> str:
        return str(self.table.iloc[0]["label"])


def label_of(row, aliases: list[str]) -> str:
    """``a=1, b=x`` over the aliases that have a value (a method's own parameters are empty
    for the other methods)."""
    return ", ".join(f"{a}={fmt(row[a])}" for a in aliases if not pd.isna(row[a])) or "default"


def analyze(
    seeds: pd.DataFrame,
    aliases: list[str],
    metric: str,
    direction: str,
    *,
    value: str = "objective",
    failed: pd.DataFrame | None = None,
    seed_list: list[int] | None = None,
    reference: dict[str, Any] | None = None,
    reference_name: str | None = None,
    margin: float | None = None,
    levels: dict[str, list] | None = None,
    alpha: float = ALPHA,
    raced: dict[str, int] | None = None,
    world: str = "signs",
) -> Analysis:
    """``seeds``: one row per finished (configuration, seed) run, with the aliases, ``seed``
    and ``value`` (the objective each run reported, so the report ranks what Optuna ranked).
    ``failed``: one row per failed run (aliases, seed). ``raced``: configurations (by hash)
    raced out (``search.race``), with the seed count they stopped at. ``world``: the wild
    bootstrap's (:func:`ablate.stats.seeds.wild_critical`)."""
    keys = aliases or ["config_hash"]
    value = value if value in seeds else metric
    rows = []
    fails = _failures(failed, keys)
    for key, group in seeds.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        s = summarize(group[value].tolist())
        row = dict(zip(keys, key, strict=True))
        row.update(mean=s.mean, std=s.std, ci95_low=s.ci95_low, ci95_high=s.ci95_high, n=s.n)
        row["failed"] = fails.pop(_norm(key), 0)
        if "time/fit_s" in group:
            row["fit_time_s"] = float(group["time/fit_s"].mean())
        row["_by_seed"] = dict(zip(group["seed"].astype(int), group[value], strict=True))
        row["_run_ids"] = group["run_id"].tolist() if "run_id" in group else []
        row["_hash"] = group["config_hash"].iloc[0] if "config_hash" in group else None
        rows.append(row)
    for key, n in fails.items():  # configurations whose every seed failed
        rows.append(
            {**dict(zip(keys, key, strict=True)), "n": 0, "failed": n, "_by_seed": {},
             "_run_ids": []}
        )  # fmt: skip
    table = pd.DataFrame(rows)
    for col in ("mean", "std", "ci95_low", "ci95_high"):
        table[col] = table.get(col, float("nan"))
    table["label"] = [
        label_of(r, aliases) if aliases else r["config_hash"] for _, r in table.iterrows()
    ]
    a = Analysis(table, direction, "", reference_name=reference_name, margin=margin, alpha=alpha)
    wanted = sorted(seed_list) if seed_list else None
    table["status"] = [_status(r, wanted, raced or {}) for _, r in table.iterrows()]
    tested = table[table["status"] == "tested"]
    a.tested = len(tested)
    _explain_exclusions(a, table)
    sign = 1.0 if direction == "maximize" else -1.0
    if len(tested) >= 2:
        _compare(a, tested, sign, world)
    a.reference = _reference(table, tested, aliases, reference, levels)
    if a.reference is not None and len(tested) >= 2 and math.isfinite(a.sigma) and a.sigma > 0:
        _versus_reference(a, sign)
    order = table.assign(
        _t=(table["status"] != "tested").astype(int),
        _m=-sign * table["mean"].fillna(-sign * 1e300),
    ).sort_values(["_t", "_m"], kind="stable")
    a.table = order.drop(columns=["_t", "_m"]).reset_index(drop=True)
    baseline_col = "baseline/" + metric.split("/", 1)[-1]
    a.baseline = float(seeds[baseline_col].mean()) if baseline_col in seeds else None
    return a


def _compare(a: Analysis, tested: pd.DataFrame, sign: float, world: str = "signs") -> None:
    """The model, and the possibly-best set: Tukey's studentized range over every pair of the
    tested configurations, read against the best one (a setting is out when it is
    significantly worse than another)."""
    table = a.table
    seed_sets = [frozenset(r) for r in tested["_by_seed"]]
    shared = seed_sets[0] if all(s == seed_sets[0] for s in seed_sets) else None
    labels = tested["label"].tolist()
    if shared is not None and len(shared) >= 2:
        a.seeds = sorted(shared)
        y = np.array([[r[s] for s in a.seeds] for r in tested["_by_seed"]], dtype=float)
        fit = blocked(y)
        a.sigma, a.df, a.seed_p = fit.sigma, fit.df, fit.seed_p
        means, se = fit.means, np.full((len(y), len(y)), fit.se_diff)
        if len(y) >= 3 and len(a.seeds) >= 3 and math.isfinite(fit.sigma) and fit.sigma > 0:
            a.critical = "wild bootstrap"
            a.hsd_factor, a.hsd_factor90 = wild_critical(
                fit.resid, [a.alpha, 2 * a.alpha], world=world
            )
        a.design = (
            f"two-way model, configuration + seed ({len(labels)} configurations x "
            f"{len(a.seeds)} paired seeds; residual sd {fit.sigma:.3g} with {fit.df} df)"
        )
    else:
        groups = [list(r.values()) for r in tested["_by_seed"]]
        a.sigma, a.df = pooled(groups)
        means = np.array([np.mean(g) for g in groups])
        n = np.array([len(g) for g in groups], dtype=float)
        se = a.sigma * np.sqrt(1.0 / n[:, None] + 1.0 / n[None, :])
        a.design = (
            f"one-way model, unpaired (the configurations do not share their seeds); pooled "
            f"sd {a.sigma:.3g} with {a.df} df"
        )
        a.notes.append("Seeds are not shared between configurations: compared unpaired.")
    if not (math.isfinite(a.sigma) and a.sigma > 0 and a.df > 0):
        a.notes.append(
            "No test: the runs have no spread around the model (identical values), so no "
            "difference can be called significant or not."
        )
        return
    a.tukey_factor = tukey_critical(len(labels), a.df, a.alpha) / math.sqrt(2)
    if a.critical == "Tukey":
        a.hsd_factor = a.tukey_factor
        a.hsd_factor90 = tukey_critical(len(labels), a.df, 2 * a.alpha) / math.sqrt(2)
    q = a.hsd_factor  # in units of se(difference)
    oriented = sign * means
    best = int(np.argmax(oriented))
    keep, gaps, margins = [], [], []
    for i in range(len(labels)):
        # Worse than some other configuration j, significantly? The strongest case is j = best.
        gap = oriented[best] - oriented[i]
        margin = q * se[i, best] if i != best else 0.0
        gaps.append(gap)
        margins.append(margin)
        keep.append(i == best or gap <= margin)
    idx = tested.index
    table.loc[idx, "gap_to_best"] = gaps
    table.loc[idx, "hsd"] = margins
    table.loc[idx, "possibly_best"] = keep
    a.best_set = [lab for lab, k in zip(labels, keep, strict=True) if k]


def _versus_reference(a: Analysis, sign: float) -> None:
    """Each tested configuration against the reference, in the possibly-best set's
    simultaneous family. A reference that is not tested itself (a seed of it failed) joins
    the family as one more configuration and is compared on the seeds it shares with each
    configuration, paired: seed effects still cancel."""
    table = a.table
    tested = table[table["status"] == "tested"]
    ref = table[table["label"] == a.reference].iloc[0]
    ref_tested = ref["status"] == "tested"
    d95, d90 = a.hsd_factor, a.hsd_factor90
    if not ref_tested:  # one more in the family: Tukey's for k, widened as the noise widened it
        k, widen = len(tested) + 1, a.hsd_factor / a.tukey_factor
        d95 = widen * tukey_critical(k, a.df, a.alpha) / math.sqrt(2)
        d90 = widen * tukey_critical(k, a.df, 2 * a.alpha) / math.sqrt(2)
    for i, r in tested.iterrows():
        if r["label"] == a.reference:
            continue
        common = sorted(set(r["_by_seed"]) & set(ref["_by_seed"]))
        if a.seeds and ref_tested:
            diff, se = r["mean"] - ref["mean"], a.sigma * math.sqrt(2.0 / len(a.seeds))
        elif a.seeds:  # paired, on the seeds the reference has
            if not common:
                continue
            diff = float(np.mean([r["_by_seed"][s] - ref["_by_seed"][s] for s in common]))
            se = a.sigma * math.sqrt(2.0 / len(common))
        else:
            diff = r["mean"] - ref["mean"]
            se = a.sigma * math.sqrt(1.0 / r["n"] + 1.0 / ref["n"])
        table.loc[i, "vs_ref"] = diff
        table.loc[i, "vs_ref_low"], table.loc[i, "vs_ref_high"] = diff - d95 * se, diff + d95 * se
        if common:
            mine = [r["_by_seed"][s] for s in common]
            theirs = [ref["_by_seed"][s] for s in common]
            table.loc[i, "p_better_than_ref"] = superiority(
                [sign * v for v in mine], [sign * v for v in theirs]
            )
        if a.margin is not None:
            table.loc[i, "within_margin"] = bool(
                diff - d90 * se > -a.margin and diff + d90 * se < a.margin
            )


def _reference(table, tested, aliases, reference, levels) -> str | None:
    """The experiment's reference configuration, or the first level of the search."""
    if not len(tested):
        return None
    if reference:
        match = table
        for alias, v in reference.items():
            if alias in table:
                match = match[match[alias].map(lambda x, v=v: _same(x, v))]
        return str(match.iloc[0]["label"]) if len(match) else None
    candidates = tested.copy()
    for alias in aliases:
        order = (levels or {}).get(alias)
        if order:
            rank = {_key(v): i for i, v in enumerate(order)}
            ranked = [rank.get(_key(v), len(rank)) for v in candidates[alias]]
            candidates = candidates.assign(**{f"_r_{alias}": ranked})
    by = [c for c in candidates if c.startswith("_r_")] or [a for a in aliases if a in tested]
    return str(candidates.sort_values(by, kind="stable").iloc[0]["label"]) if by else None


def _status(row, wanted: list[int] | None, raced: dict[str, int]) -> str:
    n, failed = int(row["n"]), int(row["failed"])
    total = len(wanted) if wanted else n + failed
    if row.get("_hash") in raced:
        return f"raced out: {n}/{total} seeds"
    if failed:
        return f"excluded: {failed}/{total} failed"
    if wanted and sorted(row["_by_seed"]) != wanted:
        return f"incomplete: {n}/{total} seeds"
    if n < 2:
        return "excluded: 1 seed"
    return "tested"


def _explain_exclusions(a: Analysis, table: pd.DataFrame) -> None:
    out = table[table["status"] != "tested"]
    if len(out):
        a.notes.append(
            "Not tested (shown, never called best): "
            + "; ".join(
                f"{r['label']} ({r['status'].split(': ', 1)[1]})" for _, r in out.iterrows()
            )
            + "."
        )


def _failures(failed: pd.DataFrame | None, keys: list[str]) -> dict[tuple, int]:
    if failed is None or failed.empty:
        return {}
    out: dict[tuple, int] = {}
    for key, group in failed.groupby(keys, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        out[_norm(key)] = len(group)
    return out


def _norm(key: tuple) -> tuple:
    return tuple(_key(v) for v in key)


def _key(v) -> Any:
    if isinstance(v, float) and math.isnan(v):
        return None
    if isinstance(v, (int, float, np.floating, np.integer)) and not isinstance(v, bool):
        return round(float(v), 10)
    return v


def _same(a, b) -> bool:
    return _key(a) == _key(b)


def fmt(v) -> str:
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)
