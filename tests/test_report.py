"""The report's statistics on frozen tables (expectations computed independently, with
statsmodels and scipy), and a report written from a real sweep."""

import json
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import statsmodels.formula.api as smf
from critical import critical

from ablate.stats.analysis import analyze
from ablate.stats.dose import dose_response, two_factor
from ablate.stats.seeds import holm, summarize

ASSET = Path(__file__).parent / "assets" / "runs_aux_weight.csv"


def frozen() -> pd.DataFrame:
    df = pd.read_csv(ASSET)
    return df.assign(objective=df["val/miou"])


def possibly_best(df: pd.DataFrame, factor: str, direction="maximize") -> set:
    """The possibly-best set computed here, independently: statsmodels' two-way OLS for the
    residual, tests/critical.py's wild bootstrap for the critical difference. The set must be
    the same at the critical value +-4% (the Monte Carlo error of ablate's 4000 tables is about
    1%), so a gap that falls between cannot make the test flip."""
    fit = smf.ols(f"objective ~ C({factor}) + C(seed)", df).fit()
    means = df.groupby(factor)["objective"].mean()
    seeds = df["seed"].nunique()
    best = means.max() if direction == "maximize" else means.min()
    sets = []
    for k in (0.96, 1.04):
        hsd = k * critical(df, factor, 0.95) * math.sqrt(2 * fit.mse_resid / seeds)
        sets.append({v for v, m in means.items() if abs(best - m) <= hsd})
    assert sets[0] == sets[1], "a gap falls at the critical value: choose another table"
    return sets[0]


def test_summary_is_the_t_interval_of_the_mean():
    s = summarize([1.0, 2.0, 3.0])
    assert s.mean == 2.0 and s.std == 1.0 and s.n == 3
    # t(0.975, 2) = 4.302653
    assert s.ci95_high - s.mean == pytest.approx(4.302653 / 3**0.5, rel=1e-6)
    assert summarize([5.0]).n == 1


def test_holm_adjusts_in_step_down_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_seeds_are_paired_and_the_residual_is_the_two_way_models():
    df = frozen()
    a = analyze(df, ["aux_weight"], "val/miou", "maximize", seed_list=[0, 1, 2])
    fit = smf.ols("objective ~ C(aux_weight) + C(seed)", df).fit()
    assert a.sigma == pytest.approx(math.sqrt(fit.mse_resid), rel=1e-9)
    assert a.df == fit.df_resid == 8
    assert a.design.startswith("two-way model, configuration + seed (5 configurations x 3 paired")


def test_a_clearly_best_setting_is_the_possibly_best_set_alone():
    a = analyze(frozen(), ["aux_weight"], "val/miou", "maximize", seed_list=[0, 1, 2])
    assert a.best_set == ["aux_weight=0.4"] and a.claim_best
    assert {f"aux_weight={v:g}" for v in possibly_best(frozen(), "aux_weight")} == set(a.best_set)
    assert list(a.table["aux_weight"])[:3] == [0.4, 0.3, 0.5]
    assert a.baseline == pytest.approx(0.077)


def test_close_settings_stay_together_in_the_possibly_best_set():
    df = frozen()
    df = df[df["aux_weight"].isin([0.3, 0.5, 0.0])]
    a = analyze(df, ["aux_weight"], "val/miou", "maximize", seed_list=[0, 1, 2])
    assert set(a.best_set) == {"aux_weight=0.3", "aux_weight=0.5"} and not a.claim_best
    assert {f"aux_weight={v:g}" for v in possibly_best(df, "aux_weight")} == set(a.best_set)


def test_minimize_ranks_the_lowest_first():
    a = analyze(frozen(), ["aux_weight"], "val/miou", "minimize", seed_list=[0, 1, 2])
    assert a.label == "aux_weight=0" and a.best_set == ["aux_weight=0"]
    assert {f"aux_weight={v:g}" for v in possibly_best(frozen(), "aux_weight", "minimize")} == {
        "aux_weight=0"
    }


