"""What a report's headline says, from a table of seed runs (pure): the search's analysis and
its claims (possibly-best set, dose-response or two factors, the reference).

The report (:mod:`.render`) calls it on the runs it read from MLflow; the replay benchmark
(``bench/replay.py``) calls it on the runs a policy would have finished, so that a policy is
judged by exactly the sentences its report would print.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from ablate.report import claims as C
from ablate.stats.analysis import Analysis, analyze, label_of
from ablate.stats.budget import headline_alpha
from ablate.stats.dose import DoseResponse, TwoFactor, dose_response, two_factor


@dataclass
class Headline:
    analysis: Analysis
    claims: list[C.Claim]  # best set, dose or two factors, reference (a confirmation goes first)
    alpha: float  # each family's level (the headline's share of 5%)
    model: str | None = None  # "dose-response test" | "two factors' tests" | None
    doses: dict[str, DoseResponse] = field(default_factory=dict)
    two: TwoFactor | None = None
    confirmation: Analysis | None = None  # the possibly-best set re-trained on fresh seeds


def plain(aliases: list[str], conditional: dict[str, tuple[str, str]]) -> list[str]:
    """The swept aliases that are not a method's own parameter (nor such a method choice)."""
    parents = {parent for parent, _ in conditional.values()}
    return [x for x in aliases if x not in conditional and x not in parents]


def level(
    seeds: pd.DataFrame, aliases: list[str], conditional: dict, race_alpha: float
) -> tuple[float, list[str], list[str], bool]:
    """The pairwise family's level, the plain factors, the numeric ones, and whether a model's
    tests (a dose-response, two factors) are in the headline. The headline's families share
    5%: the pairwise comparisons and, when there is a numeric factor or two factors, their
    model's tests; so with every setting equal no more than 5% of reports say anything false
    at all (docs/statistics.md)."""
    factors = plain(aliases, conditional)
    numeric = [x for x in factors if _numeric(seeds[x]) and seeds[x].nunique() >= 4]
    modelled = (len(factors) == 1 and bool(numeric)) or len(factors) == 2
    return headline_alpha(race_alpha, modelled), factors, numeric, modelled


def headline(
    seeds: pd.DataFrame,
    aliases: list[str],
    metric: str,
    direction: str,
    *,
    study: str,
    settings: dict[str, Any] | None = None,
    seed_list: list[int] | None = None,
    failed: pd.DataFrame | None = None,
    levels: dict[str, list] | None = None,
    raced: dict[str, int] | None = None,
    race_alpha: float = 0.0,
    conditional: dict[str, tuple[str, str]] | None = None,
    confirm: pd.DataFrame | None = None,
) -> Headline:
    """``seeds``: one row per finished (configuration, seed) run with the aliases, ``seed``,
    ``objective``, ``config_hash`` and ``run_id``; the rest as :func:`analyze` takes it.

    ``confirm``: the confirmation's runs (the search's possibly-best set and the reference on
    fresh seeds), when there are any. Then one 5% still covers the whole headline: the
    confirmation's comparisons take the pairwise family's share, and the search's set is only
    a nomination (what was confirmed), not a claim; the dose-response or two-factor tests keep
    theirs, and the reference is compared on the fresh seeds (docs/statistics.md)."""
    settings, conditional = settings or {}, conditional or {}
    alpha, factors, numeric, modelled = level(seeds, aliases, conditional, race_alpha)
    a = compared(seeds, aliases, metric, direction, settings, alpha, failed=failed,
                 seed_list=seed_list, levels=levels, raced=raced)  # fmt: skip
    h = Headline(a, [], alpha)
    if confirm is not None and not confirm.empty:
        fresh = sorted(confirm["seed"].unique().tolist())
        h.confirmation = compared(confirm, aliases, metric, direction, settings, alpha,
                                  seed_list=fresh, levels=levels)  # fmt: skip
        h.claims.append(C.confirmed(h.confirmation, metric, fresh))
        h.claims.append(C.nominated(a, metric))
    else:
        h.claims.append(C.best_set(a, metric, study))
    tested = seeds[seeds["config_hash"].isin(_tested_hashes(a, seeds, aliases))]
    if len(factors) == 1 and numeric:
        d = dose_response(tested, numeric[0], "objective", direction,
                          _reference_value(a, numeric[0]), alpha)  # fmt: skip
        if d is not None:
            h.doses[numeric[0]] = d
            h.claims.append(C.dose(d, metric, direction, a.reference or f"{d.reference:g}"))
    if len(factors) == 2:
        h.two = two_factor(tested, *factors, "objective", alpha / 3)
        if h.two is not None:
            h.claims.append(C.two_factor(h.two))
    h.claims.append(C.reference(h.confirmation or a, metric))
    h.claims = [c for c in h.claims if c is not None]
    if modelled:
        h.model = "two factors' tests" if h.two is not None else "dose-response test"
    return h


def compared(seeds: pd.DataFrame, aliases: list[str], metric: str, direction: str,
             settings: dict[str, Any], alpha: float, **kw) -> Analysis:  # fmt: skip
    """The runs compared as the report compares them, with its settings (reference, its name,
    the margin) at the family's level ``alpha``; ``kw`` as :func:`analyze` takes it."""
    return analyze(
        seeds, aliases, metric, direction, reference=settings.get("reference"),
        reference_name=settings.get("reference_name"), margin=settings.get("margin"),
        alpha=alpha, **kw,
    )  # fmt: skip


def _numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _tested_hashes(a: Analysis, seeds: pd.DataFrame, aliases: list[str]) -> set[str]:
    tested = set(a.table.loc[a.table["status"] == "tested", "label"])
    labels = {
        label_of(r, aliases) if aliases else r["config_hash"]: r["config_hash"]
        for _, r in seeds.iterrows()
    }  # fmt: skip
    return {h for lab, h in labels.items() if lab in tested}


def _reference_value(a: Analysis, factor: str) -> float | None:
    if a.reference is None:
        return None
    row = a.table[a.table["label"] == a.reference]
    return float(row.iloc[0][factor]) if len(row) else None
