"""The racing rule: which configurations of a stage go on (the possibly-best set of the
seed-paired runs at the stage's level, and the protected reference)."""

from __future__ import annotations

import pandas as pd

from ablate.stats.analysis import analyze


def survivors(rows: pd.DataFrame, direction: str, alpha: float, protected: set[str]) -> set[str]:
    """The configurations (``config_hash``) of one stage that go on: the possibly-best set of
    ``rows`` (config_hash, seed, objective; every configuration on the same seeds) at
    ``alpha``, and the ``protected`` ones."""
    hashes = set(rows["config_hash"])
    if len(hashes) < 2:
        return hashes
    a = analyze(rows, [], "objective", direction, alpha=alpha)
    if a.tested < 2 or not a.best_set:  # no test possible (e.g. no spread): nobody goes out
        return hashes
    return set(a.best_set) | (protected & hashes)
