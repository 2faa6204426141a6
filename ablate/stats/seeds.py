"""Statistics over seeds (pure functions on numbers and arrays).

The seed is a *block*: seed s gives every configuration the same initial weights and data order,
so a configuration's runs are compared with the other configurations' runs of the same seeds. The
design is a complete block design (configurations x seeds) analysed with the additive two-way
model y_cs = mu + a_c + b_s + e_cs, whose residual variance has (C-1)(S-1) degrees of freedom.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from scipy import stats as st


@dataclass(frozen=True)
class Summary:
    mean: float
    std: float
    n: int
    ci95_low: float
    ci95_high: float

    def as_metrics(self, prefix: str) -> dict[str, float]:
        d = {f"{prefix}_mean": self.mean, f"{prefix}_n": float(self.n)}
        for k in ("std", "ci95_low", "ci95_high"):
            v = getattr(self, k)
            if math.isfinite(v):
                d[f"{prefix}_{k}"] = v
        return d


def summarize(values: Sequence[float]) -> Summary:
    """Mean, sample std and the two-sided 95% t-interval of the mean (NaN when n < 2)."""
    x = np.asarray(values, dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else float("nan")
    if n < 2:
        return Summary(mean, float("nan"), n, float("nan"), float("nan"))
    std = float(x.std(ddof=1))
    half = float(st.t.ppf(0.975, n - 1) * std / math.sqrt(n))
    return Summary(mean, std, n, mean - half, mean + half)


@dataclass(frozen=True)
class Blocked:
    """The additive configuration + seed model fitted to a complete C x S table."""

    means: np.ndarray  # per configuration
    sigma: float  # residual standard deviation
    df: int  # its degrees of freedom, (C-1)(S-1)
    seeds: int  # S
    seed_f: float  # F statistic of the seed effect (NaN when it cannot be tested)
    seed_p: float
    resid: np.ndarray  # the residuals, C x S

    @property
    def se_diff(self) -> float:
        """Standard error of a difference of two configuration means (same seeds)."""
        return self.sigma * math.sqrt(2.0 / self.seeds)


def two_way(y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The additive model's configuration means and residuals over the last two axes of ``y``
    (... x configurations x seeds): one table, or a stack of them."""
    rows = y.mean(axis=-1, keepdims=True)
    resid = y - rows - y.mean(axis=-2, keepdims=True) + rows.mean(axis=-2, keepdims=True)
    return rows[..., 0], resid


def blocked(y: np.ndarray) -> Blocked:
    """Fit the two-way model to ``y`` [configurations x seeds] (no missing cell)."""
    y = np.asarray(y, dtype=float)
    c, s = y.shape
    grand = y.mean()
    cols = y.mean(axis=0)
    rows, resid = two_way(y)
    df = (c - 1) * (s - 1)
    sse = float((resid**2).sum())
    sigma = math.sqrt(sse / df) if df > 0 else float("nan")
    seed_f = seed_p = float("nan")
    if df > 0 and sse > 0 and s > 1:
        ms_seed = c * float(((cols - grand) ** 2).sum()) / (s - 1)
        seed_f = ms_seed / (sse / df)
        seed_p = float(st.f.sf(seed_f, s - 1, df))
    return Blocked(rows, sigma, df, s, seed_f, seed_p, resid)


def pooled(groups: Sequence[Sequence[float]]) -> tuple[float, int]:
    """The one-way model's pooled within-group standard deviation and its degrees of freedom
    (for configurations that do not share seeds)."""
    sse = sum(float(((np.asarray(g) - np.mean(g)) ** 2).sum()) for g in groups)
    df = sum(len(g) for g in groups) - len(groups)
    return (math.sqrt(sse / df) if df > 0 else float("nan")), df


@lru_cache(maxsize=256)
def tukey_critical(groups: int, df: float, alpha: float = 0.05) -> float:
    """The studentized range quantile q: P(max - min of ``groups`` means <= q * sd/sqrt(n))
    = 1 - alpha (Tukey 1953). Every pairwise difference outside q * sd/sqrt(n) is significant,
    with the probability of any false statement <= alpha over all pairs together."""
    if groups < 2:
        return float("nan")
    return float(st.studentized_range.ppf(1 - alpha, groups, df if math.isfinite(df) else 1e6))


