"""The racing rule: which configurations of a stage go on (the possibly-best set of the
seed-paired runs at the stage's level, and the protected reference).

A raced-out configuration is a "worse than" for good, while one kept too long only costs seeds;
so the stages take their critical value from the parametric bootstrap (every run normal with
its configuration's estimated variance), which holds the level when a few configurations are
noisier, rather than the report's sign-flipping one, which keeps more power with equal noise
but runs over its level at 3-5 seeds and the stages' small levels. Measured (docs/statistics.md,
11 configurations raced 3 -> 6 seeds, the upper half's noise 3x, 5000 sweeps): raced out
falsely 1.3% (3.8% with the signs), anything false 3.5% (5.4%); the price, a setting 3 sd
better: 88% of the runs instead of 80%, singled out in 71% instead of 75%."""

from __future__ import annotations

import pandas as pd

from ablate.stats.analysis import analyze

RACING_WORLD = "normal"  # the parametric bootstrap (module docstring)


def survivors(rows: pd.DataFrame, direction: str, alpha: float, protected: set[str]) -> set[str]:
    """The configurations (``config_hash``) of one stage that go on: the possibly-best set of
    ``rows`` (config_hash, seed, objective; every configuration on the same seeds) at
    ``alpha``, and the ``protected`` ones."""
    hashes = set(rows["config_hash"])
    if len(hashes) < 2:
        return hashes
    a = analyze(rows, [], "objective", direction, alpha=alpha, world=RACING_WORLD)
    if a.tested < 2 or not a.best_set:  # no test possible (e.g. no spread): nobody goes out
        return hashes
    return set(a.best_set) | (protected & hashes)