def test_a_configuration_with_a_failed_seed_is_shown_and_never_called_best():
    df = frozen()
    df = df[~((df["aux_weight"] == 0.4) & (df["seed"] == 2))]  # 0.4 diverged on seed 2
    failed = pd.DataFrame([{"aux_weight": 0.4, "seed": 2, "config_hash": "h3"}])
    a = analyze(df, ["aux_weight"], "val/miou", "maximize", failed=failed, seed_list=[0, 1, 2])
    row = a.table[a.table["label"] == "aux_weight=0.4"].iloc[0]
    assert row["status"] == "excluded: 1/3 failed" and row["n"] == 2
    assert "aux_weight=0.4" not in a.best_set and a.tested == 4
    assert "aux_weight=0.4 (1/3 failed)" in a.notes[0]


def test_a_configuration_with_one_seed_is_shown_but_not_tested():
    df = frozen()
    df = df[(df["aux_weight"] != 0.2) | (df["seed"] == 0)]
    a = analyze(df, ["aux_weight"], "val/miou", "maximize")
    row = a.table[a.table["label"] == "aux_weight=0.2"].iloc[0]
    assert row["status"] == "excluded: 1 seed" and a.tested == 4


def test_identical_runs_give_no_test():
    df = pd.DataFrame({"k": ["a", "a", "b", "b"], "seed": [0, 1, 0, 1],
                       "objective": [1.0, 1.0, 1.0, 1.0], "run_id": list("wxyz")})  # fmt: skip
    a = analyze(df, ["k"], "m", "maximize")
    assert a.best_set == [] and not a.claim_best
    assert any("no spread" in n for n in a.notes)


def test_differences_to_the_reference_with_paired_superiority():
    df = frozen()
    a = analyze(df, ["aux_weight"], "val/miou", "maximize", reference={"aux_weight": 0.0},
                reference_name="no aux loss")  # fmt: skip
    assert a.reference == "aux_weight=0"
    row = a.table[a.table["label"] == "aux_weight=0.2"].iloc[0]
    means = df.groupby("aux_weight")["objective"].mean()
    assert row["vs_ref"] == pytest.approx(means[0.2] - means[0.0])
    fit = smf.ols("objective ~ C(aux_weight) + C(seed)", df).fit()
    half = critical(df, "aux_weight", 0.95) * math.sqrt(2 * fit.mse_resid / 3)
    assert row["vs_ref_high"] - row["vs_ref"] == pytest.approx(half, rel=0.04)
    assert row["p_better_than_ref"] == 1.0  # better on all three seeds
    assert "within_margin" not in a.table  # no margin: never "equal"


def test_equivalence_is_stated_only_with_a_margin():
    df = frozen()
    df = df[df["aux_weight"].isin([0.3, 0.5, 0.0])]
    a = analyze(df, ["aux_weight"], "val/miou", "maximize", reference={"aux_weight": 0.3},
                margin=0.05)  # fmt: skip
    row = a.table[a.table["label"] == "aux_weight=0.5"].iloc[0]
    assert bool(row["within_margin"])  # 0.5 vs 0.3: within +-0.05 at 90% (TOST)
    far = a.table[a.table["label"] == "aux_weight=0"].iloc[0]
    assert not bool(far["within_margin"])


def quadratic_sweep(seed=0, top=0.6, noise=0.002):
    rng = np.random.default_rng(seed)
    x = np.round(np.linspace(0, 1, 11), 10)
    rows = []
    for s in range(3):
        shift = rng.normal(scale=0.01)
        for xi in x:
            y = 0.3 + 0.05 * (1 - (xi - top) ** 2) + shift + rng.normal(scale=noise)
            rows.append({"aux_weight": xi, "seed": s, "objective": y, "run_id": f"{xi}-{s}"})
    return pd.DataFrame(rows)


