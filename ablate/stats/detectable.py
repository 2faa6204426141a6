"""What a dose-response design could have found: the smallest straight rise over the swept range
that the trend rule (ablate/stats/dose.py) claims 9 times in 10, on the runs' own design and at
their noise (pure).

"No effect detected" is not "no effect": a reader needs to know what the runs could have seen.
A rise of r noise sds from the lowest to the highest level gives the trend's F-test the
noncentrality r^2 * L, where L is the squared length of the design's straight line (the level,
scaled to 0..1, less each seed's mean of it: the seeds are blocks). The rule claims the trend
when the pooled F-test passes at ``alpha`` and the trend's mean square stands against the seed x
trend interaction's at the seeds' level; both ratios share their numerator, so the power comes
from the chi-squares they are built of (seeded draws: the same runs give the same figure), and
the rise whose power is 90% is bisected. Measured in bench/power_bound.py and
tests/test_power_bound.py: the computed power is the rule's detection rate in simulated sweeps.
The noise is the runs' residual sd taken at its 80% upper confidence bound (Browne 1995, for
a sd estimated from few runs): with the estimate itself the stated rise was found less than 8
times in 10 in a quarter of 6 x 4 null sweeps (the median 89%); with the bound, in truth at least
9 times in 10 in about 80% of sweeps (docs/statistics.md, `python bench/power_bound.py`).
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats as st

POWER = 0.9
DRAWS = 20_000
NOISE_BOUND = 0.8  # the confidence of the noise's upper bound


def noise_upper(sd: float, df: int, confidence: float = NOISE_BOUND) -> float:
    """The upper confidence bound of a noise sd estimated with ``df`` degrees of freedom."""
    if df < 1 or not math.isfinite(sd):
        return math.nan
    return sd * math.sqrt(df / st.chi2.ppf(1 - confidence, df))


def straight_line_length(x: np.ndarray, seed: np.ndarray) -> float:
    """L: the sum over runs of (u - its seed's mean of u)^2, u the level scaled to 0..1."""
    x = np.asarray(x, dtype=float)
    lo, hi = float(x.min()), float(x.max())
    if hi <= lo:
        return 0.0
    u = (x - lo) / (hi - lo)
    seed = np.asarray(seed)
    centred = u.copy()
    for s in np.unique(seed):
        centred[seed == s] -= u[seed == s].mean()
    return float((centred**2).sum())


def detectable_rise(x, seed, df: int, df_int: int, alpha: float, level: float,
                    power: float = POWER, draws: int = DRAWS) -> float:  # fmt: skip
    """The rise, in noise sds from the lowest level to the highest, that the trend rule claims
    with ``power`` on runs at levels ``x`` of seeds ``seed`` (``df``: the quadratic model's
    residual degrees of freedom; ``df_int``: the seed x trend interaction's; ``level``: the
    seeds' check's). ``inf`` when no rise is found that often (no check possible)."""
    return effect_at_power(straight_line_length(x, seed), df, df_int, alpha, level, power, draws)


def effect_at_power(length: float, df: int, df_int: int, alpha: float, level: float,
                    power: float = POWER, draws: int = DRAWS) -> float:  # fmt: skip
    """The effect r whose trend noncentrality r^2 * ``length`` the rule (the pooled F-test at
    ``alpha``, the seeds' check at ``level``) claims with ``power``: the same seeded draws for
    every r (the power rises smoothly with it), bisected. ``inf`` when none reaches it."""
    if length <= 0 or df_int < 1 or df - df_int < 1:
        return math.inf
    rng = np.random.default_rng(0)
    z = rng.normal(size=(draws, 2))
    inter = rng.chisquare(df_int, size=draws)
    rest = rng.chisquare(df - df_int, size=draws)
    crit = st.f.ppf(1 - alpha, 2, df)
    check = st.f.ppf(1 - level, 2, df_int)

    def claimed(rise: float) -> float:
        num = ((z[:, 0] + rise * math.sqrt(length)) ** 2 + z[:, 1] ** 2) / 2
        return float(((num / ((inter + rest) / df) > crit) & (num / (inter / df_int) > check))
                     .mean())  # fmt: skip

    lo, hi = 0.0, 50.0
    if claimed(hi) < power:
        return math.inf
    for _ in range(24):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if claimed(mid) < power else (lo, mid)
    return hi
