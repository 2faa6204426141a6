"""report.md's text: the headline, the tables, the sections, the method (report.html is this
text rendered: :mod:`.html`)."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd

from ablate.report.collect import StudyRuns
from ablate.stats.analysis import Analysis, fmt, label_of

COLUMNS = [
    "label", "status", "mean", "std", "ci95_low", "ci95_high", "n", "failed", "possibly_best",
    "gap_to_best", "vs_ref", "vs_ref_low", "vs_ref_high", "p_better_than_ref", "within_margin",
    "fit_time_s",
]  # fmt: skip

UNEQUAL = 1.5  # the critical value over Tukey's above which the report says the noise differs

METHOD = """Each configuration is trained once per seed, and seed s gives every configuration the
same initial weights and data order: seeds are paired. The configurations with every seed finished
(none failed) are compared with a two-way model, configuration + seed, whose pooled residual
measures the noise; an unpaired one-way model is used only when they do not share their seeds.
**Possibly best**: every pairwise difference is judged against the largest studentized difference
over all pairs (Tukey's studentized range, Tukey 1953, when the noise is one level for all), its
critical value from a wild bootstrap of the residuals in which each configuration has its own noise
(Wu 1986), so that over all pairs at once the chance of any false "worse than" is at most 5% also
when some settings train less stably than others; a configuration is out of the possibly-best set
when it is worse than another one, and "X is best" is said only when the set is {X} and it held on
fresh seeds (`ablate confirm`). Until then the winner's mean is marked as selected on the same
data: the best of many noisy means is optimistic.
**Effects**: each configuration's difference to the
reference with 95% intervals from the same simultaneous family, and P(better), the share of
paired seeds on which it beats the reference; "within ±m" only with a margin m given
(`report.margin`, TOST: Schuirmann 1987). **Dose-response** (one numeric factor, 4 levels or
more): a quadratic in the factor plus a seed effect by least squares; the trend is the F-test
against the seeds-only model, claimed only when the seeds agree on it (the same trend against
the seed x trend interaction below 10% with 3 seeds, 3 points lower per further seed down to the
trend's own level: a spread of the seeds' own slopes is not the factor's effect); the fitted
optimum, its gain over the reference and (when it hurts) the loss where the curve is worst come
with intervals from the curve's simultaneous 95% band (Scheffe), which hold whichever points the
data made best or worst: the optimum's spans the points no other point beats by more than the
band allows. When no effect is detected, the report says which straight change across the range
the runs would have found 9 times in 10, their noise taken at its 80% upper bound (a smaller
effect can hide).
**Two factors**: a two-way ANOVA with interaction and a seed effect. Error rates of these rules,
measured on simulated sweeps: docs/statistics.md."""


def setting(row, conditional: dict[str, tuple[str, str]]) -> str:
    """``dwa (temperature=2)``: the chosen method with the values of its own parameters."""
    parent = next(iter(conditional.values()))[0]
    method = str(row[parent])
    own = [
        f"{alias[len(m) + 1 :]}={fmt(row[alias])}"
        for alias, (_, m) in conditional.items()
        if m == method and not pd.isna(row[alias])
    ]
    return f"{method} ({', '.join(own)})" if own else method


def markdown(runs: StudyRuns, a: Analysis, conf, said, figures, shared) -> list[str]:
    tested = a.table[a.table["status"] == "tested"]
    span = f"{tested['mean'].min():.3f}–{tested['mean'].max():.3f}" if len(tested) else "(none)"
    lines = [
        f"# Ablation report: {runs.study}",
        "",
        f"MLflow experiment `{runs.experiment}`, study run `{runs.study_run_id}`; generated "
        f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')}. Objective: {runs.direction} "
        f"`{runs.metric}` (each run's reported objective, as Optuna ranked it).",
        "",
        "## Headline",
        "",
        *[line for c in said for line in (c.text, "")],
        *[line for note in shared for line in (note, "")],
    ]
    if a.baseline is not None:
        lines += [
            f"For scale: always predicting the majority class scores {runs.metric} = "
            f"{a.baseline:.3f} on the same validation set; the compared configurations' means "
            f"span {span}.",
            "",
        ]
    design = a.design or "no model (fewer than two configurations)"
    lines += [f"{len(a.table)} configurations, {len(runs.seeds)} finished seed runs; compared "
              f"with a {design}."]  # fmt: skip
    if a.critical == "wild bootstrap" and math.isfinite(a.hsd_factor):
        lines += [
            f"Pairwise critical value: {a.hsd_factor:.2f} standard errors of a difference, from "
            "a wild bootstrap that lets each configuration have its own noise; Tukey's, which "
            f"assumes one noise level for all, would be {a.tukey_factor:.2f}. "
            f"{_noise_words(a.hsd_factor / a.tukey_factor)}."
        ]
    elif a.critical == "Tukey" and len(a.seeds) == 2 and a.tested > 2:
        lines += [
            "Pairwise critical value: Tukey's, which assumes one noise level for all "
            "configurations: with 2 seeds a configuration's own noise cannot be estimated "
            "(3 or more seeds let the report allow for unequal noise)."
        ]
    if math.isfinite(a.seed_p):
        lines += [f"Seed effect (the pairing matters when it is large): p = {a.seed_p:.2g}."]
    lines += a.notes
    if runs.raced:
        lines += [
            f"Raced out (`search.race`): {len(runs.raced)} configurations stopped with fewer "
            "seeds, each outside the possibly-best set of the configurations still racing "
            "after a stage (the report's pairwise statistic at the stage's share of the "
            "race's alpha, its critical value from a parametric bootstrap that errs towards "
            "keeping); shown, never compared. The chance that the truly best configuration "
            "was raced out is at most that alpha (docs/statistics.md)."
        ]
    if runs.skipped:
        lines += [
            f"Not counted: {', '.join(f'{v} {k}' for k, v in runs.skipped.items())} seed "
            "run(s) (interrupted, failed or retried; see MLflow)."
        ]
    if runs.dropped:
        lines += [
            "Left out of the analysis: "
            + "; ".join(f"{v} {k}" for k, v in runs.dropped.items())
            + " (one run per cell, the first to finish, and only the study's seeds)."
        ]
    lines += ["", "## Configurations", "", table_md(a.table), ""]
    lines += _pruned_md(runs)
    if conf is not None:
        lines += ["## Confirmation on fresh seeds", "", table_md(conf.table), ""]
    for title, path in figures:
        lines += [f"## {title}", "", f"![{title}]({path.name})", ""]
    lines += [
        "## Method",
        "",
        METHOD,
        "",
        "Files: `runs.csv` (one row per seed run, all final metrics), `configs.csv` (this "
        "table), `claims.json` (each headline sentence with its test, numbers and run ids).",
    ]
    return lines


def _pruned_md(runs: StudyRuns) -> list[str]:
    """The configurations a pruner stopped: where, and their value there (mean over seeds)."""
    p = runs.pruned
    if p.empty:
        return []
    rows = []
    for h, g in p.groupby("config_hash", sort=False):
        rows.append({
            "label": label_of(g.iloc[0], runs.aliases) if runs.aliases else h,
            "pruned_after_epochs": int(g["pruned_at"].max()),
            "mean_at_rung": float(g[runs.metric].mean()),
            "seeds": len(g),
        })  # fmt: skip
    table = pd.DataFrame(rows).sort_values("pruned_after_epochs", ascending=False, kind="stable")
    return [
        "## Pruned configurations",
        "",
        f"{len(rows)} configurations were stopped early by the pruner (`search.pruner`), each "
        "judged on the mean over its seeds at a rung. They are not in the comparisons above, "
        "which are about the configurations that finished: a pruned setting might have ended "
        "differently had it trained on (their curves are dashed in the learning curves).",
        "",
        table_md(table, list(table.columns)),
        "",
    ]


def public(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=[c for c in table if c.startswith("_")])


def table_md(table: pd.DataFrame, cols: list[str] | None = None) -> str:
    cols = cols or [c for c in COLUMNS if c in table]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols)
    body = ["| " + " | ".join(_cell(r[c]) for c in cols) + " |" for _, r in table.iterrows()]
    return "\n".join([head, *body])


def _cell(v) -> str:
    import numpy as np

    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (float, np.floating)):
        if math.isnan(v):
            return "–"
        text = f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.3f}"
        return text[1:] if text.startswith("-") and float(text) == 0 else text  # no "-0.000"
    return str(v)


def _noise_words(ratio: float) -> str:
    """What the bootstrap's widening says. With equal noise it is about 1.1 at 3-4 seeds (not
    knowing that the noise is equal costs that much) and above ``UNEQUAL`` in 1.5-3% of
    simulated sweeps; with a 3x step of noise above it in 7-20% (docs/statistics.md): rarely
    said, and then seldom wrong."""
    if ratio > UNEQUAL:
        return (f"At {ratio:.2f}x Tukey's, the runs' noise looks unequal across "
                "configurations, and the comparisons allow for it")  # fmt: skip
    return (f"A ratio of {ratio:.2f} is common with equal noise too (about 1.1 on average at "
            "3-4 seeds: the price of not assuming it)")  # fmt: skip
