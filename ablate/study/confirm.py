"""Confirmation: the possibly-best set and the reference, re-trained on fresh seeds.

The best of many noisy means is optimistic: it was chosen because it came out high on these
seeds. Re-training the candidates on seeds the search never used gives unbiased means, and only
those may say "X is best" or give the headline number. Confirmation seeds are 10000, 10001, ...
(far from any search's seeds), so running ``ablate confirm`` again resumes the same cells.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pandas as pd

from ablate import spec as S
from ablate.errors import AblateError

FIRST_SEED = 10_000


@dataclass
class Plan:
    values: list[dict[str, Any]]  # the configurations, as search values
    labels: list[str]
    seeds: list[int]


def plan(spec: S.Experiment, tracking_uri: str, study: str, seeds: int) -> Plan:
    """Which configurations to confirm (the search's possibly-best set, exactly as its report
    shows it, and its reference) and on which fresh seeds."""
    from ablate.report.collect import collect
    from ablate.report.render import search_analysis
    from ablate.stats.analysis import label_of

    runs = collect(tracking_uri, spec.name, study, S.fingerprint_id(spec))
    a = search_analysis(runs, spec.report.model_dump())  # the set the report shows
    if a.tested < 2:
        raise AblateError(
            f"study {study!r} has {a.tested} configuration(s) with every seed finished: "
            "nothing to confirm yet"
        )
    chosen = list(a.best_set) + ([a.reference] if a.reference not in a.best_set else [])
    chosen = [c for c in chosen if c]
    values = []
    for label in chosen:
        row = next(r for _, r in runs.seeds.iterrows() if label_of(r, runs.aliases) == label)
        values.append({k: _plain(row[k]) for k in runs.aliases if not pd.isna(row[k])})
    used = set(runs.seeds["seed"]) | set(runs.seed_list or [])
    first = max(FIRST_SEED, max(used) + 1)
    return Plan(values, chosen, list(range(first, first + seeds)))


def spec_of_study(storage: str, study: str) -> S.Experiment:
    """The experiment a study was created with, from the Optuna storage (for ``ablate confirm
    STUDY`` without the experiment file)."""
    import optuna

    from ablate.study.adapter import db_url

    try:
        attrs = optuna.load_study(study_name=study, storage=db_url(storage)).user_attrs
    except KeyError:
        raise AblateError(f"no study named {study!r} in the Optuna storage") from None
    if "ablate.fingerprint" not in attrs:
        raise AblateError(f"study {study!r} was not made by ablate sweep")
    if "ablate.spec" in attrs:  # the last search's experiment, report settings included
        return S.validate(attrs["ablate.spec"], check_search=False)
    raw = json.loads(attrs["ablate.fingerprint"])
    raw["name"] = attrs.get("ablate.experiment", study)
    raw["plugins"] = attrs.get("ablate.plugins", [])
    raw["search"]["seeds"] = attrs.get("ablate.seeds", [0])
    return S.validate(raw, check_search=False)


def _plain(v):
    return v.item() if hasattr(v, "item") else v
