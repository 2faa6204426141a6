"""The dose-response's intervals as a reader meets them: printed only when the trend's F-test
passed, and read at the optimum the data chose (ablate/stats/band.py).

The curve's two coefficients are drawn from their sampling distribution for the seed-blocked
quadratic of an 11-level x 3-seed sweep (noise sd 1), the truth known; only draws whose F-test
passes (at the trend test's 2.5%) count, as only those print the intervals."""

import numpy as np
import pytest
from scipy import stats as st

from ablate.stats.band import Band

LEVELS = np.linspace(0.0, 1.0, 11)
SEEDS = 3
ALPHA = 0.025  # the trend test's share of the report's 5%
PEAK = np.array([1.2 / 0.36, -1 / 0.36])  # 1 - (x - 0.6)^2 / 0.36 less its value at 0: 1 at 0.6


def _cov() -> tuple[np.ndarray, int]:
    """Cov(beta1_hat, beta2_hat) of y ~ C(seed) + x + x^2 at noise sd 1, and its residual df."""
    x = np.repeat(LEVELS, SEEDS)
    seed = np.tile(np.arange(SEEDS), len(LEVELS))
    X = np.column_stack([(seed == s).astype(float) for s in range(SEEDS)] + [x, x**2])
    return np.linalg.inv(X.T @ X)[-2:, -2:], len(x) - X.shape[1]


def _printed(beta: np.ndarray, n: int, seed: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Draws of the coefficients whose trend test passed."""
    cov, df = _cov()
    draws = np.random.default_rng(seed).multivariate_normal(beta, cov, size=n)
    f = np.einsum("ij,jk,ik->i", draws, np.linalg.inv(cov), draws) / 2
    return draws[f > st.f.ppf(1 - ALPHA, 2, df)], cov, df


@pytest.mark.parametrize(
    "name, beta, best_x, old_failed",
    [
        ("a rise of 1 sd over the range", np.array([1.0, 0.0]), 1.0, True),
        ("a peak of 1 sd at 0.6", PEAK, 0.6, False),
        ("a peak of 4 sd at 0.6", 4 * PEAK, 0.6, False),
    ],
)
def test_the_optimum_and_gain_intervals_cover_among_the_sweeps_that_print_them(
    name, beta, best_x, old_failed
):
    draws, cov, df = _printed(beta, 8000, seed=5)
    draws = draws[:1500]
    xs = np.linspace(0.0, 1.0, 1001)
    true_gain = float((beta[0] * xs + beta[1] * xs**2).max())
    optimum = gain = naive = 0
    t975 = st.t.ppf(0.975, df)
    for b in draws:
        x_opt = float(xs[np.argmax(b[0] * xs + b[1] * xs**2)])
        band = Band(b, cov, df, 0.0, 1.0, 1.0)
        lo, hi = band.optimum(x_opt)
        optimum += lo <= best_x <= hi
        (g_lo, g_hi), _ = band.change(0.0)
        gain += g_lo <= true_gain <= g_hi
        # the t-interval at the chosen optimum (the rule before)
        a = np.array([x_opt, x_opt**2])
        est, se = float(a @ b), float(np.sqrt(a @ cov @ a))
        naive += est - t975 * se <= true_gain <= est + t975 * se
    n = len(draws)
    assert n > 1000, n  # the selection leaves enough draws to measure
    assert optimum / n > 0.94 and gain / n > 0.95, (name, n, optimum / n, gain / n)
    if old_failed:  # the selection bites: the old interval covered ~87% here
        assert naive / n < 0.92, (name, naive / n)


def test_the_optimums_interval_is_where_the_curve_could_be_best():
    cov, df = _cov()
    # a steady rise of 4 sd: the optimum is at the upper edge, and the far end is excluded
    lo, hi = Band(np.array([4.0, 0.0]), cov, df, 0.0, 1.0, 1.0).optimum(1.0)
    assert hi == 1.0 and 0.5 < lo < 1.0, (lo, hi)
    # a peak of 8 sd at 0.6: an interval around it, inside the range
    lo, hi = Band(8 * PEAK, cov, df, 0.0, 1.0, 1.0).optimum(0.6)
    assert 0.3 < lo < 0.6 < hi < 0.9, (lo, hi)
    # minimizing the same curve: the lowest point, at the lower edge
    lo, hi = Band(8 * PEAK, cov, df, 0.0, 1.0, -1.0).optimum(0.0)
    assert lo == 0.0 and hi < 0.3, (lo, hi)
    # nothing detectable: every point could be best
    assert Band(np.array([0.1, 0.0]), cov, df, 0.0, 1.0, 1.0).optimum(1.0) == (0.0, 1.0)


def test_the_worst_change_is_bounded_like_the_best_and_signs_follow_the_direction():
    cov, df = _cov()
    b = np.array([-4.0, 1.0])  # falls from the reference at 0: worst at 1, -3
    (g_lo, g_hi), (l_lo, l_hi) = Band(b, cov, df, 0.0, 1.0, 1.0).change(0.0)
    assert g_lo == 0.0 and g_hi > 0  # nothing beats the reference for sure
    assert l_lo < -3.0 < l_hi < 0  # the loss at its worst, excluding 0
    # minimizing the same metric: the "best" change is the fall, the "worst" the rise
    (g2_lo, g2_hi), (l2_lo, l2_hi) = Band(b, cov, df, 0.0, 1.0, -1.0).change(0.0)
    assert (g2_lo, g2_hi) == pytest.approx((l_lo, l_hi))
    assert (l2_lo, l2_hi) == pytest.approx((g_lo, g_hi))
