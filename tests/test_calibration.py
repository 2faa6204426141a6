"""The report's rules on simulated sweeps with a known truth (no training): how often they say
something false, and how often they see what is there. Bounds are 99% Clopper-Pearson bounds of
the simulation's own rate: with 300 sweeps a rule that errs in 5% of sweeps passes and one that
errs in 10% fails (its lower bound is then above 5%). The large version (bench/calibrate.py) is
recorded in docs/statistics.md."""

import pytest
from calibration import simulate, simulate_confirm, sweep_table

SWEEPS = 150
NULL_SWEEPS = 300


@pytest.mark.parametrize(
    "configs, seeds", [(11, 3), (16, 3), (24, 3), (11, 10), (24, 10)], ids=lambda v: str(v)
)
def test_with_every_setting_equal_no_best_and_no_worse_is_claimed_in_more_than_5_percent(
    configs, seeds
):
    r = simulate("equal", configs, seeds, NULL_SWEEPS, rng_seed=configs * 100 + seeds,
                 trend_test=False)  # fmt: skip
    # The old rule (Welch against the chosen best, Holm) said "worse" in 5-11% of such sweeps.
    assert r.lower("best_or_worse") < 0.05, r.counts
    assert r.lower("differs_from_reference") < 0.05, r.counts


def test_with_every_setting_equal_a_numeric_sweeps_report_says_nothing_false_in_5_percent():
    # Its headline has two families of tests, pairwise and trend, sharing the 5%.
    r = simulate("equal", 11, 3, NULL_SWEEPS, rng_seed=7)
    assert r.lower("any_claim") < 0.05, r.counts
    assert r.lower("trend_detected") < 0.025 < r.upper("trend_detected"), r.counts


def test_a_reference_that_lost_a_seed_is_compared_on_the_seeds_it_has():
    # Every setting equal, seed effects of 2 sd, the reference's run on seed 0 failed. It was
    # compared on its mean over 2 seeds with the paired error of 3: seed effects no longer
    # cancelled and 5-6% of sweeps said something false about the reference (9-10% anything).
    r = simulate("equal", 11, 3, NULL_SWEEPS, rng_seed=19, seed_sd=2.0,
                 reference_lost_seed=True)  # fmt: skip
    assert r.upper("differs_from_reference") < 0.05, r.counts
    assert r.lower("any_claim") < 0.05, r.counts


def test_with_the_upper_half_3x_noisier_no_worse_is_claimed_in_more_than_5_percent():
    # Every setting equal, the upper half of 11 levels with 3x the noise. Judged on the pooled
    # residual with Tukey's q, a noisy pair's difference met half its own noise: some setting
    # was falsely "worse" in 10-13% of sweeps (issue 19). The wild bootstrap's critical value
    # gives each configuration its own noise.
    r = simulate("equal", 11, 3, NULL_SWEEPS, rng_seed=29, trend_test=False, noise="step")
    assert r.lower("best_or_worse") < 0.05, r.counts
    assert r.lower("differs_from_reference") < 0.05, r.counts


def test_a_setting_3_sd_better_stays_in_the_possibly_best_set():
    r = simulate("one_better", 11, 3, SWEEPS, effect=3.0, rng_seed=11, trend_test=False)
    assert r.upper("true_best_in_set") > 0.95, r.counts
    # and it is singled out more often than the old rule's 4%
    assert r.lower("true_best_claimed_best") > 0.04, r.counts


def test_a_steady_trend_of_2_sd_over_the_range_is_detected_in_most_sweeps():
    r = simulate("trend", 11, 3, SWEEPS, effect=2.0, rng_seed=13)
    assert r.lower("trend_detected") > 0.60, r.counts  # the old rule: any statement in 6%


def test_the_dose_response_intervals_cover_the_true_optimum_and_gain():
    # A peak of 2 sd at 0.6 over 0..1: the fitted optimum's and its gain's 95% intervals.
    r = simulate("peak", 11, 3, SWEEPS, effect=2.0, rng_seed=17)
    for event in ("optimum_covered", "gain_covered", "reference_intervals_cover"):
        assert r.upper(event) > 0.95 and r.lower(event) > 0.80, (event, r.counts)


def test_a_confirmation_takes_the_pairwise_share_of_the_5_percent_and_the_search_nominates():
    """After `ablate confirm` the headline's claims are the confirmation's comparisons (at the
    share the search's pairwise family had: 2.5% beside a trend test), the dose-response and
    the reference on the fresh seeds; the search's set is a nomination. Before, the
    confirmation's tests ran at 5% on top of the search's own: 9.3% of all-equal sweeps said
    something false (issue 19)."""
    import numpy as np

    from ablate.report.headline import headline

    rng = np.random.default_rng(3)
    search = sweep_table(np.zeros(11), 3, rng)
    confirm = sweep_table(np.zeros(11), 3, rng)
    confirm["seed"] += 10_000
    confirm["run_id"] = "confirm-" + confirm["run_id"]
    h = headline(search, ["factor"], "objective", "maximize", study="s",
                 settings={"reference": {"factor": 0.0}}, seed_list=[0, 1, 2],
                 confirm=confirm)  # fmt: skip
    assert [c.kind for c in h.claims] == ["confirmed", "nominated", "dose", "reference"]
    # Each family's claim carries its own critical value: the confirmation's, and the
    # search's nomination (3 seeds, 11 settings: the wild bootstrap's) that decided its set.
    nominated = h.claims[1].statistic
    assert nominated["critical_from"] == "wild bootstrap" == h.analysis.critical
    assert nominated["critical"] == h.analysis.hsd_factor
    assert nominated["tukey_critical"] == h.analysis.tukey_factor
    assert h.confirmation.alpha == pytest.approx(0.025) == h.alpha
    reference = h.claims[-1]
    assert reference.run_ids and all(r.startswith("confirm-") for r in reference.run_ids)
    r = simulate_confirm(11, 3, 3, SWEEPS, rng_seed=23)
    assert r.lower("any_false") < 0.05, r.counts