def test_the_dose_response_finds_the_optimum_and_the_gain_over_the_reference():
    df = quadratic_sweep()
    d = dose_response(df, "aux_weight", "objective", "maximize", reference=0.0)
    full = smf.ols("objective ~ C(seed) + aux_weight + I(aux_weight ** 2)", df).fit()
    assert d.coef[1] == pytest.approx(full.params["aux_weight"])
    assert d.trend_p < 1e-6 and d.detected
    assert d.optimum_ci[0] <= 0.6 <= d.optimum_ci[1] and abs(d.optimum - 0.6) < 0.05
    true_gain = 0.05 * ((1 - 0) - (1 - 0.36))  # f(0.6) - f(0)
    assert d.gain_ci[0] <= true_gain <= d.gain_ci[1]


def test_no_trend_is_claimed_in_flat_data():
    df = quadratic_sweep(top=0.5)
    df["objective"] = 0.3 + np.random.default_rng(3).normal(scale=0.01, size=len(df))
    d = dose_response(df, "aux_weight", "objective", "maximize")
    assert not d.detected


def test_a_trend_the_seeds_disagree_about_is_not_claimed():
    """Each seed its own slope (+0.15, +0.06, 0 over the range) and little noise: the pooled
    F-test sees a mean rise of 0.07 far beyond the noise, but with 3 seeds that spread this much,
    a new seed could as well fall. The seeds are the replicates: no effect is claimed, and the
    sentence says why."""
    from ablate.report.claims import dose as dose_claim

    rng = np.random.default_rng(4)
    rows = [
        {"aux_weight": x, "seed": s, "objective": 0.3 + u * x + rng.normal(scale=0.01),
         "run_id": f"{x}-{s}"}
        for s, u in enumerate([0.15, 0.06, 0.0])
        for x in np.round(np.linspace(0, 1, 11), 10)
    ]  # fmt: skip
    d = dose_response(pd.DataFrame(rows), "aux_weight", "objective", "maximize", 0.0, 0.025)
    assert d.trend_p < 1e-3 and d.seeds_df == 4 and d.seeds_p > 0.10, (d.trend_p, d.seeds_p)
    assert not d.detected
    claim = dose_claim(d, "val/miou", "maximize", "aux_weight=0")
    text = claim.text
    assert "No effect of aux_weight established" in text and "the seeds disagree" in text
    assert "not below 10%" in text
    assert (claim.statistic["seeds_df"], claim.statistic["seeds_level"]) == (4, 0.10)
    # the same mean rise shared by every seed is claimed
    same = pd.DataFrame(rows)
    same["objective"] = 0.3 + 0.1 * same["aux_weight"] + rng.normal(scale=0.02, size=len(same))
    d = dose_response(same, "aux_weight", "objective", "maximize", 0.0, 0.025)
    assert d.detected and d.seeds_p < 1e-3
    assert "helps" in dose_claim(d, "val/miou", "maximize", "aux_weight=0").text


def sweep_6x4(rng, rise: float, noise: float) -> pd.DataFrame:
    """The default's design, 6 weights x 4 seeds, with a straight rise over 0..1 and seed
    effects."""
    x = np.round(np.linspace(0, 1, 6), 10)
    shift = rng.normal(scale=0.01, size=4)
    return pd.DataFrame(
        [{"aux_weight": xi, "seed": s, "objective": 0.4 + rise * xi + shift[s]
          + rng.normal(scale=noise), "run_id": f"{xi}-{s}"} for s in range(4) for xi in x]
    )  # fmt: skip


