"""The dose-response of a numeric factor, and the effects of two factors (pure).

One numeric factor with 4 or more levels (an aux weight, a coefficient): a quadratic in the
factor plus a seed effect, y_cs = b_s + beta1 x_c + beta2 x_c^2 + e, fitted by least squares
(statsmodels). The trend test is the F-test of (beta1, beta2) = 0 against the seeds-only model:
under "the factor does nothing" it rejects in 5% of sweeps. The fitted optimum (the best point of
the curve on the swept range) comes with a 95% interval: for a vertex inside the range the delta
method's t-interval, for an optimum at an edge a wild bootstrap (Rademacher weights on
leverage-corrected residuals, the optimum chosen again in each resample); its gain over the
reference level with a t-interval (delta method at the fitted optimum).

Two factors: the seed-blocked two-way ANOVA with interaction, y ~ seed + A + B + A:B, with an
F-test for each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

BOOTSTRAP = 2000


@dataclass
class DoseResponse:
    factor: str
    levels: list[float]
    trend_p: float
    trend_f: float
    coef: tuple[float, float, float]  # curve: c0 + c1 x + c2 x^2 (c0: the mean seed's level)
    optimum: float
    optimum_ci: tuple[float, float]
    reference: float
    gain: float  # fitted value at the optimum minus at the reference
    gain_ci: tuple[float, float]
    worst: float  # where the fitted curve is worst on the range
    loss: float  # the fitted value there minus at the reference ("hurts": how much)
    loss_ci: tuple[float, float]  # its 95% t-interval (delta method)
    slope: float  # the straight line's slope over seeds, per unit of the factor
    slope_ci: tuple[float, float]  # at the trend test's level (1 - alpha)
    n: int
    run_ids: list[str] = field(default_factory=list)
    alpha: float = 0.05  # the trend test's level (its share of the report's 5%)

    def curve(self, x: np.ndarray) -> np.ndarray:
        c0, c1, c2 = self.coef
        return c0 + c1 * x + c2 * x**2

    @property
    def detected(self) -> bool:
        return self.trend_p < self.alpha


def dose_response(
    seeds: pd.DataFrame,
    factor: str,
    value: str,
    direction: str,
    reference: float | None = None,
    alpha: float = 0.05,
) -> DoseResponse | None:
    """Fit the seed-blocked quadratic to the runs of one numeric factor (4+ levels)."""
    import statsmodels.api as sm
    from statsmodels.stats.anova import anova_lm

    d = seeds[[factor, "seed", value, "run_id"]].dropna()
    d = d.rename(columns={factor: "x", value: "y"})
    d["x"] = d["x"].astype(float)
    levels = sorted(d["x"].unique())
    if len(levels) < 4 or d["seed"].nunique() < 2:
        return None
    # The design matrices of y ~ C(seed) + x + I(x ** 2), built directly (patsy's formula
    # parsing took half the fit's time; the columns and their names are the formula's).
    X = _design(d)
    y = d["y"].astype(float)
    full = sm.OLS(y, X).fit()
    null = sm.OLS(y, X.drop(columns=["x", "I(x ** 2)"])).fit()
    line = sm.OLS(y, X.drop(columns=["I(x ** 2)"])).fit()
    test = anova_lm(null, full)
    f, p = float(test["F"].iloc[1]), float(test["Pr(>F)"].iloc[1])
    sign = 1.0 if direction == "maximize" else -1.0
    lo, hi = levels[0], levels[-1]
    ref = lo if reference is None else float(reference)

    # The curve at the mean seed: the seeds' intercepts averaged.
    seed_cols = [c for c in full.params.index if c.startswith("C(seed)")]
    c0 = float(full.params["Intercept"] + full.params[seed_cols].sum() / d["seed"].nunique())
    c1, c2 = float(full.params["x"]), float(full.params["I(x ** 2)"])
    x_opt = _best_x(c1, c2, lo, hi, sign)

    # Wild bootstrap: y* = fitted + residual * (+-1), refit, choose the optimum again.
    X = np.asarray(full.model.exog)
    pinv = np.linalg.pinv(X)
    fitted, resid = np.asarray(full.fittedvalues), np.asarray(full.resid)
    # Residuals scaled by 1/sqrt(1 - leverage): OLS residuals are smaller than the errors
    # (Davidson & Flachaire 2008); without it the intervals cover ~90%, not 95%.
    leverage = np.einsum("ij,ji->i", X, pinv)
    resid = resid / np.sqrt(np.clip(1.0 - leverage, 1e-6, None))
    rng = np.random.default_rng(0)
    signs = rng.choice([-1.0, 1.0], size=(len(d), BOOTSTRAP))
    betas = pinv @ (fitted[:, None] + resid[:, None] * signs)
    ix, ix2 = full.model.exog_names.index("x"), full.model.exog_names.index("I(x ** 2)")
    opts = _best_xs(betas[ix], betas[ix2], lo, hi, sign)
    # The gain f(x*) - f(ref) is linear in the coefficients for a given x*, and (envelope
    # theorem) moving x* changes it only to second order: a t-interval at the fitted x*.
    # Measured coverage 94-96% (docs/statistics.md); the bootstrap percentile interval of the
    # gain covered only ~90%.
    from scipy import stats as st

    t975 = float(st.t.ppf(0.975, full.df_resid))
    gain, half = _change(full, ix, ix2, x_opt, ref, t975)
    # Where the curve is worst on the range (what "hurts" reports), against the reference.
    x_worst = _best_x(c1, c2, lo, hi, -sign)
    loss, loss_half = _change(full, ix, ix2, x_worst, ref, t975)
    slope_ci = line.conf_int(alpha=alpha).loc["x"]  # at the trend test's own level
    return DoseResponse(
        factor=factor,
        levels=[float(v) for v in levels],
        trend_p=p,
        trend_f=f,
        coef=(c0, c1, c2),
        optimum=float(x_opt),
        optimum_ci=_optimum_ci(full, x_opt, opts, lo, hi),
        reference=ref,
        gain=float(gain),
        gain_ci=(float(gain - half), float(gain + half)),
        worst=float(x_worst),
        loss=float(loss),
        loss_ci=(float(loss - loss_half), float(loss + loss_half)),
        slope=float(line.params["x"]),
        slope_ci=(float(slope_ci.iloc[0]), float(slope_ci.iloc[1])),
        n=len(d),
        run_ids=d["run_id"].tolist(),
        alpha=alpha,
    )


def _change(fit, ix: int, ix2: int, x: float, ref: float, t: float) -> tuple[float, float]:
    """The fitted curve at ``x`` minus at ``ref``, and the half-width of its t-interval (delta
    method; linear in the coefficients for a given ``x``)."""
    b1, b2 = float(fit.params.iloc[ix]), float(fit.params.iloc[ix2])
    grad = np.zeros(len(fit.params))
    grad[ix], grad[ix2] = x - ref, x**2 - ref**2
    se = math.sqrt(float(grad @ np.asarray(fit.cov_params()) @ grad))
    return b1 * (x - ref) + b2 * (x**2 - ref**2), t * se


def _design(d: pd.DataFrame) -> pd.DataFrame:
    """Intercept, one treatment-coded column per seed but the first, x and x squared."""
    seeds = sorted(d["seed"].unique())
    cols = {"Intercept": np.ones(len(d))}
    for s in seeds[1:]:
        cols[f"C(seed)[T.{s}]"] = (d["seed"] == s).to_numpy(dtype=float)
    x = d["x"].to_numpy(dtype=float)
    cols["x"], cols["I(x ** 2)"] = x, x**2
    return pd.DataFrame(cols, index=d.index)


def _optimum_ci(fit, x_opt: float, boot: np.ndarray, lo: float, hi: float) -> tuple[float, float]:
    """An interior optimum is the vertex -b1 / (2 b2): its t-interval by the delta method
    (coverage 95-96% measured). An optimum at an edge of the range (no vertex inside): the
    bootstrap's percentile interval of where the optimum lands (coverage 98-100%)."""
    from scipy import stats as st

    if not lo < x_opt < hi:
        return float(np.quantile(boot, 0.025)), float(np.quantile(boot, 0.975))
    names = ["x", "I(x ** 2)"]
    b1, b2 = float(fit.params["x"]), float(fit.params["I(x ** 2)"])
    grad = np.array([-1.0 / (2 * b2), b1 / (2 * b2**2)])
    se = math.sqrt(float(grad @ np.asarray(fit.cov_params().loc[names, names]) @ grad))
    half = float(st.t.ppf(0.975, fit.df_resid)) * se
    return max(lo, x_opt - half), min(hi, x_opt + half)


