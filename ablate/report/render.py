"""Write a study's report: report.md, a self-contained report.html, claims.json, CSVs, figures."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ablate import tracking as T
from ablate.report import claims as C
from ablate.report import plots, views
from ablate.report.collect import StudyRuns, collect
from ablate.report.html import page, write_atomic
from ablate.report.markdown import markdown, public, setting
from ablate.stats.analysis import Analysis, analyze, label_of
from ablate.stats.budget import headline_alpha
from ablate.stats.dose import dose_response, two_factor


def build_report(
    tracking_uri: str,
    experiment: str,
    study: str,
    out: Path,
    log_artifacts: bool = True,
    fingerprint: str | None = None,
    settings: dict | None = None,
) -> Path:
    runs = collect(tracking_uri, experiment, study, fingerprint)
    settings = settings if settings is not None else runs.settings
    alpha, plain, numeric, modelled = headline_level(runs)
    a = search_analysis(runs, settings)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "runs.csv", runs.seeds.to_csv(index=False))
    write_atomic(out / "configs.csv", public(a.table).to_csv(index=False))

    said: list[C.Claim] = []
    conf = None
    if not runs.confirm.empty:
        seeds = sorted(runs.confirm["seed"].unique().tolist())
        conf = _analyze(runs, runs.confirm, seeds, settings, None)
        said.append(C.confirmed(conf, runs.metric, seeds))
    said.append(C.best_set(a, runs.metric, study, confirmed=conf is not None))
    tested = runs.seeds[runs.seeds["config_hash"].isin(_tested_hashes(a, runs))]
    doses = {}
    if len(plain) == 1 and numeric:
        ref_value = _reference_value(a, runs, numeric[0])
        d = dose_response(tested, numeric[0], "objective", runs.direction, ref_value, alpha)
        if d is not None:
            doses[numeric[0]] = d
            said.append(C.dose(d, runs.metric, runs.direction, a.reference or f"{d.reference:g}"))
    two = None
    if len(plain) == 2:
        two = two_factor(tested, *plain, "objective", alpha / 3)
        if two is not None:
            said.append(C.two_factor(two))
    said.append(C.reference(a, runs.metric))
    said = [c for c in said if c is not None]
    model = (
        None
        if not modelled
        else "two factors' tests"
        if two is not None
        else ("dose-response test")
    )
    shared = [C.shared_note(runs.race_alpha, alpha, model)] if alpha < 0.05 else []
    write_atomic(out / "claims.json", json.dumps([c.to_json() for c in said], indent=1) + "\n")

    figures = _figures(runs, a, doses, two, out)
    lines = markdown(runs, a, conf, said, figures, shared)
    text = "\n".join(lines) + "\n"
    write_atomic(out / "report.md", text)
    write_atomic(out / "report.html", page(text, runs.study, out))
    if log_artifacts:
        c = T.client(tracking_uri)
        _log_report(c, runs.study_run_id, out)
        state = views.configuration_view(study, runs.metric, runs.aliases, runs.direction)
        exp_id = c.get_run(runs.study_run_id).info.experiment_id
        views.publish(c, exp_id, study, state)
    return out / "report.md"


def _log_report(c, run_id: str, out: Path) -> None:
    """The report's files as the study run's ``report`` artifacts, from a snapshot: another
    sweep of the study may be writing the same folder (its half-written files are hidden)."""
    import shutil
    import tempfile

    with tempfile.TemporaryDirectory() as snap:
        for f in out.iterdir():
            if f.is_file() and not f.name.startswith("."):
                try:
                    shutil.copy2(f, snap)
                except FileNotFoundError:
                    pass
        c.log_artifacts(run_id, snap, artifact_path="report")


def headline_level(runs: StudyRuns) -> tuple[float, list[str], list[str], bool]:
    """The pairwise family's level, the plain factors, the numeric ones, and whether a model's
    tests (a dose-response, two factors) are in the headline. The headline's families share
    5%: the pairwise comparisons and, when there is a numeric factor or two factors, their
    model's tests; so with every setting equal no more than 5% of reports say anything false
    at all (docs/statistics.md)."""
    plain = _plain(runs)
    numeric = [x for x in plain if _numeric(runs.seeds[x]) and runs.seeds[x].nunique() >= 4]
    modelled = (len(plain) == 1 and bool(numeric)) or len(plain) == 2
    return headline_alpha(runs.race_alpha, modelled), plain, numeric, modelled


def search_analysis(runs: StudyRuns, settings: dict) -> Analysis:
    """The search's comparison exactly as the report shows it (at the headline's level): its
    possibly-best set is what ``ablate confirm`` re-trains."""
    alpha = headline_level(runs)[0]
    return _analyze(runs, runs.seeds, runs.seed_list, settings, runs.failed, alpha)


def _analyze(runs: StudyRuns, seeds, seed_list, settings, failed, alpha=0.05) -> Analysis:
    return analyze(
        seeds, runs.aliases, runs.metric, runs.direction, failed=failed, seed_list=seed_list,
        reference=settings.get("reference"), reference_name=settings.get("reference_name"),
        margin=settings.get("margin"), levels=runs.levels, alpha=alpha, raced=runs.raced,
    )  # fmt: skip


def _plain(runs: StudyRuns) -> list[str]:
    """The swept aliases that are not a method's own parameter (nor such a method choice)."""
    parents = {parent for parent, _ in runs.conditional.values()}
    return [x for x in runs.aliases if x not in runs.conditional and x not in parents]


