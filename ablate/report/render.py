"""Write a study's report: report.md, a self-contained report.html, claims.json, CSVs, figures."""

from __future__ import annotations

import base64
import datetime as dt
import html
import json
import math
import os
import uuid
from pathlib import Path

import pandas as pd

from ablate import tracking as T
from ablate.report import claims as C
from ablate.report import plots, views
from ablate.report.collect import StudyRuns, collect
from ablate.stats.analysis import Analysis, analyze, fmt, label_of
from ablate.stats.budget import headline_alpha
from ablate.stats.dose import dose_response, two_factor

COLUMNS = [
    "label", "status", "mean", "std", "ci95_low", "ci95_high", "n", "failed", "possibly_best",
    "gap_to_best", "vs_ref", "vs_ref_low", "vs_ref_high", "p_better_than_ref", "within_margin",
    "fit_time_s",
]  # fmt: skip

METHOD = """Each configuration is trained once per seed, and seed s gives every configuration
the same initial weights and data order: seeds are paired. The configurations with every seed
finished (none failed) are compared with a two-way model, configuration + seed, whose pooled
residual measures the noise; an unpaired one-way model is used only when they do not share
their seeds. **Possibly best**: every pairwise difference is judged against Tukey's studentized
range (Tukey 1953) on that residual, so that over all pairs at once the chance of any false
"worse than" is at most 5%; a configuration is out of the possibly-best set when it is worse than
another one, and "X is best" is said only when the set is {X} and it held on fresh seeds
(`ablate confirm`). Until then the winner's mean is marked as selected on the same data: the
best of many noisy means is optimistic. **Effects**: each configuration's difference to the
reference with 95% intervals from the same simultaneous family, and P(better), the share of
paired seeds on which it beats the reference; "within ±m" only with a margin m given
(`report.margin`, TOST: Schuirmann 1987). **Dose-response** (one numeric factor, 4 levels or
more): a quadratic in the factor plus a seed effect by least squares; the trend is the F-test
against the seeds-only model; the fitted optimum comes with a 95% interval (the delta method's
t-interval for a vertex inside the range, a wild bootstrap for an optimum at an edge), its gain
over the reference with a 95% t-interval (delta method at the fitted optimum).
**Two factors**: a two-way ANOVA with interaction and a seed effect. Error rates of these rules,
measured on simulated sweeps: docs/statistics.md."""


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
    # The headline's families of tests share 5%: the pairwise comparisons and, when there is a
    # numeric factor or two factors, their model's tests; so with every setting equal no more
    # than 5% of reports say anything false at all (docs/statistics.md).
    plain = _plain(runs)
    numeric = [x for x in plain if _numeric(runs.seeds[x]) and runs.seeds[x].nunique() >= 4]
    modelled = (len(plain) == 1 and bool(numeric)) or len(plain) == 2
    alpha = headline_alpha(runs.race_alpha, modelled)
    a = _analyze(runs, runs.seeds, runs.seed_list, settings, runs.failed, alpha)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "runs.csv", runs.seeds.to_csv(index=False))
    write_atomic(out / "configs.csv", _public(a.table).to_csv(index=False))

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
    lines = _markdown(runs, a, conf, said, figures, shared)
    text = "\n".join(lines) + "\n"
    write_atomic(out / "report.md", text)
    write_atomic(out / "report.html", _html(text, runs.study, out))
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
            setting=[_setting(r, conditional) for _, r in runs.seeds.iterrows()]
        )
        fold = analyze(seeds, ["setting", *plain], runs.metric, runs.direction)
        p = plots.metric_vs_param(
            fold.table, seeds, "setting", runs.metric, a.baseline,
            out / f"{_safe(runs.metric)}_vs_setting.png", others=plain,
        )  # fmt: skip
        figures.append((f"{runs.metric} per setting", p))
    for alias in plain if conditional else runs.aliases:
        if runs.seeds[alias].nunique() > 1:
            p = plots.metric_vs_param(
                a.table, runs.seeds, alias, runs.metric, a.baseline,
                out / f"{_safe(runs.metric)}_vs_{alias}.png",
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


def _setting(row, conditional: dict[str, tuple[str, str]]) -> str:
    """``dwa (temperature=2)``: the chosen method with the values of its own parameters."""
    parent = next(iter(conditional.values()))[0]
    method = str(row[parent])
    own = [
        f"{alias[len(m) + 1 :]}={fmt(row[alias])}"
        for alias, (_, m) in conditional.items()
        if m == method and not pd.isna(row[alias])
    ]
    return f"{method} ({', '.join(own)})" if own else method


def _markdown(runs: StudyRuns, a: Analysis, conf, said, figures, shared) -> list[str]:
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
    if math.isfinite(a.seed_p):
        lines += [f"Seed effect (the pairing matters when it is large): p = {a.seed_p:.2g}."]
    lines += a.notes
    if runs.raced:
        lines += [
            f"Raced out (`search.race`): {len(runs.raced)} configurations stopped with fewer "
            "seeds, each outside the possibly-best set of the configurations still racing "
            "after a stage (Tukey's test at the stage's share of the race's alpha); shown, "
            "never compared. The chance that the truly best configuration was raced out is at "
            "most that alpha (docs/statistics.md)."
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
    lines += ["", "## Configurations", "", _table_md(a.table), ""]
    lines += _pruned_md(runs)
    if conf is not None:
        lines += ["## Confirmation on fresh seeds", "", _table_md(conf.table), ""]
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
        _table_md(table, list(table.columns)),
        "",
    ]


def _public(table: pd.DataFrame) -> pd.DataFrame:
    return table.drop(columns=[c for c in table if c.startswith("_")])


def _table_md(table: pd.DataFrame, cols: list[str] | None = None) -> str:
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


def _html(markdown_text: str, title: str, folder: Path) -> str:
    """report.html from report.md, by a Markdown renderer (one source: the two cannot drift):
    each ``##`` section in a ``<section id=...>``, figures embedded (the page stands alone),
    wide tables scrolled rather than clipped."""
    import re

    import markdown

    body = markdown.markdown(markdown_text, extensions=["tables", "toc"], output_format="html")

    def embed(m: re.Match) -> str:
        path = folder / html.unescape(m.group(2))
        if not path.is_file():
            return m.group(0)
        data = base64.b64encode(path.read_bytes()).decode()
        return f'{m.group(1)}"data:image/png;base64,{data}"'

    body = re.sub(r'(<img alt="[^"]*" src=)"([^"]+\.png)"', embed, body)
    body = body.replace("<table>", '<div class="wide"><table>').replace(
        "</table>", "</table></div>"
    )
    parts = re.split(r'(?=<h2 id="[^"]+">)', body)
    ids = [re.match(r'<h2 id="([^"]+)"', p).group(1) for p in parts[1:]]
    sections = [p.replace(f' id="{i}"', "", 1) for i, p in zip(ids, parts[1:], strict=True)]
    body = parts[0] + "".join(  # the id moves from the heading to its section
        f'<section id="{i}">{p}</section>' for i, p in zip(ids, sections, strict=True)
    )
    # Long column names may break after an underscore: the table fits instead of clipping.
    body = re.sub(r"<th>([^<]+)</th>", lambda m: f"<th>{m.group(1).replace('_', '_<wbr>')}</th>",
                  body)  # fmt: skip
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)} — ablate report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;
line-height:1.45}}.wide{{overflow-x:auto;margin:.5em 0}}table{{border-collapse:collapse;
font-size:.85em;white-space:nowrap}}td,th{{border:1px solid #ccc;padding:3px 6px;
text-align:right}}th{{background:#f4f4f4;white-space:normal;vertical-align:bottom}}td:first-child{{text-align:left}}
#headline{{background:#f3f6fa;padding:.1em .9em .4em;border-left:4px solid #2a6}}
img{{max-width:100%}}code{{background:#f4f4f4;padding:0 .2em}}</style></head><body>
{body}
</body></html>
"""


def _safe(name: str) -> str:
    return name.replace("/", "_")


def write_dashboard_index(reports_root: Path, dashboards: Path) -> Path:
    """``dashboards/index.html``: a link to every study's report under ``reports_root``."""
    dashboards.mkdir(parents=True, exist_ok=True)
    items = []
    for report in sorted(reports_root.glob("*/report.html")):
        rel = Path("..") / report.relative_to(reports_root.parent)
        md = report.with_name("report.md")
        first = ""
        if md.exists():
            text = md.read_text().split("## Headline", 1)[-1].strip().splitlines()
            first = text[0].replace("**", "") if text else ""
        items.append(
            f"<li><a href='{html.escape(str(rel))}'>{html.escape(report.parent.name)}"
            f"</a><br><small>{html.escape(first)}</small></li>"
        )
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>ablate dashboards</title>
<style>body{{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto}}li{{margin:.8em 0}}
</style></head><body><h1>ablate: study reports</h1>
<p>Regenerated by <code>ablate report</code>. To compare runs interactively, run
<code>ablate ui</code> in this folder.</p>
<ul>{"".join(items) or "<li>No reports yet: run <code>ablate sweep</code>.</li>"}</ul>
</body></html>
"""
    path = dashboards / "index.html"
    write_atomic(path, page)
    return path


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that a reader sees the old one or the new one, never half of it."""
    # A name of this writer's own: two sweeps of one study may write its report at once.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