def test_the_noise_scenarios_are_what_the_docs_say():
    """docs/statistics.md's unequal-noise and heavy-tail rows: the upper half of 11 levels 3x
    noisier (a step), 1x -> 3x (a ramp), Student's t with 3 df at unit variance."""
    import numpy as np
    from calibration import noise_sd

    assert noise_sd("step", 11).tolist() == [1.0] * 6 + [3.0] * 5
    assert noise_sd("ramp", 11)[[0, 5, 10]].tolist() == [1.0, 2.0, 3.0]
    rng = np.random.default_rng(5)
    y = np.stack([sweep_table(np.zeros(11), 3, rng, seed_sd=0.0, noise="step")["objective"]
                  .to_numpy().reshape(11, 3) for _ in range(400)])  # fmt: skip
    sd = y.std(axis=(0, 2))
    assert np.allclose(sd[:6], 1.0, rtol=0.08) and np.allclose(sd[6:], 3.0, rtol=0.08), sd
    t = np.concatenate([sweep_table(np.zeros(11), 3, rng, seed_sd=0.0, tails=3)["objective"]
                        for _ in range(400)])  # fmt: skip
    assert abs(t.std() - 1.0) < 0.1 and (np.abs(t) > 4).mean() > 10 * 6.3e-5  # heavier than normal


@pytest.mark.parametrize("configs, seeds", [(11, 3), (6, 4), (11, 6), (6, 8)], ids=str)
def test_the_fast_trend_simulation_is_dose_response_on_the_same_tables(configs, seeds):
    """bench/trend_seeds.py computes the trend's two p-values by orthogonal contrasts for
    100,000s of tables; on tables with seed offsets, seeds' own slopes and a real trend alike it
    gives dose_response's p-values and its decision."""
    import numpy as np
    import pandas as pd
    from trend_seeds import ALPHA, pvalues, tables, trend_claimed

    from ablate.stats.dose import dose_response

    rng = np.random.default_rng(configs * 10 + seeds)
    x = np.round(np.linspace(0.0, 1.0, configs), 10)
    y = np.concatenate([tables(configs, seeds, 20, rng, slope_sd=1.6),
                        tables(configs, seeds, 20, rng, trend=2.0)])  # fmt: skip
    y += rng.normal(scale=2.0, size=(len(y), 1, seeds))  # seed offsets
    p_pool, p_seeds, df_int = pvalues(y, x)
    claimed = trend_claimed(p_pool, p_seeds, df_int)
    assert 0 < claimed.sum() < len(y)  # both decisions occur
    for k, table in enumerate(y):
        rows = pd.DataFrame({"factor": np.repeat(x, seeds), "seed": np.tile(range(seeds), configs),
                             "y": table.ravel(), "run_id": "r"})  # fmt: skip
        d = dose_response(rows, "factor", "y", "maximize", 0.0, alpha=ALPHA)
        assert d.trend_p == pytest.approx(p_pool[k], rel=1e-6, abs=1e-12)
        assert d.seeds_p == pytest.approx(p_seeds[k], rel=1e-6, abs=1e-12)
        assert (d.seeds_df, d.detected) == (df_int, claimed[k])


@pytest.mark.parametrize("configs", [11, 6])
def test_with_6_seeds_the_seeds_own_slopes_are_not_read_as_a_trend(configs):
    """Every setting equal, each seed its own slope with the recorded curves' spread (sd 1.6
    over the range). The seeds' check at 10% let 9.5% (11 x 6) and 7.1% (6 x 6) of sweeps claim
    a false trend at the trend's 2.5%; from 6 seeds it runs at the trend's own level, and the
    seeds decide. A shared 2-sd trend is still found at 11 x 6."""
    import numpy as np
    from trend_seeds import pvalues, tables, trend_claimed

    rng = np.random.default_rng(configs)
    x = np.linspace(0.0, 1.0, configs)
    n = 20_000
    false = trend_claimed(*pvalues(tables(configs, 6, n, rng, slope_sd=1.6), x)).mean()
    assert false < 0.045, false  # 3.5% / 2.9% measured with 40,000 tables
    if configs == 11:
        power = trend_claimed(*pvalues(tables(configs, 6, n, rng, trend=2.0), x)).mean()
        assert power > 0.9, power  # 94.5% (98.9% with the check at 10%)
