"""The pairwise family's critical value, computed here independently of ablate (for the tests
that recompute a report's claims): statsmodels' two-way residuals; each configuration's own
variance by solving the residuals' expected sums of squares for it (a linear system, where
ablate uses Ehrenberg's closed form); random signs on the rescaled residuals; the largest
studentized difference's quantile, over more tables than ablate draws."""

from __future__ import annotations

import numpy as np
import pandas as pd
import statsmodels.formula.api as smf


def own_variances(resid: np.ndarray) -> np.ndarray:
    """E[sum_s r_is^2] = (S - 1) [(1 - 2/C) v_i + sum_k v_k / C^2]: solved for v."""
    c, s = resid.shape
    m = (s - 1) * ((1 - 2 / c) * np.eye(c) + np.ones((c, c)) / c**2)
    return np.linalg.solve(m, (resid**2).sum(axis=1))


def critical(df: pd.DataFrame, factor: str, level: float, draws: int = 40_000) -> float:
    """The 'level' quantile of max |difference| / se(difference) (pooled), in se units."""
    fit = smf.ols(f"objective ~ C({factor}) + C(seed)", df).fit()
    table = df.assign(r=fit.resid).pivot(index=factor, columns="seed", values="r").to_numpy()
    c, s = table.shape
    dof = (c - 1) * (s - 1)
    pooled = (table**2).sum() / dof
    v = np.maximum(own_variances(table), 0.1 * pooled)
    u = table * np.sqrt(v / (table**2).mean(axis=1))[:, None]
    signs = np.random.RandomState(12345).randint(0, 2, size=(draws, c, s)) * 2.0 - 1.0
    out = []
    for chunk in np.array_split(signs, 8):
        y = chunk * u
        m = y.mean(axis=2)
        r = y - m[:, :, None] - y.mean(axis=1)[:, None, :] + y.mean(axis=(1, 2))[:, None, None]
        se = np.sqrt(2 * (r**2).sum(axis=(1, 2)) / dof / s)
        out.append((m.max(axis=1) - m.min(axis=1)) / se)
    return float(np.quantile(np.concatenate(out), level))
