"""The dose-response of a numeric factor, and the effects of two factors (pure).

One numeric factor with 4 or more levels (an aux weight, a coefficient): a quadratic in the
factor plus a seed effect, y_cs = b_s + beta1 x_c + beta2 x_c^2 + e, fitted by least squares
(statsmodels). The trend test is the F-test of (beta1, beta2) = 0 against the seeds-only model:
under "the factor does nothing" it rejects in 5% of sweeps. The fitted optimum (the best point of
the curve on the swept range), its gain over the reference and the loss of "hurts" come with
intervals from the curve's simultaneous 95% band (Scheffe), which hold whichever points the data
made best or worst (ablate/stats/band.py).

Two factors: the seed-blocked two-way ANOVA with interaction, y ~ seed + A + B + A:B, with an
F-test for each.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import pandas as pd

from ablate.stats.band import Band
from ablate.stats.detectable import detectable_rise, noise_upper

# The level of the seeds' check: a trend that the pooled F-test finds must also stand against
# the seeds' spread of their own trends. At 3 seeds (4 degrees of freedom in the seed x trend
# interaction) at 10%: seeds with their own slopes (sd 1 over the range) made the pooled test
# claim a false trend in 7.3% of 11 x 3 sweeps at its 2.5%; with the check, 4.4%, for a 2-sd
# trend detected in 70% instead of 80% (docs/statistics.md).
SEEDS_AGREE = 0.10
# With more seeds the pooled test passes more easily, so the check's own level is what bounds
# false trends: it falls by 1.5 points per further degree of freedom (3 per seed: 7% at 4 seeds,
# 4% at 5) down to the trend's own level (2.5% from 6 seeds). Held at 10%, false trends with
# slopes of sd 1 grew to 5.6% at 11 x 5 and 5.8% at 11 x 6; dropped at once to 2.5% at 6 seeds
# (the rule of 2026-11-30), a sixth seed lost power (11 x 6 found a 2-sd rise less often than
# 11 x 5). In steps, false trends stay at or below 4.4% and power rises with every seed
# (docs/statistics.md, `python bench/trend_seeds.py`).
SEEDS_STEP = 0.015
SEEDS_BASE_DF = 4


def seeds_level(alpha: float, seeds_df: int) -> float:
    """The seeds' check's level: 10% at 3 seeds, 3 points less per further seed, down to the
    trend test's own ``alpha``."""
    return round(
        min(SEEDS_AGREE, max(alpha, SEEDS_AGREE - SEEDS_STEP * (seeds_df - SEEDS_BASE_DF))), 6
    )


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
    loss_ci: tuple[float, float]  # its 95% interval (the simultaneous band's)
    slope: float  # the straight line's slope over seeds, per unit of the factor
    slope_ci: tuple[float, float]  # at the trend test's level (1 - alpha)
    n: int
    run_ids: list[str] = field(default_factory=list)
    alpha: float = 0.05  # the trend test's level (its share of the report's 5%)
    # The trend against the seeds' own disagreement about it (the seed x trend interaction as
    # the error term): a trend is claimed only when this is below seeds_level too.
    seeds_p: float = 0.0
    seeds_df: int = 0
    noise_sd: float = math.nan  # the quadratic model's residual sd
    df_resid: int = 0
    design: tuple = field(default=(), repr=False)  # (levels, seeds) of the runs, for `detectable`

    @property
    def noise_bound(self) -> float:
        """The residual sd's 80% upper confidence bound (ablate/stats/detectable.py)."""
        return noise_upper(self.noise_sd, self.df_resid)

    @cached_property
    def detectable(self) -> float:
        """The straight rise from the lowest level to the highest (in the metric's units) that
        the rule claims 9 times in 10 on these runs' design, at their noise's upper bound
        (ablate/stats/detectable.py); ``inf`` when none is."""
        if not self.design or not math.isfinite(self.noise_bound):
            return math.inf
        x, seed = self.design
        rise = detectable_rise(x, seed, self.df_resid, self.seeds_df, self.alpha,
                               self.seeds_level)  # fmt: skip
        return rise * self.noise_bound

    def curve(self, x: np.ndarray) -> np.ndarray:
        c0, c1, c2 = self.coef
        return c0 + c1 * x + c2 * x**2

    @property
    def detected(self) -> bool:
        return self.trend_p < self.alpha and self.seeds_agree

    @property
    def seeds_level(self) -> float:
        return seeds_level(self.alpha, self.seeds_df)

    @property
    def seeds_agree(self) -> bool:
        return self.seeds_p < self.seeds_level

    @property
    def seeds_disagree(self) -> bool:
        """The pooled trend test passed, but the seeds' check did not: what the report says
        instead of "no effect detected"."""
        return self.trend_p < self.alpha and not self.seeds_agree


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
    seeds_p, seeds_df = _seeds_check(d, X, full, null)
    sign = 1.0 if direction == "maximize" else -1.0
    lo, hi = levels[0], levels[-1]
    ref = lo if reference is None else float(reference)

    # The curve at the mean seed: the seeds' intercepts averaged.
    seed_cols = [c for c in full.params.index if c.startswith("C(seed)")]
    c0 = float(full.params["Intercept"] + full.params[seed_cols].sum() / d["seed"].nunique())
    c1, c2 = float(full.params["x"]), float(full.params["I(x ** 2)"])
    x_opt = _best_x(c1, c2, lo, hi, sign)

    # The optimum, its gain and the loss of "hurts" from the curve's simultaneous band: they
    # hold whichever points the data made best or worst (ablate/stats/band.py).
    names = ["x", "I(x ** 2)"]
    band = Band(full.params[names].to_numpy(), full.cov_params().loc[names, names].to_numpy(),
                full.df_resid, lo, hi, sign)  # fmt: skip
    x_worst = _best_x(c1, c2, lo, hi, -sign)
    gain, loss = (c1 * (x - ref) + c2 * (x**2 - ref**2) for x in (x_opt, x_worst))
    gain_ci, loss_ci = band.change(ref)
    slope_ci = line.conf_int(alpha=alpha).loc["x"]  # at the trend test's own level
    return DoseResponse(
        factor=factor,
        levels=[float(v) for v in levels],
        trend_p=p,
        trend_f=f,
        coef=(c0, c1, c2),
        optimum=float(x_opt),
        optimum_ci=band.optimum(x_opt),
        reference=ref,
        gain=float(gain),
        gain_ci=gain_ci,
        worst=float(x_worst),
        loss=float(loss),
        loss_ci=loss_ci,
        slope=float(line.params["x"]),
        slope_ci=(float(slope_ci.iloc[0]), float(slope_ci.iloc[1])),
        n=len(d),
        run_ids=d["run_id"].tolist(),
        alpha=alpha,
        seeds_p=seeds_p,
        seeds_df=seeds_df,
        noise_sd=math.sqrt(full.mse_resid) if full.df_resid > 0 else math.nan,
        df_resid=int(full.df_resid),
        design=(d["x"].to_numpy(dtype=float), d["seed"].to_numpy()),
    )


