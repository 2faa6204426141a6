from pathlib import Path

import pandas as pd
import pytest

from ablate.report.analysis import analyze, headline
from ablate.report.stats import holm, summarize, welch_p

ASSET = Path(__file__).parent / "assets" / "runs_aux_weight.csv"


def frozen():
    return pd.read_csv(ASSET)


def test_summary_is_the_t_interval_of_the_mean():
    s = summarize([1.0, 2.0, 3.0])
    assert s.mean == 2.0 and s.std == 1.0 and s.n == 3
    # t(0.975, 2) = 4.302653
    assert s.ci95_high - s.mean == pytest.approx(4.302653 / 3**0.5, rel=1e-6)
    assert summarize([5.0]).n == 1


def test_holm_adjusts_in_step_down_order():
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])


def test_welch_p_is_small_for_separated_groups_and_large_for_equal_ones():
    assert welch_p([1, 1.1, 0.9], [2, 2.1, 1.9]) < 0.01
    assert welch_p([1, 1.1, 0.9], [1.05, 0.95, 1.0]) > 0.5


def test_the_best_setting_is_claimed_when_every_comparison_supports_it():
    a = analyze(frozen(), ["aux_weight"], "val/miou", "maximize")
    assert a.label == "aux_weight=0.4" and a.claim_best
    text = headline(a, "val/miou", "maximize")
    assert text.startswith("**aux_weight=0.4 is best**: val/miou 0.422")
    assert "n=3" in text and a.baseline == pytest.approx(0.077)
    assert list(a.table["aux_weight"])[:3] == [0.4, 0.3, 0.5]


def test_no_best_is_claimed_when_the_top_settings_overlap():
    df = frozen()
    df = df[df["aux_weight"].isin([0.3, 0.5, 0.0])]
    a = analyze(df, ["aux_weight"], "val/miou", "maximize")
    assert not a.claim_best
    text = headline(a, "val/miou", "maximize")
    assert text.startswith("**aux_weight=0.3** has the highest mean")
    assert "cannot tell it apart from aux_weight=0.5 (" in text and "no single best" in text
    assert list(a.indistinguishable["label"]) == ["aux_weight=0.5"]  # 0.0 is shown worse


def test_minimize_ranks_the_lowest_first():
    a = analyze(frozen(), ["aux_weight"], "val/miou", "minimize")
    assert a.label == "aux_weight=0"


def test_report_files_are_written_from_a_real_sweep(workdir, tiny_file):
    from ablate import spec as S
    from ablate.report.render import build_report, write_dashboard_index
    from ablate.study import sweep

    res = sweep(S.load(tiny_file), workers=2, progress=False)
    out = build_report(res.tracking_uri, "tiny", "tiny", Path("reports/tiny"))
    text = out.read_text()
    assert "## Headline" in text and "majority class" in text
    for name in (
        "report.html",
        "runs.csv",
        "configs.csv",
        "learning_curves.png",
        "val_miou_vs_aux_weight.png",
    ):
        assert (out.parent / name).stat().st_size > 0
    assert not (out.parent / "weights.png").exists()  # fixed weights never move: no figure
    html = (out.parent / "report.html").read_text()
    assert "data:image/png;base64," in html and '<img src="reports' not in html
    assert len(pd.read_csv(out.parent / "runs.csv")) == 6
    from ablate import tracking as T

    arts = T.client(res.tracking_uri).list_artifacts(res.study_run_id, "report")
    assert {a.path.split("/")[-1] for a in arts} >= {"report.md", "report.html", "runs.csv"}
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
