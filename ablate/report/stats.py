"""Statistics over seeds (pure functions on numbers and DataFrames)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

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


def welch_p(a: Sequence[float], b: Sequence[float]) -> float:
    """Two-sided Welch t-test p-value (NaN when either side has fewer than 2 values)."""
    if len(a) < 2 or len(b) < 2:
        return float("nan")
    if np.std(a) == 0 and np.std(b) == 0:
        return 0.0 if np.mean(a) != np.mean(b) else 1.0
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
