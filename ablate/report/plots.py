"""Seaborn figures for a report (pure: data in, files out)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt, sns


def metric_vs_param(
    table: pd.DataFrame,
    seeds: pd.DataFrame,
    alias: str,
    metric: str,
    baseline: float | None,
    path: Path,
) -> Path:
    """Mean over seeds with its 95% t-interval as a band, the seeds as points."""
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    t = table.sort_values(alias)
    numeric = pd.api.types.is_numeric_dtype(t[alias])
    if numeric:
        ax.fill_between(t[alias], t["ci95_low"], t["ci95_high"], alpha=0.25, label="95% CI")
        sns.lineplot(data=t, x=alias, y="mean", marker="o", ax=ax, label="mean over seeds")
        sns.scatterplot(
            data=seeds, x=alias, y=metric, color="black", s=14, alpha=0.6, ax=ax, label="seed runs"
        )
    else:
        # Categories in the table's order (best first); no line joins unrelated settings, and the
        # bars are the same t-intervals as the table's, not seaborn's bootstrap.
        order = [str(v) for v in table[alias]]
        x = range(len(order))
        mean = table["mean"].to_numpy()
        err = [mean - table["ci95_low"].to_numpy(), table["ci95_high"].to_numpy() - mean]
        ax.errorbar(x, mean, yerr=err, fmt="o", capsize=5, label="mean ± 95% CI")
        pts = seeds.assign(_x=seeds[alias].astype(str).map({v: i for i, v in enumerate(order)}))
        sns.scatterplot(
            data=pts, x="_x", y=metric, color="black", s=14, alpha=0.6, ax=ax, label="seed runs"
        )
        ax.set_xticks(list(x), order)
        ax.set_xlabel(alias)
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls="--", lw=1, label="majority-class baseline")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs {alias}")
    ax.legend(loc="best", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def learning_curves(curves: pd.DataFrame, hue: str | None, metric: str, path: Path) -> Path:
    """Per-epoch validation metric, mean over seeds with a 95% band, one line per setting."""
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    data = curves.copy()
    if hue is not None:
        data[hue] = data[hue].astype(str)
    sns.lineplot(
        data=data,
        x="epoch",
        y="value",
        hue=hue,
        errorbar=("ci", 95),
        ax=ax,
        palette="viridis" if hue else None,
    )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric)
    ax.set_title(f"Learning curves: {metric} per epoch (mean over seeds)")
    if hue is not None:
        ax.legend(title=hue, fontsize="x-small", ncol=2)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
