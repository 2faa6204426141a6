"""The error budget of a report's headline: with every setting equal, the chance that it says
anything false is at most :data:`FAMILY`, shared between racing's eliminations and the
headline's families of tests."""

from __future__ import annotations

FAMILY = 0.05  # the chance, with every setting equal, that a report says anything false


def headline_alpha(race_alpha: float, modelled: bool) -> float:
    """The level of each family of the headline's tests: what racing's eliminations left of
    the 5%, halved when a model's tests (the dose-response, or two factors) share it with the
    pairwise comparisons. The report and the calibration simulations both call this."""
    budget = FAMILY - race_alpha
    return budget / 2 if modelled else budget
