"""The dose-response curve's simultaneous band, and what it bounds: the optimum, its gain over
the reference, and the loss of "hurts" (pure).

These intervals are printed only when the trend's F-test passed, and the gain is read at the
optimum the data chose. Among the sweeps that print them, intervals for one point at a time
cover less than they say (the winner's curse): the t-interval of the gain at the fitted optimum
covered 87-90% of a 1-sd trend's sweeps and 93% of a 4-sd peak's, the delta method's optimum
92.5% of a 2-sd peak's at 6 x 4 (docs/statistics.md).

Scheffe's band holds for every point of the curve at once: the change against any point,
h(x) - h(x0) = beta1 (x - x0) + beta2 (x^2 - x0^2), lies in its estimate +- k se with
k = sqrt(2 F(0.95; 2, df)) for every pair of points together with probability 95% (the changes
span the 2 coefficients' directions). So, whichever points the data made best or worst:

- **the optimum**: every x0 that no other point beats by more than the band allows (the curve's
  possibly-best set, as Tukey's is the configurations'); the true optimum is in it whenever the
  band holds;
- **the gain**: the true optimum's change over the reference lies between the band's best lower
  and best upper change; **the loss** ("hurts"): between its worst ones.

The three come from one 95% event. Measured among the sweeps that print them (1000 each): 95.7%
and more (docs/statistics.md).
"""

from __future__ import annotations

import numpy as np
from scipy import stats as st

Interval = tuple[float, float]


class Band:
    """The band of the curve beta1 x + beta2 x^2 on [lo, hi] (``cov``: the two coefficients'
    covariance, ``df``: its residual degrees of freedom; ``sign``: +1 when higher is better)."""

    def __init__(self, beta, cov, df: float, lo: float, hi: float, sign: float,
                 level: float = 0.95, grid: int = 401) -> None:  # fmt: skip
        self.beta, self.cov = np.asarray(beta, float), np.asarray(cov, float)
        self.lo, self.hi, self.sign, self.grid = lo, hi, sign, grid
        self.k = float(np.sqrt(2.0 * st.f.ppf(level, 2, df)))

    def _changes(self, x0: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """sign * (h(x) - h(x0)) and its standard error, for every pair (x0 rows, x columns)."""
        a1 = x[None, :] - x0[:, None]
        a2 = x[None, :] ** 2 - x0[:, None] ** 2
        c = self.cov
        var = c[0, 0] * a1**2 + 2 * c[0, 1] * a1 * a2 + c[1, 1] * a2**2
        return self.sign * (self.beta[0] * a1 + self.beta[1] * a2), np.sqrt(np.maximum(var, 0))

    def change(self, ref: float) -> tuple[Interval, Interval]:
        """Intervals for the best and the worst change against ``ref`` on the range (in the
        metric's own sign: a gain of a loss to minimize is negative)."""
        xs = np.linspace(self.lo, self.hi, self.grid)
        xs = np.append(xs, ref) if self.lo <= ref <= self.hi else xs  # the reference: 0
        h, se = (v[0] for v in self._changes(np.array([ref]), xs))
        low, high = h - self.k * se, h + self.k * se
        best = sorted((self.sign * float(low.max()), self.sign * float(high.max())))
        worst = sorted((self.sign * float(low.min()), self.sign * float(high.min())))
        return (best[0], best[1]), (worst[0], worst[1])

    def optimum(self, best: float, grid: int = 201) -> Interval:
        """The points that no other point beats by more than the band allows, and ``best`` (the
        fitted optimum, never beaten): from the least to the largest."""
        xs = np.linspace(self.lo, self.hi, grid)
        better, se = self._changes(xs, xs)  # row x0: how much better each x is than x0
        keep = (better <= self.k * se + 1e-12).all(axis=1)
        kept = np.append(xs[keep], best)
        return float(kept.min()), float(kept.max())
