"""Seaborn figures for a report (pure: data in, files out)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd


def _save(fig, path: Path) -> None:
    """Write the figure atomically: a reader never sees half a PNG."""
    import os
    import uuid

    # A name of this writer's own: two sweeps of one study may write its report at once.
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex[:12]}.tmp")
    fig.savefig(tmp, dpi=110, format="png", bbox_inches="tight")
    os.replace(tmp, path)


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import seaborn as sns

    sns.set_theme(style="whitegrid", context="notebook")
    return plt, sns


def dose_labels(dose) -> tuple[str, str | None]:
    """The legend of the fitted dose-response: the curve's, and the optimum's band only when
    the trend test detected an effect (as the headline prints the optimum only then: the
    optimum of a curve fitted to noise is noise, and a band would read as a claim)."""
    if dose.seeds_disagree:
        return (f"fit over seeds (trend p = {dose.trend_p:.2g}, but the seeds disagree: "
                f"p = {dose.seeds_p:.2g})", None)  # fmt: skip
    if not dose.detected:
        return f"fit over seeds (trend p = {dose.trend_p:.2g}: no effect detected)", None
    return (f"fit over seeds (trend p = {dose.trend_p:.2g})",
            f"fitted optimum {dose.optimum:.2g}, 95% interval")  # fmt: skip


def metric_vs_param(
    table: pd.DataFrame,
    seeds: pd.DataFrame,
    alias: str,
    metric: str,
    baseline: float | None,
    path: Path,
    others: list[str] | None = None,
    dose=None,
    value: str | None = None,
) -> Path:
    """Mean over seeds with its 95% t-interval (band for numbers, bars for categories), the seeds
    as points. With other swept factors (``others``), one series per setting of them, so no
    interval mixes configurations. ``dose``: the fitted dose-response curve, and when an effect
    is detected its optimum with the optimum's 95% interval."""
    value = value if value is not None and value in seeds else metric
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(7.5, 4.4))
    others = [o for o in (others or []) if table[o].nunique() > 1]
    series = (
        [(", ".join(f"{o}={v}" for o, v in zip(others, key if isinstance(key, tuple) else (key,),
                                                 strict=True)), grp)
         for key, grp in table.groupby(others, sort=True)]
        if others
        else [("", table)]
    )  # fmt: skip
    palette = sns.color_palette("viridis" if others else "deep", len(series))
    numeric = pd.api.types.is_numeric_dtype(table[alias])
    if numeric:
        for (name, t), color in zip(series, palette, strict=True):
            t = t.sort_values(alias)
            ax.fill_between(t[alias], t["ci95_low"], t["ci95_high"], alpha=0.18, color=color)
            ax.plot(t[alias], t["mean"], marker="o", color=color, label=name or "mean over seeds")
        sns.scatterplot(
            data=seeds, x=alias, y=value, color="black", s=12, alpha=0.5, ax=ax, label="seed runs"
        )
        if dose is not None:
            import numpy as np

            xs = np.linspace(min(dose.levels), max(dose.levels), 200)
            fit, optimum = dose_labels(dose)
            ax.plot(xs, dose.curve(xs), color="crimson", lw=1.6, label=fit)
            if optimum is not None:
                ax.axvspan(*dose.optimum_ci, color="crimson", alpha=0.08, label=optimum)
                ax.axvline(dose.optimum, color="crimson", ls=":", lw=1)
        values = table[alias].dropna()
        positive = values[values > 0]
        if len(positive) and values.min() >= 0 and positive.max() / positive.min() >= 20:
            # Log-spaced settings (0, 0.001, ..., 0.1): a symlog axis keeps them apart.
            ax.set_xscale("symlog", linthresh=float(positive.min()))
            ax.set_xticks(sorted(values.unique()), [f"{v:g}" for v in sorted(values.unique())])
    else:
        # Categories in the table's order (best first); no line joins unrelated settings, and the
        # bars are the same t-intervals as the table's, not seaborn's bootstrap.
        order = list(dict.fromkeys(str(v) for v in table[alias]))
        pos = {v: i for i, v in enumerate(order)}
        width = 0.6 / len(series)
        for k, ((name, t), color) in enumerate(zip(series, palette, strict=True)):
            shift = (k - (len(series) - 1) / 2) * width
            x = [pos[str(v)] + shift for v in t[alias]]
            mean = t["mean"].to_numpy()
            err = [mean - t["ci95_low"].to_numpy(), t["ci95_high"].to_numpy() - mean]
            ax.errorbar(x, mean, yerr=err, fmt="o", capsize=4, color=color,
                        label=name or "mean ± 95% CI")  # fmt: skip
        pts = seeds.assign(_x=seeds[alias].astype(str).map(pos))
        sns.scatterplot(
            data=pts, x="_x", y=value, color="black", s=12, alpha=0.5, ax=ax, label="seed runs"
        )
        long = max(map(len, order)) * len(order) > 70
        ax.set_xticks(range(len(order)), order)
        if long:  # slanted, so that long setting labels do not run into each other
            ax.tick_params(axis="x", labelrotation=30, labelsize="small")
            for tick in ax.get_xticklabels():
                tick.set_horizontalalignment("right")
        ax.set_xlabel(alias)
    if baseline is not None:
        ax.axhline(baseline, color="grey", ls="--", lw=1, label="majority-class baseline")
    ax.set_ylabel(metric)
    ax.set_title(f"{metric} vs {alias}" + (" (95% t-intervals)" if others else ""))
    ax.legend(fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1), borderaxespad=0)
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def learning_curves(
    curves: pd.DataFrame, hue: str | None, metric: str, path: Path,
    pruned: pd.DataFrame | None = None,
) -> Path:  # fmt: skip
    """Per-epoch validation metric, mean over seeds with a 95% band, one line per setting;
    configurations a pruner stopped dashed, up to their rung."""
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(8.5, 4.2))
    data = curves.assign(run="finished")
    if pruned is not None and not pruned.empty:
        data = pd.concat([data, pruned.assign(run="pruned")], ignore_index=True)
    style = "run" if data["run"].nunique() > 1 else None
    if hue is not None:
        order = sorted(data[hue].unique(), key=lambda v: (str(type(v)), v))
        data[hue] = pd.Categorical(data[hue].astype(str), [str(v) for v in order])
    sns.lineplot(
        data=data,
        x="epoch",
        y="value",
        hue=hue,
        style=style,
        style_order=["finished", "pruned"] if style else None,
        markers={"finished": ".", "pruned": "X"} if style else False,
        errorbar=("ci", 95),
        ax=ax,
        palette="viridis" if hue else None,
    )
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_ylabel(metric)
    ax.set_title(f"Learning curves: {metric} per epoch (mean over seeds)")
    if hue is not None or style is not None:  # beside the axes: it must not cover a curve
        ax.legend(title=hue, fontsize="x-small", loc="upper left", bbox_to_anchor=(1.01, 1),
                  borderaxespad=0)  # fmt: skip
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def weight_curves(weights: pd.DataFrame, hue: str, path: Path) -> Path:
    """Each term's weight per epoch (mean over seeds), one panel per term, one line per setting:
    what a combination method actually did."""
    plt, sns = _plt()
    data = weights.copy()
    data[hue] = data[hue].astype(str)
    terms = list(dict.fromkeys(data["term"]))
    n = data[hue].nunique()
    palette = "tab10" if n <= 10 else sns.color_palette("husl", n)  # no repeated colours
    fig, axes = plt.subplots(1, len(terms), figsize=(4.2 * len(terms) + 1.5, 3.8), squeeze=False)
    for ax, term in zip(axes[0], terms, strict=True):
        sns.lineplot(
            data=data[data["term"] == term], x="epoch", y="value", hue=hue, errorbar=None,
            ax=ax, palette=palette, style=hue if n > 10 else None, legend=ax is axes[0][-1],
        )  # fmt: skip
        ax.set_title(f"weight/{term}")
        ax.set_ylabel("weight")
        v = data.loc[data["term"] == term, "value"]
        if v.max() > 10 * max(v.median(), 1e-3):  # one method's weights dwarf the others'
            ax.set_yscale("symlog", linthresh=0.1)
            ax.set_ylim(bottom=0)
    from matplotlib.ticker import MaxNLocator

    for ax in axes[0]:
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if axes[0][-1].get_legend() is not None:
        sns.move_legend(axes[0][-1], "upper left", bbox_to_anchor=(1.02, 1), fontsize="x-small")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path


def heatmap(means: pd.DataFrame, a: str, b: str, metric: str, path: Path) -> Path:
    """Mean over seeds for each combination of two factors."""
    plt, sns = _plt()
    fig, ax = plt.subplots(figsize=(1.2 * means.shape[1] + 3, 0.8 * means.shape[0] + 2))
    sns.heatmap(means, annot=True, fmt=".3f", cmap="viridis", ax=ax,
                cbar_kws={"label": f"{metric} (mean over seeds)"})  # fmt: skip
    ax.set_ylabel(a)
    ax.set_xlabel(b)
    ax.set_title(f"{metric}: {a} x {b}")
    fig.tight_layout()
    _save(fig, path)
    plt.close(fig)
    return path
