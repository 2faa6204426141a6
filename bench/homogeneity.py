"""Can a report tell that its configurations' noise differs? Tests of equal variances on the
two-way model's residuals (configuration + seed), on simulated tables: their false alarms with
equal noise (normal, and Student's t with 3 df) and how often they see a 3x step or a 1x -> 3x
ramp of the noise sd over the range (docs/statistics.md, "Unequal noise").

    python bench/homogeneity.py [--sims 2000]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy import stats as st

TESTS = ("Levene (median)", "Levene (mean)", "Bartlett")


def residuals(y: np.ndarray) -> np.ndarray:
    return y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + y.mean()


def pvalues(y: np.ndarray) -> tuple[float, float, float]:
    r = residuals(y)
    return (st.levene(*r, center="median").pvalue, st.levene(*r, center="mean").pvalue,
            st.bartlett(*r).pvalue)  # fmt: skip


def sds(kind: str, c: int) -> np.ndarray:
    if kind == "step":
        return np.where(np.arange(c) >= c // 2 + c % 2, 3.0, 1.0)
    if kind == "ramp":
        return np.linspace(1.0, 3.0, c)
    return np.ones(c)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sims", type=int, default=2000)
    a = ap.parse_args()
    rng = np.random.default_rng(0)
    print("| settings x seeds | noise | " + " | ".join(f"{t} at 5%" for t in TESTS) + " |")
    print("|---|---|" + "---|" * len(TESTS))
    for c, s in [(11, 3), (6, 4), (11, 6)]:
        for kind in ["equal", "t3", "step", "ramp"]:
            rejected = np.zeros(len(TESTS))
            for _ in range(a.sims):
                e = (rng.standard_t(3, size=(c, s)) / np.sqrt(3) if kind == "t3"
                     else rng.normal(size=(c, s)))  # fmt: skip
                y = rng.normal(size=(1, s)) + sds(kind, c)[:, None] * e
                rejected += np.array(pvalues(y)) < 0.05
            cells = " | ".join(f"{v:.3f}" for v in rejected / a.sims)
            print(f"| {c} x {s} | {kind} | {cells} |", flush=True)


if __name__ == "__main__":
    main()
