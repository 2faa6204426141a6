"""What any design at a given compute can detect: the trend test's power, computed (issue 17).

The replay (bench/replay.py) measures how often a cheaper design keeps the full grid's
dose-response verdict. Where it falls short -- the 2-sd rise to the edge of the range, the late
bloomer -- this says whether a better test or a better design could close the gap, or whether
the data cannot: for each design (levels of the default's 11-weight grid x seeds) and each
synthetic family's true means at the last epoch (bench/curves.py), in noise sds:

- **trend**: the power of the report's trend test (the F-test of the quadratic's two
  coefficients against the seeds-only model, at the trend's share of the 5%, 2.5%), exact from
  the noncentral F;
- **trend + seeds' check**: what the report claims (ablate/stats/dose.py): the same test and the
  trend's mean square against the seed x trend interaction's at ``dose.seeds_level``; from the
  independent chi-squares the two F ratios are built of (200,000 draws), since they share their
  numerator;
- **oracle**: the most powerful test there is against this one alternative (Neyman-Pearson: the
  one-sided t-test of the contrast that is the true curve, at 2.5%, the shape known in advance):
  no test of "does the factor matter" can beat it on this truth.

Then, per design, the smallest effect at which the claim reaches 90% of sweeps (the design's
detectable effect), for the three shapes.

A design keeps the full grid's verdict in 90% of resamples only if its own power is within 10
points of the full grid's (the two disagree at least as often as their powers differ). Seed
effects cancel in the paired design and are left out; the noise is normal with sd 1.

    python bench/power_bound.py [--effect 2.0] [--draws 200000] [--stated 2000] [--quick]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from scipy import stats as st

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import curves as K  # noqa: E402

from ablate.stats.detectable import effect_at_power  # noqa: E402
from ablate.stats.dose import seeds_level  # noqa: E402

ALPHA = 0.025  # the trend test's share of the report's 5%
GRID = len(K.LEVELS)
FULL_SEEDS = 6


def index(k: int) -> np.ndarray:
    """The indices of k levels spread over the 11-weight grid, as bench/replay.py picks them."""
    return np.round(np.linspace(0, GRID - 1, k)).astype(int)


def noncentrality(mu: np.ndarray, x: np.ndarray, seeds: int) -> tuple[float, float]:
    """The trend's noncentrality (seeds x the squared length of the true means' part that the
    quadratic in x explains beyond a constant) and the lack of fit's (the part it misses, which
    goes to the residual), sigma = 1."""
    X = np.column_stack([np.ones_like(x), x, x**2])
    fit = X @ np.linalg.lstsq(X, mu, rcond=None)[0]
    return float(seeds * ((fit - fit.mean()) ** 2).sum()), float(seeds * ((mu - fit) ** 2).sum())


def powers(mu_all: np.ndarray, k: int, seeds: int, draws: int, rng) -> dict[str, float]:
    """The three powers of a k-level x seeds design on the true means ``mu_all`` (11 levels)."""
    x, mu = K.LEVELS[index(k)], mu_all[index(k)]
    lam, lof = noncentrality(mu, x, seeds)
    n = k * seeds
    df = n - seeds - 2  # y ~ C(seed) + x + x^2
    df_int = 2 * (seeds - 1)  # each seed's own quadratic against the common one
    crit = st.f.ppf(1 - ALPHA, 2, df)
    num = rng.noncentral_chisquare(2, lam, size=draws) / 2
    inter = rng.chisquare(df_int, size=draws)
    rest = rng.noncentral_chisquare(df - df_int, lof, size=draws)  # what the curve misses
    pooled = num / ((inter + rest) / df) > crit
    # exact where the quadratic is the truth (scipy's F is noncentral in its numerator only)
    if lof >= 1e-9:
        trend = float(pooled.mean())
    else:  # (scipy's noncentral F is wrong at noncentrality 0: the central one there)
        trend = float(st.ncf.sf(crit, 2, df, lam) if lam > 0 else st.f.sf(crit, 2, df))
    level = seeds_level(ALPHA, df_int)
    both = pooled & (num / (inter / df_int) > st.f.ppf(1 - level, 2, df_int))
    oracle = float(st.nct.sf(st.t.ppf(1 - ALPHA, n - seeds - 1), n - seeds - 1, np.sqrt(lam)))
    return {"cost": n / (GRID * FULL_SEEDS), "lambda": lam, "trend": trend,
            "claimed": float(both.mean()), "oracle": oracle}  # fmt: skip


def detectable(family: str, k: int, seeds: int, draws: int, power: float = 0.9) -> float:
    """The smallest effect (noise sds) whose rise the rule claims with ``power`` on a k-level x
    seeds design, by the report's own bisection (ablate/stats/detectable.py). The families'
    means are quadratics, so only the trend's noncentrality moves with the effect."""
    x, mu = K.LEVELS[index(k)], K.true_means(family, 1.0)[0][index(k)]
    df, df_int = k * seeds - seeds - 2, 2 * (seeds - 1)
    return effect_at_power(noncentrality(mu, x, seeds)[0], df, df_int, ALPHA,
                           seeds_level(ALPHA, df_int), power, draws)  # fmt: skip


