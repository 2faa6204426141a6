"""The computed powers of bench/power_bound.py are what the report's trend rule does: the rule
(ablate.stats.dose.dose_response, with its seeds' check) run on simulated sweeps detects the
2-sd rise to the edge as often as the noncentral-F and chi-square model says, at 6 x 4 (the
seeds' check at 7%) and at 4 x 7 (at the trend's own 2.5%, where the check costs 7 points).
If the rule's degrees of freedom or levels changed, the bound would be about another rule."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path

import curves as K
import numpy as np
import pandas as pd
import pytest
from power_bound import ALPHA, index, powers

from ablate.stats.dose import dose_response

BENCH = Path(__file__).resolve().parents[1] / "bench"


def detected(mu_all: np.ndarray, k: int, seeds: int, sweeps: int, rng) -> float:
    x, mu = K.LEVELS[index(k)], mu_all[index(k)]
    hits = 0
    for _ in range(sweeps):
        y = mu[:, None] + rng.normal(scale=0.7, size=seeds)[None, :] + rng.normal(size=(k, seeds))
        runs = pd.DataFrame({"w": np.repeat(x, seeds), "seed": np.tile(np.arange(seeds), k),
                             "objective": y.reshape(-1), "run_id": "r"})  # fmt: skip
        hits += dose_response(runs, "w", "objective", "maximize", alpha=ALPHA).detected
    return hits / sweeps


@pytest.mark.parametrize(("k", "seeds", "sweeps"), [(6, 4, 500), (4, 7, 700)])
def test_the_computed_power_is_the_trend_rules_detection_rate(k, seeds, sweeps):
    mu = K.true_means("edge", 2.0)[0]
    want = powers(mu, k, seeds, 200_000, np.random.default_rng(0))
    got = detected(mu, k, seeds, sweeps, np.random.default_rng(k * 10 + seeds))
    se = math.sqrt(want["claimed"] * (1 - want["claimed"]) / sweeps)
    assert abs(got - want["claimed"]) < 3.5 * se, (got, want)
    # The seeds' check is part of the rule: at 4 x 7 it runs at 2.5% and takes 7 points.
    if seeds >= 7:
        assert want["trend"] - want["claimed"] > 0.05 and got < want["trend"] - 3.5 * se / 2


def test_no_test_beats_the_oracle_and_the_bound_table_prints():
    mu = K.true_means("edge", 2.0)[0]
    p = powers(mu, 6, 4, 50_000, np.random.default_rng(1))
    # The edge's linear rise on 6 levels x 4 seeds: noncentrality 4 x 0.7 x 2^2.
    assert p["lambda"] == pytest.approx(11.2) and p["cost"] == pytest.approx(24 / 66)
    assert p["claimed"] <= p["trend"] < p["oracle"]
    out = subprocess.run(
        [sys.executable, str(BENCH / "power_bound.py"), "--quick"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| edge | ")]
    assert len(rows) == 9 and "| 6 x 4 | 0.364 | " in out.stdout.split("reaches")[-1]
    assert rows[1].startswith("| edge | 6 x 4 | 0.364 | 11.2 | ")
    assert "| 6 x 4 | " in out.stdout.split("null sweeps per design")[-1]


def test_the_detectable_effect_is_where_the_computed_power_reaches_90_percent():
    from power_bound import detectable

    e = detectable("edge", 6, 4, 100_000)
    assert 2.3 < e < 3.0  # a 2-sd rise to the edge is below what 6 x 4 finds 9 times in 10
    at = powers(K.true_means("edge", e)[0], 6, 4, 100_000, np.random.default_rng(4))
    assert at["claimed"] == pytest.approx(0.90, abs=0.006)