def _seeds_check(d: pd.DataFrame, X: pd.DataFrame, full, null) -> tuple[float, int]:
    """The trend's mean square against the seed x trend interaction's: each seed's own
    quadratic (y ~ C(seed) + C(seed):x + C(seed):x^2) against the common one. The seeds are
    the replicates here, so a spread of their own slopes is error, not trend (a mixed model's
    random slope, in a balanced design). Returns its p-value and the interaction's degrees of
    freedom (2 (seeds - 1) when every seed has 3 levels or more); p = 1 when there are none."""
    from scipy import stats as st

    seed = d["seed"].to_numpy()
    own = np.column_stack(
        [X.to_numpy()] + [(seed == s) * X[c].to_numpy() for s in sorted(set(seed))[1:]
                          for c in ("x", "I(x ** 2)")]
    )  # fmt: skip
    y = d["y"].to_numpy(dtype=float)
    beta, _, rank, _ = np.linalg.lstsq(own, y, rcond=None)
    rss_own = float(((y - own @ beta) ** 2).sum())
    df_int = int(rank) - int(full.df_model) - 1
    ss_int = float(full.ssr) - rss_own
    if df_int < 1 or ss_int <= 0:
        return 1.0, max(df_int, 0)
    ss_trend = float(null.ssr - full.ssr)
    f = (ss_trend / 2) / (ss_int / df_int)
    return float(st.f.sf(f, 2, df_int)), df_int


def _design(d: pd.DataFrame) -> pd.DataFrame:
    """Intercept, one treatment-coded column per seed but the first, x and x squared."""
    seeds = sorted(d["seed"].unique())
    cols = {"Intercept": np.ones(len(d))}
    for s in seeds[1:]:
        cols[f"C(seed)[T.{s}]"] = (d["seed"] == s).to_numpy(dtype=float)
    x = d["x"].to_numpy(dtype=float)
    cols["x"], cols["I(x ** 2)"] = x, x**2
    return pd.DataFrame(cols, index=d.index)


def _best_x(c1: float, c2: float, lo: float, hi: float, sign: float) -> float:
    """Where sign * (c1 x + c2 x^2) is largest on [lo, hi]."""
    xs = [lo, hi]
    if c2 != 0:
        vertex = -c1 / (2 * c2)
        if lo < vertex < hi:
            xs.append(vertex)
    return max(xs, key=lambda x: sign * (c1 * x + c2 * x * x))


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