def stated(k: int, seeds: int, sweeps: int, draws: int, rng) -> np.ndarray:
    """The report's "would find a change of X" (ablate/stats/detectable.py) on ``sweeps`` null
    sweeps of a k-level x seeds design (noise sd 1, seed effects 0.7), through dose_response:
    each stated change's true power, from this module's model at the true noise (the statement
    takes the noise at its 80% upper bound: at least 90% in about 80% of sweeps)."""
    import pandas as pd

    from ablate.stats.dose import dose_response

    x = K.LEVELS[index(k)]
    out = []
    for _ in range(sweeps):
        y = rng.normal(scale=0.7, size=seeds)[None, :] + rng.normal(size=(k, seeds))
        runs = pd.DataFrame({"w": np.repeat(x, seeds), "seed": np.tile(np.arange(seeds), k),
                             "objective": y.reshape(-1), "run_id": "r"})  # fmt: skip
        change = dose_response(runs, "w", "objective", "maximize", alpha=ALPHA).detectable
        out.append(powers(change * K.LEVELS, k, seeds, draws, rng)["claimed"])
    return np.array(out)


DESIGNS = [(GRID, FULL_SEEDS), (6, 4), (6, 3), (5, 5), (5, 4), (4, 6), (4, 5), (6, 5), (6, 6)]


def main() -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--effect", type=float, default=2.0, help="the families' effect, noise sds")
    ap.add_argument("--draws", type=int, default=200_000)
    ap.add_argument("--stated", type=int, default=2000, help="null sweeps per design, for the "
                    "report's stated change")  # fmt: skip
    ap.add_argument("--quick", action="store_true", help="2000 draws, 20 sweeps: the suite's run")
    a = ap.parse_args()
    if a.quick:
        a.draws, a.stated = 2000, 20
    rng = np.random.default_rng(0)
    print("| family | design | cost | noncentrality | trend | trend + seeds' check | oracle |")
    print("|---|---|---|---|---|---|---|")
    for family in ("null", "interior", "edge", "late_bloomer"):
        mu = K.true_means(family, a.effect)[0]
        for k, s in DESIGNS:
            p = powers(mu, k, s, a.draws, rng)
            name = "full grid" if (k, s) == (GRID, FULL_SEEDS) else f"{k} x {s}"
            print(f"| {family} | {name} | {p['cost']:.3f} | {p['lambda']:.1f} | "
                  f"{100 * p['trend']:.1f}% | {100 * p['claimed']:.1f}% | "
                  f"{100 * p['oracle']:.1f}% |")  # fmt: skip
    print("\nThe smallest effect (noise sds) at which the claim reaches 90% of sweeps:\n")
    print("| design | cost | edge | late_bloomer | interior |")
    print("|---|---|---|---|---|")
    for k, s in DESIGNS:
        name = "full grid" if (k, s) == (GRID, FULL_SEEDS) else f"{k} x {s}"
        eff = [detectable(f, k, s, a.draws) for f in ("edge", "late_bloomer", "interior")]
        print(f"| {name} | {k * s / (GRID * FULL_SEEDS):.3f} | "
              + " | ".join(f"{e:.2f}" for e in eff) + " |")  # fmt: skip
    print(f"\nThe report's stated change (\"would find a change of X ... 9 times in 10\"), on "
          f"{a.stated} null sweeps per design: its true power at the true noise\n")  # fmt: skip
    print("| design | median | at least 90% | below 80% |")
    print("|---|---|---|---|")
    for k, s in [(GRID, 3), (6, 4), (5, 5), (GRID, FULL_SEEDS)]:
        p = stated(k, s, a.stated, max(2000, a.draws // 10), rng)
        print(f"| {k} x {s} | {100 * np.median(p):.1f}% | {100 * (p >= 0.9).mean():.1f}% | "
              f"{100 * (p < 0.8).mean():.1f}% |")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