def row_variances(resid: np.ndarray) -> np.ndarray:
    """Each configuration's own noise variance from the two-way residuals, unbiased when the
    configurations' variances differ (Ehrenberg 1950): the residuals of a row also carry the
    other rows' noise through the seed means, which this removes. Can be negative for a quiet
    row (an unbiased estimate with S - 1 degrees of freedom)."""
    c, s = resid.shape
    rows = (resid**2).sum(axis=1)
    return c / ((c - 2) * (s - 1)) * rows - rows.sum() / ((c - 1) * (c - 2) * (s - 1))


WILD_DRAWS = 4000
WILD_FLOOR = 0.1  # a row's variance in the bootstrap world: at least this share of the pooled


def wild_critical(resid: np.ndarray, alphas: Sequence[float], draws: int = WILD_DRAWS,
                  seed: int = 0, world: str = "signs") -> list[float]:  # fmt: skip
    """Critical values of the all-pairs family that hold when configurations differ in noise:
    the 1 - alpha quantiles of max |difference| / se(difference) (the pooled residual's, as in
    Tukey's test) under a wild bootstrap of the two-way model. Each run's residual, scaled so
    that its configuration's runs have that configuration's own variance (:func:`row_variances`,
    floored at ``WILD_FLOOR`` of the pooled), gets a random sign (Rademacher weights: Wu 1986,
    Liu 1988); the refitted model's largest studentized difference, over ``draws`` tables, gives
    the quantiles. With equal noise they scatter around Tukey's q / sqrt(2); a few noisy
    configurations raise them, so that their differences are judged by their own noise. Seeded:
    the same table gives the same value. ``resid``: C x S two-way residuals, C >= 3, S >= 3 (with
    2 seeds a configuration's own noise has 1 degree of freedom, and the signs of a residual
    pair (a, -a) only swap it for a shift of the row: nothing to bootstrap from).

    ``world="normal"``: a parametric bootstrap instead, every run drawn normal with its
    configuration's estimated variance. It takes each estimate (2 degrees of freedom at 3
    seeds) at face value, so its quantiles are higher: it holds the level where a few
    configurations are noisier (the 3x step, one noisy setting) at about a third of the
    signs' power with equal noise -- the racing stages' world, where a false "worse" stops a
    configuration for good and a missed one costs only seeds (docs/statistics.md).

    Measured (docs/statistics.md): with every setting equal and the upper half of 11 x 3 with
    3x the noise, any false "worse" in 4.7% of sweeps at 5% (Tukey's: 13.3%); with equal noise
    2.4% (Tukey's 5.2%), the price of not knowing the noise is equal."""
    resid = np.asarray(resid, dtype=float)
    c, s = resid.shape
    df = (c - 1) * (s - 1)
    pooled_var = float((resid**2).sum()) / df
    if not pooled_var > 0:
        return [float("nan")] * len(alphas)
    want = np.maximum(row_variances(resid), WILD_FLOOR * pooled_var)
    rng = np.random.default_rng(seed)
    if world == "normal":
        y = rng.normal(size=(draws, c, s)) * np.sqrt(want)[:, None]
    elif world == "signs":  # each row's residuals rescaled to its own variance, signs flipped
        have = (resid**2).mean(axis=1)
        u = resid * np.sqrt(np.divide(want, have, out=np.zeros(c), where=have > 0))[:, None]
        y = rng.choice(np.array([-1.0, 1.0]), size=(draws, c, s)) * u
    else:
        raise ValueError(f"unknown bootstrap world {world!r}")
    rows, r = two_way(y)
    se = np.sqrt(2.0 * (r**2).sum(axis=(1, 2)) / df / s)
    fit = se > 1e-9 * math.sqrt(pooled_var)  # a table the signs left without residual: none
    stat = (rows.max(axis=1) - rows.min(axis=1))[fit] / se[fit]
    return [float(np.quantile(stat, 1 - a)) for a in alphas]


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch t-test p-value (NaN when either side has fewer than 2 values, or when
    both have no spread: then there is no test)."""
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    if np.std(a) == 0 and np.std(b) == 0:
        return float("nan")
    return float(st.ttest_ind(a, b, equal_var=False).pvalue)


def holm(pvalues: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values (NaNs stay NaN)."""
    p = np.asarray(pvalues, dtype=float)
    out = np.full_like(p, np.nan)
    idx = [i for i in np.argsort(p) if math.isfinite(p[i])]
    m, running = len(idx), 0.0
    for rank, i in enumerate(idx):
        running = max(running, min(1.0, (m - rank) * p[i]))
        out[i] = running
    return out.tolist()


def superiority(a: Sequence[float], b: Sequence[float]) -> float:
    """P(A > B) over paired seeds: the share of seeds where A beats B (a tie counts half)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(((a > b) + 0.5 * (a == b)).mean())