def test_no_effect_detected_says_what_change_the_runs_would_have_found():
    """What "no effect detected" is worth: the sentence states the straight change that the
    rule finds 9 times in 10 at the runs' noise, taken at its 80% upper bound (18 residual
    degrees of freedom: 1.18 times the estimate). Sweeps with that change and that noise,
    through dose_response itself, detect it in 90% of them."""
    from ablate.report.claims import dose as dose_claim

    flat = sweep_6x4(np.random.default_rng(11), 0.0, 0.006)
    d = dose_response(flat, "aux_weight", "objective", "maximize", 0.0, 0.025)
    assert not d.detected
    claim = dose_claim(d, "val/miou", "maximize", "no aux loss")
    stated = claim.statistic["detectable"]
    assert f"would find a change of {stated:.2g} val/miou from aux_weight=0 to 1" in claim.text
    assert f"sd {d.noise_bound:.2g}; measured: {d.noise_sd:.2g})" in claim.text
    assert "9 times in 10" in claim.text and d.df_resid == 18
    assert d.noise_bound / d.noise_sd == pytest.approx(math.sqrt(18 / 12.857), rel=1e-3)
    # 6 x 4 at the trend's 2.5%, the check at 7%: 2.7 noise sds (bench/power_bound.py)
    assert stated / d.noise_bound == pytest.approx(2.73, abs=0.05)
    rng = np.random.default_rng(12)
    sweeps = 700
    found = sum(
        dose_response(sweep_6x4(rng, stated, d.noise_bound), "aux_weight", "objective",
                      "maximize", 0.0, 0.025).detected
        for _ in range(sweeps)
    )  # fmt: skip
    assert abs(found / sweeps - 0.9) < 3.5 * math.sqrt(0.09 / sweeps), found / sweeps
    # Half the change is found far less often: the figure is not a floor that anything passes.
    half = sum(
        dose_response(sweep_6x4(rng, stated / 2, d.noise_bound), "aux_weight", "objective",
                      "maximize", 0.0, 0.025).detected
        for _ in range(200)
    )  # fmt: skip
    assert half / 200 < 0.5


def test_the_figure_shows_an_optimum_only_where_an_effect_was_detected(tmp_path):
    """A curve fitted to flat data has an optimum too, and a band around it that reads as a
    claim the headline does not make (the default's first sweep drew "fitted optimum 0.62"
    beside "no effect detected, p = 0.86")."""
    from ablate.report import plots

    peak = dose_response(quadratic_sweep(), "aux_weight", "objective", "maximize")
    fit, optimum = plots.dose_labels(peak)
    assert optimum == f"fitted optimum {peak.optimum:.2g}, 95% interval" and "no effect" not in fit
    flat = quadratic_sweep(top=0.5)
    flat["objective"] = 0.3 + np.random.default_rng(3).normal(scale=0.01, size=len(flat))
    d = dose_response(flat, "aux_weight", "objective", "maximize")
    fit, optimum = plots.dose_labels(d)
    assert optimum is None and fit.endswith("no effect detected)"), fit
    a = analyze(flat, ["aux_weight"], "objective", "maximize")
    path = plots.metric_vs_param(a.table, flat, "aux_weight", "objective", None,
                                 tmp_path / "flat.png", dose=d)  # fmt: skip
    assert path.stat().st_size > 10_000


def test_two_factors_get_main_effects_and_an_interaction():
    rng = np.random.default_rng(0)
    rows = []
    for a in (0.0, 0.5, 1.0):
        for b in (0.0, 1.0):
            for s in range(3):
                y = 0.3 + 0.05 * a + rng.normal(scale=0.005)  # only a matters
                rows.append({"aux5": a, "aux4": b, "seed": s, "objective": y, "run_id": "r"})
    t = two_factor(pd.DataFrame(rows), "aux5", "aux4", "objective")
    assert t.p["aux5"] < 0.001 and t.p["aux4"] > 0.05 and t.p["aux5 x aux4"] > 0.05
    assert t.means.shape == (3, 2)


def test_report_files_are_written_from_a_real_sweep(workdir, tiny_file):
    from ablate import spec as S
    from ablate.report.html import write_dashboard_index
    from ablate.report.render import build_report
    from ablate.study import sweep

    res = sweep(S.load(tiny_file), workers=2, progress=False)
    out = build_report(res.tracking_uri, "tiny", "tiny", Path("reports/tiny"))
    text = out.read_text()
    assert "## Headline" in text and "majority class" in text and "## Method" in text
    for name in ("report.html", "runs.csv", "configs.csv", "claims.json",
                 "learning_curves.png", "val_miou_vs_aux_weight.png"):  # fmt: skip
        assert (out.parent / name).stat().st_size > 0
    assert not (out.parent / "weights.png").exists()  # fixed weights never move: no figure
    html = (out.parent / "report.html").read_text()
    assert "data:image/png;base64," in html and '<img src="reports' not in html
    assert len(pd.read_csv(out.parent / "runs.csv")) == 6
    claims = json.loads((out.parent / "claims.json").read_text())
    assert claims[0]["kind"] == "best_set" and len(claims[0]["run_ids"]) == 6
    for claim in claims:
        assert claim["text"] in text
    from ablate import tracking as T

    arts = T.client(res.tracking_uri).list_artifacts(res.study_run_id, "report")
    assert {a.path.split("/")[-1] for a in arts} >= {"report.md", "report.html", "claims.json"}
    index = write_dashboard_index(Path("reports"), Path("dashboards")).read_text()
    assert "reports/tiny/report.html" in index


