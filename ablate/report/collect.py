"""Read a study's runs back from MLflow into pandas."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

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
    seeds: pd.DataFrame  # one row per (configuration, seed) cell: its first FINISHED run
    curves: pd.DataFrame  # run_id, epoch, value (+ config_hash, seed, aliases)
    skipped: dict[str, int]  # seed runs not FINISHED, by status
    weights: pd.DataFrame = field(default_factory=pd.DataFrame)  # run_id, epoch, term, value
    # A method's own parameters: alias -> (the method's alias, the method it belongs to)
    conditional: dict[str, tuple[str, str]] = field(default_factory=dict)
    dropped: dict[str, int] = field(default_factory=dict)  # FINISHED runs left out, and why
    seed_list: list[int] | None = None  # the study's search.seeds
    failed: pd.DataFrame = field(default_factory=pd.DataFrame)  # cells that failed, with why
    confirm: pd.DataFrame = field(default_factory=pd.DataFrame)  # confirmation runs (fresh seeds)
    levels: dict[str, list] = field(default_factory=dict)  # each alias's values, search order
    settings: dict[str, Any] = field(default_factory=dict)  # the study's report settings
    study_key: str | None = None
    # Seed runs a pruner stopped at a rung (KILLED, ``ablate.pruned_at``), one row each, and
    # their learning curves: shown as pruned, never compared with finished configurations.
    pruned: pd.DataFrame = field(default_factory=pd.DataFrame)
    pruned_curves: pd.DataFrame = field(default_factory=pd.DataFrame)
    raced: dict[str, int] = field(default_factory=dict)  # config hash -> seeds when raced out
    race_alpha: float = 0.0  # the share of the headline's 5% that racing spent (search.race)


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
    aliases, conditional, levels = _search(srun)
    key = srun.data.tags.get(T.RUN_KEY)
    if key:  # runs of this study run only (a study recreated under the same name has its own)
        every = T.search(c, exp.experiment_id, {T.STUDY_KEY: key})
        runs = [r for r in every if r.data.tags.get(T.ROLE) == "seed"]
        confirm = [r for r in every if r.data.tags.get(T.ROLE) == "confirm"]
        raced = {
            r.data.tags[T.HASH]: int(r.data.tags["ablate.raced_out_at"]) for r in every
            if r.data.tags.get(T.ROLE) == "config" and r.data.tags.get("ablate.raced_out_at")
        }  # fmt: skip
    else:  # made before study keys existed
        runs, confirm = T.find_runs(c, exp.experiment_id, role="seed", study=study), []
        raced = {}
    seed_list = _seed_list(srun)
    finished, dropped = _one_per_cell(runs, seed_list)
    skipped: dict[str, int] = {}
    pruned_runs = [r for r in runs if r.info.status == "KILLED" and r.data.tags.get(PRUNED_AT)]
    for r in runs:
        if r.info.status != "FINISHED" and r not in pruned_runs:
            skipped[r.info.status] = skipped.get(r.info.status, 0) + 1
    if not finished:
        raise AblateError(f"study {study!r} has no finished seed runs yet")
    p0 = finished[0].data.params
    metric, direction = p0["objective.metric"], p0["objective.direction"]
    seeds = _table(finished, aliases)
    curves, weights = _histories(c, finished, metric)
    cols = ["run_id", "config_hash", "seed", *aliases]
    confirmed, _ = _one_per_cell(confirm, None)
    pruned, pruned_curves = pd.DataFrame(), pd.DataFrame()
    if pruned_runs:
        pruned = _table(pruned_runs, aliases)
        pruned["pruned_at"] = [
            int(r.data.tags[PRUNED_AT]) for r in pruned_runs_sorted(pruned_runs, pruned)
        ]
        pc, _ = _histories(c, pruned_runs, metric)
        pruned_curves = pc.merge(pruned[["run_id", "config_hash", "seed", *aliases]], on="run_id")
    runs_ = StudyRuns(
        study,
        experiment,
        srun.info.run_id,
        aliases,
        metric,
        direction,
        seeds,
        curves.merge(seeds[cols], on="run_id"),
        skipped,
        weights.merge(seeds[cols], on="run_id"),
        conditional,
        dropped,
        seed_list,
        _failed_cells(runs, seed_list, aliases),
        _table(confirmed, aliases) if confirmed else pd.DataFrame(),
        levels,
        json.loads(srun.data.tags.get("ablate.report_settings", "{}")),
        key,
        pruned,
        pruned_curves,
        raced,
        float(srun.data.tags.get("ablate.race_alpha", 0) or 0),
    )
    return runs_


PRUNED_AT = "ablate.pruned_at"


def pruned_runs_sorted(runs, table: pd.DataFrame) -> list:
    """``runs`` in the order of ``table``'s rows (which :func:`_table` sorts)."""
    by_id = {r.info.run_id: r for r in runs}
    return [by_id[i] for i in table["run_id"]]


