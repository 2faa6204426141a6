"""Read a study's runs back from MLflow into pandas."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pandas as pd

from ablate import tracking as T
from ablate.errors import AblateError


@dataclass
class StudyRuns:
    study: str
    experiment: str
    study_run_id: str
    aliases: list[str]
    metric: str
    direction: str
    seeds: pd.DataFrame  # one row per FINISHED seed run
    curves: pd.DataFrame  # run_id, epoch, metric, value
    skipped: dict[str, int]  # seed runs not FINISHED, by status
    weights: pd.DataFrame = field(default_factory=pd.DataFrame)  # run_id, epoch, term, value
    # A method's own parameters: alias -> (the method's alias, the method it belongs to)
    conditional: dict[str, tuple[str, str]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # FINISHED runs left out, and why
    seed_list: list[int] | None = None  # the study's search.seeds


def collect(
    tracking_uri: str, experiment: str, study: str, fingerprint: str | None = None
) -> StudyRuns:
    """The study's runs: its study run (the one of ``fingerprint`` when given, else the
    latest), one FINISHED seed run per (configuration, seed) cell, only the study's seeds."""
    c = T.client(tracking_uri)
    exp = c.get_experiment_by_name(experiment)
    if exp is None:
        raise AblateError(
            f"no MLflow experiment named {experiment!r} at {T.mask_url(tracking_uri)}"
        )
    studies = T.find_runs(c, exp.experiment_id, role="study", study=study)
    if not studies:
        raise AblateError(
            f"no study {study!r} in MLflow experiment {experiment!r}; run `ablate sweep` first"
        )
    same = [r for r in studies if r.data.tags.get(T.FINGERPRINT) == fingerprint]
    srun = max(same or studies, key=lambda r: r.info.start_time or 0)
    if fingerprint is not None and not same:
        print(
            f"note: study {study!r} was run with another version of this experiment (--set "
            "overrides, or an edited file); reporting its latest study run"
        )
    aliases = [k[len("search.") :] for k in sorted(srun.data.params) if k.startswith("search.")]
    if "search_order" in srun.data.params:  # the search space's own order: a method before its
        order = json.loads(srun.data.params["search_order"])  # own parameters
        aliases = sorted(aliases, key=lambda a: order.index(a) if a in order else len(order))
    conditional = {}
    for a in aliases:
        when = json.loads(srun.data.params[f"search.{a}"]).get("when")
        if when:  # recorded by the study run for a method's own parameters
            ((parent, method),) = when.items()
            conditional[a] = (parent, method)
    key = srun.data.tags.get(T.RUN_KEY)
    if key:  # runs of this study run only (a study recreated under the same name has its own)
        runs = T.search(c, exp.experiment_id, {T.STUDY_KEY: key, T.ROLE: "seed"})
    else:  # made before study keys existed
        runs = T.find_runs(c, exp.experiment_id, role="seed", study=study)
    seed_list = _seed_list(srun)
    finished, dropped = _one_per_cell(runs, seed_list)
    skipped: dict[str, int] = {}
    for r in runs:
        if r.info.status != "FINISHED":
            skipped[r.info.status] = skipped.get(r.info.status, 0) + 1
    if not finished:
        raise AblateError(f"study {study!r} has no finished seed runs yet")
    p0 = finished[0].data.params
    metric, direction = p0["objective.metric"], p0["objective.direction"]
    rows, curves, weights = [], [], []
    for r in finished:
        row = {
            "run_id": r.info.run_id,
            "trial": int(r.data.tags[T.TRIAL]),
            "config_hash": r.data.tags[T.HASH],
            "seed": int(r.data.tags[T.SEED]),
        }
        row.update({a: _parse(r.data.params.get(a)) for a in aliases})
        row.update(r.data.metrics)
        rows.append(row)
        for m in c.get_metric_history(r.info.run_id, metric):
            curves.append({"run_id": r.info.run_id, "epoch": m.step, "value": m.value})
        for key in (k for k in r.data.metrics if k.startswith("weight/")):
            for m in c.get_metric_history(r.info.run_id, key):
                weights.append(
                    {"run_id": r.info.run_id, "epoch": m.step, "term": key[7:], "value": m.value}
                )
    seeds = pd.DataFrame(rows).sort_values([*aliases, "seed"], kind="stable")
    curve_df = pd.DataFrame(curves, columns=["run_id", "epoch", "value"])
    curve_df = curve_df.merge(seeds[["run_id", "config_hash", "seed", *aliases]], on="run_id")
    return StudyRuns(
        study,
        experiment,
        srun.info.run_id,
        aliases,
        metric,
        direction,
        seeds.reset_index(drop=True),
        curve_df,
        skipped,
        pd.DataFrame(weights, columns=["run_id", "epoch", "term", "value"]).merge(
            seeds[["run_id", "config_hash", "seed", *aliases]], on="run_id"
        ),
        conditional,
        dropped,
        seed_list,
    )


def _seed_list(srun) -> list[int] | None:
    text = srun.data.tags.get("ablate.seeds") or srun.data.params.get("seeds")
    return json.loads(text) if text else None


def _one_per_cell(runs, seed_list: list[int] | None) -> tuple[list, dict[str, int]]:
    """One FINISHED run per (configuration, seed), the first to finish; only the study's seeds.
    A second run of a cell (two drivers before claims existed, a hand-made run) would count one
    seed twice: with no spread between the copies, it makes a difference look certain."""
    dropped: dict[str, int] = {}
    kept: dict[tuple[str, str], object] = {}
    finished = sorted(
        (r for r in runs if r.info.status == "FINISHED"), key=lambda r: r.info.end_time or 0
    )
    for r in finished:
        cell = (r.data.tags.get(T.HASH), r.data.tags.get(T.SEED))
        if seed_list is not None and int(cell[1]) not in seed_list:
            why = "runs of seeds outside search.seeds"
        elif cell in kept:
            why = "duplicate runs of a (configuration, seed) cell"
        else:
            kept[cell] = r
            continue
        dropped[why] = dropped.get(why, 0) + 1
    return list(kept.values()), dropped


def _parse(text: str | None):
    if text is None:
        return None
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
