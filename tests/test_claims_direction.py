"""Claims for a metric to minimize (a loss, an error rate): the same sentences as for its
negative maximized, worded the right way round (issue 19, item 0).

A sweep's table turned upside down (y -> -y) with its direction flipped holds the same
evidence: the same settings must be called better, worse, possibly best, and the best mean is
then the lowest one, not the highest."""

from __future__ import annotations

import re

import numpy as np
import pandas as pd
import pytest

from ablate.report import claims as C
from ablate.stats.analysis import analyze

WEIGHTS = [0.0, 0.2, 0.4, 0.6, 0.8]


def sweep_table(effects: dict[float, float], seeds: int = 5, rng_seed: int = 0) -> pd.DataFrame:
    """A loss per (weight, seed): 1.0 + the weight's effect + a seed effect + noise (sd 0.01)."""
    rng = np.random.default_rng(rng_seed)
    seed_effect = rng.normal(0, 0.02, seeds)
    rows = [
        {"aux_weight": w, "seed": s, "objective": 1.0 + effects.get(w, 0.0) + seed_effect[s]
         + rng.normal(0, 0.01), "run_id": f"r{w}-{s}"}
        for w in WEIGHTS for s in range(seeds)
    ]  # fmt: skip
    return pd.DataFrame(rows)


def said(table: pd.DataFrame, direction: str):
    a = analyze(table, ["aux_weight"], "val/loss", direction, seed_list=sorted(set(table.seed)),
                reference={"aux_weight": 0.0}, reference_name="no aux loss")  # fmt: skip
    return a, C.best_set(a, "val/loss", "s").text, C.reference(a, "val/loss").text


def labels(text: str, part: str) -> set[str]:
    """The settings a reference sentence lists as ``better`` or ``worse``."""
    m = re.search(rf"{part}: (.*?)(?:; (?:better|worse|the other|the remaining)|\.$)", text)
    return set(re.findall(r"aux_weight=[0-9.]+", m.group(1))) if m else set()


@pytest.mark.parametrize("rng_seed", range(5))
def test_with_every_setting_equal_no_setting_is_called_better_than_the_reference(rng_seed):
    a, best, ref = said(sweep_table({}, rng_seed=rng_seed), "minimize")
    lows, highs = a.table["vs_ref_low"].dropna(), a.table["vs_ref_high"].dropna()
    significant = ((lows > 0) | (highs < 0)).sum()
    assert len(labels(ref, "better")) + len(labels(ref, "worse")) == significant


def test_a_lower_loss_is_better_and_the_lowest_mean_is_named():
    table = sweep_table({0.4: -0.1, 0.8: +0.1})  # 0.4 lowers the loss by 10 noise sds
    a, best, ref = said(table, "minimize")
    assert labels(ref, "better") == {"aux_weight=0.4"}
    assert labels(ref, "worse") == {"aux_weight=0.8"}
    assert "**aux_weight=0.4** is the only setting not shown worse" in best
    assert a.best_set == ["aux_weight=0.4"]
    assert a.table.iloc[0]["label"] == "aux_weight=0.4"  # ranked first


def test_minimizing_a_loss_says_what_maximizing_its_negative_says():
    for effects in ({}, {0.4: -0.1}, {0.2: -0.03, 0.6: +0.03}, {0.8: +0.2}):
        table = sweep_table(effects)
        a_min, best_min, ref_min = said(table, "minimize")
        a_max, best_max, ref_max = said(table.assign(objective=-table["objective"]), "maximize")
        assert a_min.best_set == a_max.best_set
        for part in ("better", "worse"):
            assert labels(ref_min, part) == labels(ref_max, part)
        assert ("Highest mean" in best_max) == ("Lowest mean" in best_min)
        assert "Highest mean" not in best_min and "highest mean" not in best_min


@pytest.mark.parametrize("slope, word", [(-0.1, "helps"), (+0.1, "hurts")])
def test_a_loss_that_falls_with_the_weight_helps_and_one_that_rises_hurts(slope, word):
    from ablate.stats.dose import dose_response

    table = sweep_table({w: slope * w for w in WEIGHTS})
    for direction, t in (("minimize", table),
                         ("maximize", table.assign(objective=-table["objective"]))):  # fmt: skip
        d = dose_response(t, "aux_weight", "objective", direction, 0.0)
        text = C.dose(d, "val/loss", direction, "no aux loss").text
        assert f"**aux_weight {word}**" in text, (direction, text)


def test_hurts_comes_with_how_much_and_where():
    """A loss rising by 0.1 per unit of the weight (0.08 at the top weight, 0.8): "hurts", with
    the fitted rise at the worst weight against no aux loss and its interval, in the metric's
    own direction (+ for a loss that rises, - for its negative that falls)."""
    from ablate.stats.dose import dose_response

    table = sweep_table({w: 0.1 * w for w in WEIGHTS})
    negative = table.assign(objective=-table["objective"])
    for direction, t, sign in (("minimize", table, +1), ("maximize", negative, -1)):
        d = dose_response(t, "aux_weight", "objective", direction, 0.0)
        assert d.worst == 0.8
        assert d.loss_ci[0] <= sign * 0.08 <= d.loss_ci[1], (direction, d.loss_ci)
        assert sign * d.loss_ci[0] > 0 or sign * d.loss_ci[1] < 0  # the interval excludes 0
        text = C.dose(d, "val/loss", direction, "no aux loss").text
        assert f"[{d.loss_ci[0]:+.3f}, {d.loss_ci[1]:+.3f}] against it at aux_weight=0.8" in text
