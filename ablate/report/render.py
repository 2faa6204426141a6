"""Write a study's report: report.md, a self-contained report.html, runs.csv and figures."""

from __future__ import annotations

import base64
import datetime as dt
import html
import math
from pathlib import Path

import pandas as pd

from ablate import tracking as T
from ablate.report import plots
from ablate.report.analysis import _fmt, analyze, headline, label_of
from ablate.report.collect import collect

COLUMNS = ["label", "mean", "std", "ci95_low", "ci95_high", "n", "p_vs_best_holm", "fit_time_s"]


def build_report(
    tracking_uri: str,
    experiment: str,
    study: str,
    out: Path,
    log_artifacts: bool = True,
    fingerprint: str | None = None,
) -> Path:
    runs = collect(tracking_uri, experiment, study, fingerprint)
    a = analyze(runs.seeds, runs.aliases, runs.metric, runs.direction)
    out.mkdir(parents=True, exist_ok=True)
    write_atomic(out / "runs.csv", runs.seeds.to_csv(index=False))
    write_atomic(out / "configs.csv", a.table.to_csv(index=False))

    figures: list[tuple[str, Path]] = []
    # A method's own parameters (swept only when it is chosen) are empty for the other methods:
    # plot them folded into one categorical "setting" per configuration instead of on their own.
    conditional = runs.conditional
    parents = {parent for parent, _ in conditional.values()}
    plain = [x for x in runs.aliases if x not in conditional and x not in parents]
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
                a.table,
                runs.seeds,
                alias,
                runs.metric,
                a.baseline,
                out / f"{_safe(runs.metric)}_vs_{alias}.png",
                others=[o for o in runs.aliases if o != alias and o not in conditional],
            )
            figures.append((f"{runs.metric} vs {alias}", p))
    hue = runs.aliases[0] if runs.aliases else None
    if not runs.curves.empty:
        p = plots.learning_curves(runs.curves, hue, runs.metric, out / "learning_curves.png")
        figures.append(("Learning curves", p))

    w = runs.weights
    if not w.empty and (w.groupby(["run_id", "term"])["value"].nunique() > 1).any():
        # Some method changed its weights during training: show how.
        w = w.assign(setting=[label_of(r, runs.aliases) for _, r in w.iterrows()])
        p = plots.weight_curves(w, "setting", out / "weights.png")
        figures.append(("Term weights per epoch (mean over seeds)", p))
    lines = _markdown(runs, a, figures)
    write_atomic(out / "report.md", "\n".join(lines) + "\n")
    write_atomic(out / "report.html", _html(runs, a, figures, lines[0]))
    if log_artifacts:
        c = T.client(tracking_uri)
        c.log_artifacts(runs.study_run_id, str(out), artifact_path="report")
    return out / "report.md"


def _setting(row, conditional: dict[str, tuple[str, str]]) -> str:
    """``dwa (temperature=2)``: the chosen method with the values of its own parameters."""
    parent = next(iter(conditional.values()))[0]
    method = str(row[parent])
    own = [
        f"{alias[len(m) + 1 :]}={_fmt(row[alias])}"
        for alias, (_, m) in conditional.items()
        if m == method and not pd.isna(row[alias])
    ]
    return f"{method} ({', '.join(own)})" if own else method