def _search(srun) -> tuple[list[str], dict[str, tuple[str, str]], dict[str, list]]:
    """The swept aliases (in the search space's order: a method before its own parameters),
    which belong to a method, and each one's values in the order the search lists them."""
    params = srun.data.params
    aliases = [k[len("search.") :] for k in sorted(params) if k.startswith("search.")]
    if "search_order" in params:
        order = json.loads(params["search_order"])
        aliases = sorted(aliases, key=lambda a: order.index(a) if a in order else len(order))
    conditional, levels = {}, {}
    for a in aliases:
        definition = json.loads(params[f"search.{a}"])
        when = definition.get("when")
        if when:  # recorded by the study run for a method's own parameters
            ((parent, method),) = when.items()
            conditional[a] = (parent, method)
        if definition.get("choices"):
            levels[a] = definition["choices"]
    return aliases, conditional, levels


def _table(runs, aliases: list[str]) -> pd.DataFrame:
    rows = []
    for r in runs:
        row = {
            "run_id": r.info.run_id,
            "trial": int(r.data.tags.get(T.TRIAL, -1)),
            "config_hash": r.data.tags[T.HASH],
            "seed": int(r.data.tags[T.SEED]),
        }
        row.update({a: _parse(r.data.params.get(a)) for a in aliases})
        # A metric named like a swept alias ("lr" the metric, "lr" the alias) keeps the alias.
        row.update({k: v for k, v in r.data.metrics.items() if k not in row})
        rows.append(row)
    return pd.DataFrame(rows).sort_values([*aliases, "seed"], kind="stable").reset_index(drop=True)


def _histories(c, runs, metric: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    curves, weights = [], []
    for r in runs:
        for m in c.get_metric_history(r.info.run_id, metric):
            curves.append({"run_id": r.info.run_id, "epoch": m.step, "value": m.value})
        for key in (k for k in r.data.metrics if k.startswith("weight/")):
            for m in c.get_metric_history(r.info.run_id, key):
                weights.append(
                    {"run_id": r.info.run_id, "epoch": m.step, "term": key[7:], "value": m.value}
                )
    return (
        pd.DataFrame(curves, columns=["run_id", "epoch", "value"]),
        pd.DataFrame(weights, columns=["run_id", "epoch", "term", "value"]),
    )


def _failed_cells(runs, seed_list, aliases: list[str]) -> pd.DataFrame:
    """Cells of the study's seeds with no FINISHED run and a FAILED one (diverged, or failed
    after its retries): the configuration has a failed seed."""
    done = {(r.data.tags.get(T.HASH), r.data.tags.get(T.SEED)) for r in runs
            if r.info.status == "FINISHED"}  # fmt: skip
    rows = {}
    for r in sorted(runs, key=lambda r: r.info.end_time or 0):
        cell = (r.data.tags.get(T.HASH), r.data.tags.get(T.SEED))
        if r.info.status != "FAILED" or cell in done:
            continue
        if seed_list is not None and int(cell[1]) not in seed_list:
            continue
        rows[cell] = {
            "config_hash": cell[0],
            "seed": int(cell[1]),
            "kind": r.data.tags.get(T.FAILURE_KIND, ""),
            "reason": r.data.tags.get(T.FAILURE, ""),
            "run_id": r.info.run_id,
            **{a: _parse(r.data.params.get(a)) for a in aliases},
        }
    return pd.DataFrame(list(rows.values()))


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
    """A logged parameter's value: JSON, or Python's spelling of a bool or None (MLflow holds
    ``str(value)``, so a swept ``true`` comes back as "True")."""
    if text is None:
        return None
    python = {"True": True, "False": False, "None": None}
    if text in python:
        return python[text]
    try:
        return json.loads(text)
    except (json.JSONDecodeError, TypeError):
        return text