def _best_x(c1: float, c2: float, lo: float, hi: float, sign: float) -> float:
    """Where sign * (c1 x + c2 x^2) is largest on [lo, hi]."""
    xs = [lo, hi]
    if c2 != 0:
        vertex = -c1 / (2 * c2)
        if lo < vertex < hi:
            xs.append(vertex)
    return max(xs, key=lambda x: sign * (c1 * x + c2 * x * x))


def _best_xs(c1: np.ndarray, c2: np.ndarray, lo: float, hi: float, sign: float) -> np.ndarray:
    """:func:`_best_x` for arrays of coefficients (the same choice, ties to the first of lo,
    hi, the vertex)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        vertex = np.where(c2 != 0, -c1 / (2 * np.where(c2 != 0, c2, 1.0)), np.nan)
    inside = (vertex > lo) & (vertex < hi)
    xs = np.stack([np.full_like(c1, lo), np.full_like(c1, hi), np.where(inside, vertex, lo)])
    value = sign * (c1 * xs + c2 * xs * xs)
    value[2] = np.where(inside, value[2], -np.inf)
    return xs[np.argmax(value, axis=0), np.arange(len(c1))]


@dataclass
class TwoFactor:
    factors: tuple[str, str]
    p: dict[str, float]  # factor A, factor B, "A x B" -> p-value
    f: dict[str, float]
    means: pd.DataFrame  # A x B table of means over seeds
    n: int
    run_ids: list[str] = field(default_factory=list)
    alpha: float = 0.05  # each of the three tests' level (Bonferroni: the family's share / 3)


def two_factor(
    seeds: pd.DataFrame, a: str, b: str, value: str, alpha: float = 0.05 / 3
) -> TwoFactor | None:
    """Seed-blocked two-way ANOVA with interaction (type II sums of squares)."""
    import statsmodels.formula.api as smf
    from statsmodels.stats.anova import anova_lm

    d = (
        seeds[[a, b, "seed", value, "run_id"]]
        .dropna()
        .rename(columns={a: "A", b: "B", value: "y"})
    )
    if d["A"].nunique() < 2 or d["B"].nunique() < 2 or d["seed"].nunique() < 2:
        return None
    d["A"], d["B"] = d["A"].astype(str), d["B"].astype(str)
    cells = d.groupby(["A", "B"]).size()
    if len(cells) < d["A"].nunique() * d["B"].nunique():
        return None  # not crossed (a sampler's trials): the effects are confounded
    fit = smf.ols("y ~ C(seed) + C(A) * C(B)", d).fit()
    if fit.df_resid < 1 or not math.isfinite(fit.mse_resid) or fit.mse_resid <= 0:
        return None
    table = anova_lm(fit, typ=2)
    names = {"C(A)": a, "C(B)": b, "C(A):C(B)": f"{a} x {b}"}
    p = {names[k]: float(table.loc[k, "PR(>F)"]) for k in names}
    f = {names[k]: float(table.loc[k, "F"]) for k in names}
    means = seeds.groupby([a, b])[value].mean().unstack(b)
    return TwoFactor((a, b), p, f, means, len(d), d["run_id"].tolist(), alpha)
