"""Learning curves for the replay benchmark (bench/replay.py): a *cube* of the objective for
every configuration x seed x epoch, recorded from a real sweep (bench/record_curves.py) or drawn
from a synthetic family whose truth is known.

Synthetic families, in units of the seed-to-seed noise sd at the last epoch (sigma = 1), on the
default's aux-weight grid (0, 0.1, ..., 1; the reference is 0):

    y[c, s, e] = base(e) + g(e) * mu[c] + (1 - g(e)) * early[c] + seed_sd * b[s] + eps[c, s, e]

``base`` is the curve every configuration shares; ``g(e)`` how much of the final effect shows
after ``e`` epochs (0 -> 1, ``tau`` epochs to 63%); ``early`` the configuration's offset early
on, which fades as training goes on (a late bloomer: negative early, best at the end); ``b``
the seed's effect (shared by every configuration: the same seed, the same initial weights and
data order); ``eps`` noise, correlated from epoch to epoch (AR(1), ``rho``), its sd ``noise(e)``
moving to 1 at the last epoch. The defaults of :class:`Shape` are the proportions measured on
the recorded aux-weight curves (``python bench/replay.py --measure CSV`` prints them).

Families (the truth is ``mu``, the means at the last epoch):
- ``interior``: a dose-response peaking inside the range (at 0.4), ``effect`` above the reference;
- ``edge``: rising straight to the edge (best at 1.0), ``effect`` above the reference;
- ``null``: the factor does nothing;
- ``late_bloomer``: peaking at 0.8 (``effect`` above the reference at the end), but the higher
  weights start worse (``early`` = -2 * effect * x): worst at the first rungs, best at the end.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

LEVELS = np.round(np.linspace(0.0, 1.0, 11), 10)
FAMILIES = ("interior", "edge", "null", "late_bloomer")


@dataclass
class Cube:
    """The objective of every configuration x seed x epoch (epoch e at index e - 1)."""

    name: str
    factor: str
    levels: list  # the factor's values, one per configuration (numbers or method names)
    y: np.ndarray  # configs x seeds x epochs
    direction: str = "maximize"
    reference: int = 0  # the reference configuration's index
    truth: np.ndarray | None = None  # the true means at the last epoch (synthetic families)
    notes: list[str] = field(default_factory=list)

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.y.shape

    @property
    def numeric(self) -> bool:
        return all(isinstance(v, int | float | np.floating) for v in self.levels)


def recorded(path, direction: str | None = None) -> Cube:
    """A CSV of bench/record_curves.py: one factor (the first column), seed, epoch, then the
    objective's metric (the column after ``epoch``)."""
    from pathlib import Path

    text = Path(path).read_text().splitlines()
    header = [line[2:] for line in text if line.startswith("#")]
    t = pd.read_csv(path, comment="#")
    factor, metric = t.columns[0], t.columns[list(t.columns).index("epoch") + 1]
    levels = list(dict.fromkeys(t[factor]))  # the order the sweep listed them
    if all(isinstance(v, int | float | np.floating) for v in levels):
        levels = sorted(levels)
    seeds = sorted(t["seed"].unique())
    epochs = int(t["epoch"].max())
    y = np.full((len(levels), len(seeds), epochs), np.nan)
    ci = {v: i for i, v in enumerate(levels)}
    si = {s: i for i, s in enumerate(seeds)}
    for v, s, e, m in zip(t[factor], t["seed"], t["epoch"], t[metric], strict=True):
        y[ci[v], si[s], int(e) - 1] = m
    if np.isnan(y).any():
        raise SystemExit(f"{path}: {int(np.isnan(y).sum())} (config, seed, epoch) values missing")
    minimize = direction == "minimize" or (direction is None and "loss" in metric)
    return Cube(Path(path).stem, factor, levels, y, "minimize" if minimize else "maximize",
                notes=header)  # fmt: skip


def resample(cube: Cube, rng: np.random.Generator) -> Cube:
    """New seeds for recorded curves: the residual bootstrap of the two-way model, epoch by
    epoch, y[c, s, e] = m[c, e] + b[s, e] + r[c, s, e]. Each new seed's effect is a recorded
    seed's (whole curves, drawn with replacement) and each new cell's noise a recorded cell's
    residual curve (drawn with replacement from all cells: its epoch-to-epoch correlation goes
    with it), both scaled up for what fitting the means took out. Drawing whole seeds instead
    would put the same seed twice into a resample: the paired analysis then sees two identical
    seeds, underestimates the noise and claims more (the full grid said "helps" in 9.5% of
    such resamples of the default's curves, where the recorded runs show no trend, p = 0.85).
    The truth of the new curves is the recorded means over seeds, ``m``."""
    y = cube.y
    c, s, e = y.shape
    m = y.mean(1)  # configs x epochs
    b = y.mean(0) - y.mean((0, 1))  # seeds x epochs
    r = y - m[:, None, :] - b[None, :, :]
    seeds = b[rng.integers(0, s, size=s)] * np.sqrt(s / (s - 1))
    cells = r.reshape(c * s, e)[rng.integers(0, c * s, size=(c, s))]
    noise = cells * np.sqrt(c * s / ((c - 1) * (s - 1)))
    return Cube(cube.name, cube.factor, cube.levels, m[:, None, :] + seeds[None] + noise,
                cube.direction, cube.reference, truth=m[:, -1].copy())  # fmt: skip


