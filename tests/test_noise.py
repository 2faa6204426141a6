"""The pairwise family's critical value when configurations differ in noise
(``ablate.stats.seeds.wild_critical``): what it is (an independent implementation,
tests/critical.py, agrees), and what it does (noisy settings raise it, equal noise leaves it
near Tukey's). Its error rates are in tests/test_calibration.py and docs/statistics.md."""

import math

import numpy as np
import pandas as pd
import pytest
from critical import critical
from scipy import stats as st

from ablate.stats.analysis import analyze
from ablate.stats.seeds import blocked, wild_critical


def table(sd: np.ndarray, seeds: int, rng: np.random.Generator) -> np.ndarray:
    return rng.normal(size=seeds)[None, :] + sd[:, None] * rng.normal(size=(len(sd), seeds))


def frame(y: np.ndarray) -> pd.DataFrame:
    c, s = y.shape
    return pd.DataFrame({"k": np.repeat(np.arange(c), s), "seed": np.tile(np.arange(s), c),
                         "objective": y.reshape(-1)})  # fmt: skip


@pytest.mark.parametrize("noise", ["equal", "step"])
def test_the_critical_value_is_what_an_independent_implementation_computes(noise):
    rng = np.random.default_rng(4)
    sd = np.ones(11) if noise == "equal" else np.where(np.arange(11) >= 6, 3.0, 1.0)
    y = table(sd, 3, rng)
    mine = wild_critical(blocked(y).resid, [0.05, 0.10])
    theirs = [critical(frame(y), "k", level) for level in (0.95, 0.90)]
    assert mine == pytest.approx(theirs, rel=0.04)


def test_noisy_settings_raise_it_and_equal_noise_leaves_it_near_tukeys():
    rng = np.random.default_rng(9)
    tukey = st.studentized_range.ppf(0.95, 11, 20) / math.sqrt(2)
    step = np.where(np.arange(11) >= 6, 3.0, 1.0)
    equal = [wild_critical(blocked(table(np.ones(11), 3, rng)).resid, [0.05])[0]
             for _ in range(40)]  # fmt: skip
    noisy = [wild_critical(blocked(table(step, 3, rng)).resid, [0.05])[0] for _ in range(40)]
    # What not knowing that the noise is equal costs: about 10% wider, on average.
    assert 1.0 < np.mean(equal) / tukey < 1.2
    # A noisy pair's difference has 9 units of variance each side where the pooled residual
    # says about 5: the critical value must rise with it.
    assert np.mean(noisy) / tukey > 1.2
    assert np.mean(noisy) > np.mean(equal) * 1.1


def test_a_report_gives_the_same_critical_value_for_the_same_runs():
    y = table(np.ones(6), 4, np.random.default_rng(1))
    df = frame(y).assign(run_id="r")
    a, b = (analyze(df, ["k"], "objective", "maximize") for _ in range(2))
    assert a.critical == "wild bootstrap" and a.hsd_factor == b.hsd_factor
    assert a.best_set == b.best_set


def test_two_configurations_keep_the_paired_t_test():
    # One pair: the pooled residual is that pair's own noise, so Tukey's q / sqrt(2) is the
    # paired t quantile and nothing needs a bootstrap.
    y = table(np.array([1.0, 3.0]), 5, np.random.default_rng(2))
    a = analyze(frame(y).assign(run_id="r"), ["k"], "objective", "maximize")
    assert a.critical == "Tukey"
    assert a.hsd_factor == pytest.approx(st.t.ppf(0.975, 4), rel=1e-3)


def test_the_report_says_the_noise_looks_unequal_only_when_the_bootstrap_says_so_strongly():
    from ablate.report.markdown import UNEQUAL, _noise_words

    rng = np.random.default_rng(6)
    wild = np.where(np.arange(11) == 7, 8.0, 1.0)  # one setting whose training is unstable
    ratios = []
    for sd in (np.ones(11), wild):
        a = analyze(frame(table(sd, 6, rng)).assign(run_id="r"), ["k"], "objective", "maximize")
        ratios.append(a.hsd_factor / a.tukey_factor)
    assert ratios[0] < UNEQUAL < ratios[1], ratios
    assert "looks unequal" in _noise_words(ratios[1])
    assert "looks unequal" not in _noise_words(ratios[0])