def test_a_categorical_factor_is_ranked_best_first_and_plotted(tmp_path):
    from ablate.report import plots

    df = frozen()
    df["method"] = df["aux_weight"].map(
        {0.0: "equal", 0.2: "dwa", 0.3: "rlw", 0.4: "fixed", 0.5: "uncertainty"}
    )
    a = analyze(df, ["method"], "val/miou", "maximize")
    assert a.label == "method=fixed" and list(a.table["method"])[:2] == ["fixed", "rlw"]
    path = plots.metric_vs_param(a.table, df, "method", "val/miou", a.baseline, tmp_path / "m.png")
    assert path.stat().st_size > 10_000


def test_two_writers_of_one_report_file_never_trip_over_each_other(tmp_path):
    """Two sweeps of one study can write its report at the same moment (found by a journey:
    one's rename took the other's half-written file)."""
    from concurrent.futures import ThreadPoolExecutor

    from ablate.report.html import write_atomic

    path = tmp_path / "report.md"

    def write(i: int) -> None:
        for k in range(300):
            write_atomic(path, f"writer {i}, version {k}\n" * 50)

    with ThreadPoolExecutor(2) as pool:
        list(pool.map(write, [0, 1]))
    text = path.read_text()
    assert text in {f"writer {i}, version 299\n" * 50 for i in (0, 1)}
    assert [p.name for p in tmp_path.iterdir()] == ["report.md"]  # no temporary file left


def test_with_6_seeds_the_seeds_check_runs_at_the_trends_level_and_says_so():
    """6 seeds, each its own slope (-0.04 to +0.18 over the range), little noise: the pooled
    F-test sees the mean rise; against the seeds' spread of slopes p is between 2.5% and 10%.
    With 3 seeds the check at 10% would let it through; its level falls 3 points per further
    seed, to the trend's own 2.5% from 6 seeds, and the sentence names that level."""
    from ablate.report.claims import dose as dose_claim

    rng = np.random.default_rng(11)
    rows = [
        {"aux_weight": x, "seed": s, "objective": 0.3 + u * x + rng.normal(scale=0.005),
         "run_id": f"{x}-{s}"}
        for s, u in enumerate([0.18, 0.13, 0.09, 0.04, 0.0, -0.04])
        for x in np.round(np.linspace(0, 1, 11), 10)
    ]  # fmt: skip
    d = dose_response(pd.DataFrame(rows), "aux_weight", "objective", "maximize", 0.0, 0.025)
    assert d.seeds_df == 10 and d.trend_p < 1e-3, (d.seeds_df, d.trend_p)
    assert 0.025 < d.seeds_p < 0.10, d.seeds_p  # a check at 10% claimed this trend
    assert d.seeds_level == 0.025 and not d.detected and d.seeds_disagree
    claim = dose_claim(d, "val/miou", "maximize", "aux_weight=0")
    assert "the seeds disagree" in claim.text and "not below 2.5%" in claim.text
    assert claim.statistic["seeds_level"] == 0.025 and claim.statistic["verdict"] == "none"


def test_the_seeds_check_level_falls_with_the_seeds_to_the_trends_own():
    from ablate.stats.dose import seeds_level

    levels = [seeds_level(0.025, 2 * (s - 1)) for s in range(2, 10)]
    assert levels == [0.10, 0.10, 0.07, 0.04, 0.025, 0.025, 0.025, 0.025]
    assert seeds_level(0.05, 10) == 0.05 and seeds_level(0.05, 6) == 0.07  # never below alpha
