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

    @property
    def se_diff(self) -> float:
        """Standard error of a difference of two configuration means (same seeds)."""
        return self.sigma * math.sqrt(2.0 / self.seeds)


def blocked(y: np.ndarray) -> Blocked:
    """Fit the two-way model to ``y`` [configurations x seeds] (no missing cell)."""
    y = np.asarray(y, dtype=float)
    c, s = y.shape
    grand = y.mean()
    rows, cols = y.mean(axis=1), y.mean(axis=0)
    resid = y - rows[:, None] - cols[None, :] + grand
    df = (c - 1) * (s - 1)
    sse = float((resid**2).sum())
    sigma = math.sqrt(sse / df) if df > 0 else float("nan")
    seed_f = seed_p = float("nan")
    if df > 0 and sse > 0 and s > 1:
        ms_seed = c * float(((cols - grand) ** 2).sum()) / (s - 1)
        seed_f = ms_seed / (sse / df)
        seed_p = float(st.f.sf(seed_f, s - 1, df))
    return Blocked(rows, sigma, df, s, seed_f, seed_p)


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