@dataclass
class Shape:
    """A synthetic family's proportions (noise sd at the last epoch = 1)."""

    # Measured on the default's recorded curves (bench/curves/pspnet_aux_weight.csv: 11 weights
    # x 6 seeds x 16 epochs; `python bench/replay.py --measure`): noise sd 0.0056 mIoU at the
    # last epoch, the seeds' effect 0.69 of it, epoch-to-epoch correlation of the noise 0.15,
    # noise at epoch 1 0.66 of the last's. ``tau`` cannot be measured where the weights barely
    # differ: 4 of 16 epochs.
    epochs: int = 16
    seed_sd: float = 0.7  # the seeds' shared effect
    rho: float = 0.15  # epoch-to-epoch correlation of the noise
    early_noise: float = 0.66  # the noise's sd at epoch 1 (moves geometrically to 1)
    tau: float = 4.0  # epochs until 63% of the final effect shows


def true_means(family: str, effect: float) -> tuple[np.ndarray, np.ndarray]:
    """(mu: the means at the last epoch, early: the offsets that fade) for a family."""
    x = LEVELS
    if family == "interior":
        return effect * (1 - ((x - 0.4) / 0.4) ** 2).clip(-3, None) + 0 * x, 0 * x
    if family == "edge":
        return effect * x, 0 * x
    if family == "null":
        return 0 * x, 0 * x
    if family == "late_bloomer":
        mu = effect * (1 - ((x - 0.8) / 0.8) ** 2)
        return mu, -2.0 * effect * x
    raise ValueError(f"unknown family {family!r}; known: {', '.join(FAMILIES)}")


def synthetic(family: str, seeds: int, rng: np.random.Generator, effect: float = 2.0,
              shape: Shape | None = None) -> Cube:  # fmt: skip
    """A fresh draw of a family's curves (``seeds`` seeds)."""
    sh = shape or Shape()
    mu, early = true_means(family, effect)
    e = np.arange(1, sh.epochs + 1)
    g = (1 - np.exp(-e / sh.tau)) / (1 - np.exp(-sh.epochs / sh.tau))
    base = 10.0 * (1 - np.exp(-e / 3.0))
    sd = sh.early_noise ** (1 - (e - 1) / max(1, sh.epochs - 1))  # early_noise -> 1
    c = len(mu)
    eps = np.empty((c, seeds, sh.epochs))
    eps[..., 0] = rng.normal(size=(c, seeds))
    for k in range(1, sh.epochs):  # AR(1) with unit variance
        eps[..., k] = sh.rho * eps[..., k - 1] + np.sqrt(1 - sh.rho**2) * rng.normal(
            size=(c, seeds)
        )
    b = rng.normal(scale=sh.seed_sd, size=seeds)
    y = (base[None, None, :] + g[None, None, :] * mu[:, None, None]
         + (1 - g)[None, None, :] * early[:, None, None] + b[None, :, None]
         + sd[None, None, :] * eps)  # fmt: skip
    return Cube(family, "aux_weight", [float(v) for v in LEVELS], y, truth=mu)


def measure(cube: Cube) -> dict[str, float]:
    """The proportions of recorded curves, for :class:`Shape`: the noise sd per epoch (the
    residual of configuration + seed effects), the seeds' effect, the noise's epoch-to-epoch
    correlation, and the spread of the configurations' final means, all over the last epoch's
    noise sd."""
    y = cube.y
    c, s, n = y.shape
    resid = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + y.mean((0, 1), keepdims=True)
    sd = np.sqrt((resid**2).sum((0, 1)) / ((c - 1) * (s - 1)))
    last = y[..., -1]
    seed_means = last.mean(0)
    seed_var = max(0.0, seed_means.var(ddof=1) - sd[-1] ** 2 / c)
    r = resid.reshape(c * s, n)
    rho = float(np.mean([np.corrcoef(r[:, k], r[:, k + 1])[0, 1] for k in range(n - 1)]))
    means = last.mean(1)
    return {"noise_sd_last": float(sd[-1]), "noise_sd_first_over_last": float(sd[0] / sd[-1]),
            "seed_sd": float(np.sqrt(seed_var) / sd[-1]), "rho": rho,
            "config_means_range": float((means.max() - means.min()) / sd[-1]),
            "config_means_sd": float(means.std(ddof=1) / sd[-1])}  # fmt: skip