def _markdown(runs, a, figures) -> list[str]:
    best_range = f"{a.table['mean'].min():.3f}–{a.table['mean'].max():.3f}"
    lines = [
        f"# Ablation report: {runs.study}",
        "",
        f"MLflow experiment `{runs.experiment}`, study run `{runs.study_run_id}`; generated "
        f"{dt.datetime.now().strftime('%Y-%m-%d %H:%M')}. Objective: {runs.direction} "
        f"`{runs.metric}` (value at the last epoch of each seed run).",
        "",
        "## Headline",
        "",
        headline(a, runs.metric, runs.direction),
        "",
    ]
    if a.baseline is not None:
        lines += [
            f"For scale: always predicting the majority class scores {runs.metric} = "
            f"{a.baseline:.3f} on the same validation set; the configurations' means span "
            f"{best_range}.",
            "",
        ]
    n_cfg, n_runs = len(a.table), len(runs.seeds)
    lines += [f"{n_cfg} configurations, {n_runs} finished seed runs."]
    if runs.skipped:
        lines += [
            f"Not counted: {', '.join(f'{v} {k}' for k, v in runs.skipped.items())} seed "
            "run(s) (interrupted or failed; see MLflow)."
        ]
    if runs.dropped:
        lines += [
            "Left out of the analysis: "
            + "; ".join(f"{v} {k}" for k, v in runs.dropped.items())
            + " (one run per cell, the first to finish, and only the study's seeds)."
        ]
    lines += ["", "## Configurations", "", _table_md(a.table), ""]
    for title, path in figures:
        lines += [f"## {title}", "", f"![{title}]({path.name})", ""]
    lines += [
        "## Method",
        "",
        "Each configuration is trained once per seed. Mean ± a two-sided 95% t-interval over "
        "seeds. `p_vs_best_holm`: Welch's t-test of each configuration against the best, "
        "Holm-corrected over all comparisons; a setting is only called *best* when every "
        "comparison is significant at 0.05. Few seeds give wide intervals: add seeds to "
        "`search.seeds` and re-run the sweep (finished cells are reused).",
        "",
        "Files: `runs.csv` (one row per seed run, all final metrics), `configs.csv` (this table).",
    ]
    return lines


def _table_md(table: pd.DataFrame) -> str:
    cols = [c for c in COLUMNS if c in table]
    head = "| " + " | ".join(cols) + " |\n|" + "---|" * len(cols)
    body = ["| " + " | ".join(_cell(r[c]) for c in cols) + " |" for _, r in table.iterrows()]
    return "\n".join([head, *body])


def _cell(v) -> str:
    if isinstance(v, float):
        if math.isnan(v):
            return "–"
        return f"{v:.3g}" if abs(v) < 1e-3 and v != 0 else f"{v:.3f}"
    return str(v)


def _html(runs, a, figures, title_line: str) -> str:
    cols = [c for c in COLUMNS if c in a.table]
    table = a.table[cols].to_html(index=False, float_format=lambda v: f"{v:.3f}", na_rep="–")
    imgs = "".join(
        f"<h2>{html.escape(t)}</h2><img alt='{html.escape(t)}' src='data:image/png;base64,"
        f"{base64.b64encode(p.read_bytes()).decode()}'>"
        for t, p in figures
    )
    head = headline(a, runs.metric, runs.direction)
    head = html.escape(head).replace("**", "")
    baseline = (
        f"<p>Majority-class baseline: {runs.metric} = {a.baseline:.3f}.</p>"
        if a.baseline is not None
        else ""
    )
    return f"""<!doctype html><html><head><meta charset="utf-8">
<title>{html.escape(runs.study)} — ablate report</title>
<style>body{{font-family:system-ui,sans-serif;max-width:900px;margin:2em auto;padding:0 1em}}
table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:4px 8px;text-align:right}}
.headline{{font-size:1.15em;background:#f3f6fa;padding:.8em;border-left:4px solid #2a6}}
img{{max-width:100%}}</style></head><body>
<h1>{html.escape(title_line.lstrip("# "))}</h1>
<p>MLflow experiment <code>{html.escape(runs.experiment)}</code>, objective {runs.direction}
<code>{html.escape(runs.metric)}</code>.</p>
<p class="headline">{head}</p>{baseline}
<h2>Configurations</h2>{table}{imgs}
<p>Mean ± two-sided 95% t-interval over seeds; Welch t-test against the best, Holm-corrected.</p>
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
<code>make ui</code> and read <a href="mlflow_ui.md">mlflow_ui.md</a>.</p>
<ul>{"".join(items) or "<li>No reports yet: run <code>make sweep</code>.</li>"}</ul>
</body></html>
"""
    path = dashboards / "index.html"
    write_atomic(path, page)
    return path


def write_atomic(path: Path, text: str) -> None:
    """Write a file so that a reader sees the old one or the new one, never half of it."""
    import os

    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)
