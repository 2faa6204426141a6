"""Write a study's report: report.md, a self-contained report.html, claims.json, CSVs, figures."""

from __future__ import annotations

import json
from pathlib import Path

from ablate import tracking as T
from ablate.report import claims as C
from ablate.report import headline as H
from ablate.report import plots, views
from ablate.report.collect import StudyRuns, collect
from ablate.report.html import page, write_atomic
from ablate.report.markdown import markdown, public, setting
from ablate.stats.analysis import Analysis, analyze, label_of


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
    h = _headline(runs, settings)
    a, doses, two, conf = h.analysis, h.doses, h.two, h.confirmation
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "runs.csv", runs.seeds.to_csv(index=False))
    write_atomic(out / "configs.csv", public(a.table).to_csv(index=False))
    said = h.claims
    shared = (
        [C.shared_note(runs.race_alpha, h.alpha, h.model, confirmed=conf is not None)]
        if h.alpha < 0.05
        else []
    )
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
    tests are in the headline (:func:`ablate.report.headline.level`)."""
    return H.level(runs.seeds, runs.aliases, runs.conditional, runs.race_alpha)


def search_analysis(runs: StudyRuns, settings: dict) -> Analysis:
    """The search's comparison exactly as the report shows it (at the headline's level): its
    possibly-best set is what ``ablate confirm`` re-trains."""
    return H.compared(runs.seeds, runs.aliases, runs.metric, runs.direction, settings,
                      headline_level(runs)[0], failed=runs.failed, seed_list=runs.seed_list,
                      levels=runs.levels, raced=runs.raced)  # fmt: skip


def _headline(runs: StudyRuns, settings: dict) -> H.Headline:
    return H.headline(
        runs.seeds, runs.aliases, runs.metric, runs.direction, study=runs.study,
        settings=settings, seed_list=runs.seed_list, failed=runs.failed, levels=runs.levels,
        raced=runs.raced, race_alpha=runs.race_alpha, conditional=runs.conditional,
        confirm=runs.confirm,
    )  # fmt: skip


def _figures(runs: StudyRuns, a: Analysis, doses, two, out: Path) -> list[tuple[str, Path]]:
    figures: list[tuple[str, Path]] = []
    # A method's own parameters (swept only when it is chosen) are empty for the other methods:
    # plot them folded into one categorical "setting" per configuration instead of on their own.
    conditional, plain = runs.conditional, H.plain(runs.aliases, runs.conditional)
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
