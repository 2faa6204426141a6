"""Every headline claim recomputed from MLflow, by code independent of ablate's analysis:
the run ids a claim lists are read back from the tracking store, and the claim's numbers are
recomputed with statsmodels and scipy."""

import json
import math
from pathlib import Path

import pandas as pd
import pytest
import statsmodels.formula.api as smf
from scipy import stats as st
from statsmodels.stats.anova import anova_lm

from ablate import spec as S
from ablate import tracking as T


@pytest.fixture
def reported(workdir, tiny_file):
    from ablate.report.render import build_report
    from ablate.study import sweep

    spec = S.load(
        tiny_file,
        ["search.params.aux_weight.step=0.25", "train.epochs=1",
         "report.reference={aux_weight: 0.0}", "report.reference_name=no aux loss"],
    )  # fmt: skip
    res = sweep(spec, workers=2, progress=False)
    out = build_report(res.tracking_uri, "tiny", "tiny", Path("reports/tiny"),
                       settings=spec.report.model_dump())  # fmt: skip
    claims = json.loads(out.with_name("claims.json").read_text())
    return res, claims, out


# The pairwise family's level: the tiny sweep has one numeric factor of 5 levels, so its trend
# test shares the headline's 5% with the pairwise comparisons, each at 2.5%.
LEVEL = 0.975


def runs_of(uri: str, run_ids: list[str]) -> pd.DataFrame:
    c = T.client(uri)
    rows = []
    for rid in run_ids:
        r = c.get_run(rid)
        assert r.info.status == "FINISHED"
        rows.append({"run_id": rid, "aux_weight": float(r.data.params["aux_weight"]),
                     "seed": int(r.data.tags[T.SEED]),
                     "objective": r.data.metrics["objective"]})  # fmt: skip
    return pd.DataFrame(rows)


def test_the_possibly_best_set_recomputes_from_mlflow(reported):
    res, claims, _ = reported
    (claim,) = [c for c in claims if c["kind"] == "best_set"]
    df = runs_of(res.tracking_uri, claim["run_ids"])
    assert len(df) == claim["n"] == 10 and df.groupby("aux_weight").size().eq(2).all()
    fit = smf.ols("objective ~ C(aux_weight) + C(seed)", df).fit()
    assert claim["statistic"]["df"] == fit.df_resid
    assert claim["statistic"]["sigma"] == pytest.approx(math.sqrt(fit.mse_resid), rel=1e-6)
    means = df.groupby("aux_weight")["objective"].mean()
    tukey = st.studentized_range.ppf(LEVEL, len(means), fit.df_resid) / math.sqrt(2)
    assert claim["statistic"]["tukey_critical"] == pytest.approx(tukey)
    # 2 seeds: a configuration's own noise has 1 degree of freedom, so the report keeps
    # Tukey's (3+ seeds: the wild bootstrap, checked in tests/test_noise.py and test_report.py)
    assert df["seed"].nunique() == 2 and claim["statistic"]["critical_from"] == "Tukey"
    assert claim["statistic"]["critical"] == pytest.approx(tukey)
    hsd = claim["statistic"]["critical"] * math.sqrt(2 * fit.mse_resid / 2)
    best = means.max()
    expected = {f"aux_weight={k:g}" for k, m in means.items() if best - m <= hsd}
    assert set(claim["statistic"]["set"]) == expected
    for label, m in claim["statistic"]["means"].items():
        assert means[float(label.split("=")[1])] == pytest.approx(m)


def test_the_dose_response_claim_recomputes_from_mlflow(reported):
    res, claims, report = reported
    (claim,) = [c for c in claims if c["kind"] == "dose"]
    df = runs_of(res.tracking_uri, claim["run_ids"])
    full = smf.ols("objective ~ C(seed) + aux_weight + I(aux_weight ** 2)", df).fit()
    null = smf.ols("objective ~ C(seed)", df).fit()
    test = anova_lm(null, full)
    assert claim["p"] == pytest.approx(float(test["Pr(>F)"].iloc[1]), rel=1e-6)
    assert claim["statistic"]["F"] == pytest.approx(float(test["F"].iloc[1]), rel=1e-6)
    word = "helps" if "helps" in claim["text"] else None
    if claim["p"] >= 0.025:  # the trend test's share of the headline's 5%
        assert claim["text"].startswith("No effect of aux_weight detected at the 2.5% level")
    else:
        assert word or "hurts" in claim["text"] or "has an effect" in claim["text"]
    assert claim["text"] in report.read_text()


def test_the_reference_claim_recomputes_from_mlflow(reported):
    res, claims, _ = reported
    (claim,) = [c for c in claims if c["kind"] == "reference"]
    df = runs_of(res.tracking_uri, claim["run_ids"])
    fit = smf.ols("objective ~ C(aux_weight) + C(seed)", df).fit()
    means = df.groupby("aux_weight")["objective"].mean()
    (best_set,) = [c for c in claims if c["kind"] == "best_set"]
    q = best_set["statistic"]["critical"]  # checked above
    assert q == pytest.approx(st.studentized_range.ppf(LEVEL, len(means), fit.df_resid) / 2**0.5)
    hsd = q * math.sqrt(2 * fit.mse_resid / 2)
    assert claim["text"].startswith(
        "Against aux_weight=0 (no aux loss), in val/miou (simultaneous 97.5% intervals)"
    )
    for level, m in means.items():
        if level == 0.0:
            continue
        d = m - means[0.0]
        shown = abs(d) > hsd
        fragment = f"aux_weight={level:g} {d:+.3f}"
        assert (fragment in claim["text"]) == shown, (fragment, claim["text"])


def test_confirm_plans_exactly_the_set_the_report_shows(reported, tiny_file):
    from ablate.study.confirm import plan

    res, claims, _ = reported
    (claim,) = [c for c in claims if c["kind"] == "best_set"]
    spec = S.load(tiny_file, ["search.params.aux_weight.step=0.25", "train.epochs=1",
                              "report.reference={aux_weight: 0.0}"])  # fmt: skip
    p = plan(spec, res.tracking_uri, "tiny", 3)
    shown = list(claim["statistic"]["set"])
    assert p.labels == shown + ([] if "aux_weight=0" in shown else ["aux_weight=0"])