def _numeric(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col)


def _tested_hashes(a: Analysis, runs: StudyRuns) -> set[str]:
    tested = set(a.table.loc[a.table["status"] == "tested", "label"])
    labels = {label_of(r, runs.aliases): r["config_hash"] for _, r in runs.seeds.iterrows()}
    return {h for lab, h in labels.items() if lab in tested}


def _reference_value(a: Analysis, runs: StudyRuns, factor: str) -> float | None:
    if a.reference is None:
        return None
    row = a.table[a.table["label"] == a.reference]
    return float(row.iloc[0][factor]) if len(row) else None


def _figures(runs: StudyRuns, a: Analysis, doses, two, out: Path) -> list[tuple[str, Path]]:
    figures: list[tuple[str, Path]] = []
    # A method's own parameters (swept only when it is chosen) are empty for the other methods:
    # plot them folded into one categorical "setting" per configuration instead of on their own.
    conditional, plain = runs.conditional, _plain(runs)
    if conditional:
        seeds = runs.seeds.assign(
            setting=[setting(r, conditional) for _, r in runs.seeds.iterrows()]
        )
        fold = analyze(seeds, ["setting", *plain], runs.metric, runs.direction)
        p = plots.metric_vs_param(
            fold.table, seeds, "setting", runs.metric, a.baseline,
            out / f"{runs.metric.replace('/', '_')}_vs_setting.png", others=plain,
        )  # fmt: skip
        figures.append((f"{runs.metric} per setting", p))
    for alias in plain if conditional else runs.aliases:
        if runs.seeds[alias].nunique() > 1:
            p = plots.metric_vs_param(
                a.table, runs.seeds, alias, runs.metric, a.baseline,
                out / f"{runs.metric.replace('/', '_')}_vs_{alias}.png",
                others=[o for o in runs.aliases if o != alias and o not in conditional],
                dose=doses.get(alias), value="objective",
            )  # fmt: skip
            figures.append((f"{runs.metric} vs {alias}", p))
    if two is not None:
        p = plots.heatmap(two.means, *two.factors, runs.metric, out / "two_factors.png")
        figures.append((f"{runs.metric}: {two.factors[0]} x {two.factors[1]}", p))
    hue = runs.aliases[0] if runs.aliases else None
    if not runs.curves.empty:
        p = plots.learning_curves(runs.curves, hue, runs.metric, out / "learning_curves.png",
                                  pruned=runs.pruned_curves)  # fmt: skip
        figures.append(("Learning curves", p))
    w = runs.weights
    if not w.empty and (w.groupby(["run_id", "term"])["value"].nunique() > 1).any():
        # Some method changed its weights during training: show how.
        w = w.assign(setting=[label_of(r, runs.aliases) for _, r in w.iterrows()])
        p = plots.weight_curves(w, "setting", out / "weights.png")
        figures.append(("Term weights per epoch (mean over seeds)", p))
    return figures
