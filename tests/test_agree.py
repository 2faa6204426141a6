"""The claims comparison (ablate/report/agree.py): when does a cheaper study keep the full
grid's answer? On claims the report's own headline builder writes from seed tables whose truth
is set by hand, and on claims.json files through the command line."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from ablate.report.agree import compare, verdict
from ablate.report.headline import headline


def table(means: dict[float, float], seeds: int, noise: float = 0.01, rng_seed: int = 0):
    """Seed runs of an aux-weight factor: mean + a shared seed effect + noise."""
    rng = np.random.default_rng(rng_seed)
    b = rng.normal(scale=noise, size=seeds)
    rows = []
    for i, (x, m) in enumerate(means.items()):
        for s in range(seeds):
            y = m + b[s] + rng.normal(scale=noise)
            rows.append({"w": x, "seed": s, "objective": y, "run_id": f"r{i}-{s}",
                         "config_hash": f"c{i}"})  # fmt: skip
    return pd.DataFrame(rows)


def claims(t: pd.DataFrame) -> list[dict]:
    h = headline(t, ["w"], "val/miou", "maximize", study="s", settings={"reference": {"w": 0.0}},
                 seed_list=sorted(t["seed"].unique().tolist()))  # fmt: skip
    return [c.to_json() for c in h.claims]


PEAK = {x: 0.3 - 0.5 * (x - 0.4) ** 2 for x in np.round(np.linspace(0, 1, 11), 1)}
FLAT = {x: 0.3 for x in np.round(np.linspace(0, 1, 11), 1)}


def test_a_report_keeps_its_own_answer_and_stores_what_the_comparison_reads():
    full = claims(table(PEAK, 6))
    assert verdict(next(c for c in full if c["kind"] == "dose")) == "helps"
    ref = next(c for c in full if c["kind"] == "reference")["statistic"]
    assert "w=0.4" in ref["better"] and "w=1" in ref["worse"]  # 0.12 against 0.22
    assert compare(full, full).keeps


SIX = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


def test_fewer_levels_with_the_same_answer_keep_it():
    full = claims(table(PEAK, 6, noise=0.002))
    sub = claims(table({x: m for x, m in PEAK.items() if x in SIX}, 6, 0.002, rng_seed=1))
    assert next(c for c in full if c["kind"] == "best_set")["statistic"]["set"] == ["w=0.4"]
    r = compare(full, sub)
    assert r.keeps, (r.contradictions, r.differences)


def test_a_smaller_family_that_sets_apart_more_differs_without_contradicting():
    """At 2 noise sds from the peak, 11 levels keep w=0.2 and w=0.6 possibly best, 6 levels
    (a smaller Tukey family: more power per pair) put them out: true, but not the same
    headline."""
    full = claims(table(PEAK, 6))
    sub = claims(table({x: m for x, m in PEAK.items() if x in SIX}, 6, rng_seed=1))
    r = compare(full, sub)
    assert r.contradictions == []
    assert "w=0.2 is worse than another here, possibly best in the full grid" in r.differences


def test_a_null_study_misses_the_full_grids_effect():
    r = compare(claims(table(PEAK, 6)), claims(table(FLAT, 6, rng_seed=2)))
    assert not r.keeps
    assert any("dose-response: none; the full grid's: helps" in m for m in r.differences)
    assert r.contradictions == []  # saying less is not saying something false


def test_a_study_that_finds_an_effect_the_full_grid_does_not_differs():
    r = compare(claims(table(FLAT, 6, rng_seed=2)), claims(table(PEAK, 6)))
    assert any("dose-response: helps; the full grid's: none" in c for c in r.differences)
    assert any("than the reference; the full grid cannot tell it apart" in c for c in r.notes)


def best_set(members: list[str], tested: list[str]) -> dict:
    return {"kind": "best_set", "text": "", "statistic": {
        "set": members, "means": dict.fromkeys(tested, 0.0)}}  # fmt: skip


def test_membership_is_compared_only_where_both_report():
    full = [best_set(["a", "b"], ["a", "b", "c", "d"])]
    # d pruned here (not reported), c out in both, a and b in both: the same answer.
    assert compare(full, [best_set(["a", "b"], ["a", "b", "c"])]).keeps
    r = compare(full, [best_set(["a"], ["a", "b", "c"])])
    assert r.differences == ["b is worse than another here, possibly best in the full grid"]
    r = compare(full, [best_set(["a", "b", "c"], ["a", "b", "c"])])
    assert r.differences == ["c is possibly best here, worse than another in the full grid"]


def dose(v: str, optimum_ci=(0.3, 0.5), gain_ci=(0.01, 0.03)) -> dict:
    return {"kind": "dose", "text": "", "interval": list(gain_ci),
            "statistic": {"verdict": v, "optimum_ci": list(optimum_ci)}}  # fmt: skip


@pytest.mark.parametrize(
    ("other", "contradicts", "misses"),
    [
        (dose("helps", (0.4, 0.7), (0.02, 0.05)), False, False),  # overlapping intervals
        (dose("helps", (0.6, 0.9)), True, False),  # the optimum elsewhere
        (dose("helps", gain_ci=(0.04, 0.08)), True, False),  # a larger gain than possible
        (dose("hurts"), True, False),
        (dose("effect"), False, True),
        (dose("none"), False, True),
        (None, False, True),  # no dose claim at all (fewer than 4 levels finished)
    ],
)
def test_dose_verdicts_and_intervals(other, contradicts, misses):
    r = compare([dose("helps")], [other] if other else [])
    assert bool(r.contradictions) == contradicts and bool(r.differences) == misses


def test_reference_statements_in_opposite_directions_contradict():
    def ref(better, worse):
        return {"kind": "reference", "text": "", "statistic": {
            "reference": "w=0", "better": better, "worse": worse, "within": []}}  # fmt: skip

    assert compare([ref(["w=0.4"], [])], [ref(["w=0.4"], [])]).keeps
    r = compare([ref(["w=0.4"], [])], [ref([], ["w=0.4"])])
    assert r.contradictions == ["w=0.4 is worse than the reference; the full grid says better"]
    less = compare([ref(["w=0.4"], [])], [ref([], [])])  # saying less: noted, still the answer
    assert less.keeps and less.notes


def test_the_command_line_compares_two_files(tmp_path):
    full, null = tmp_path / "full.json", tmp_path / "null.json"
    full.write_text(json.dumps(claims(table(PEAK, 6))))
    null.write_text(json.dumps(claims(table(FLAT, 6, rng_seed=2))))
    cmd = [sys.executable, "-m", "ablate.report.agree"]
    same = subprocess.run([*cmd, str(full), str(full)], capture_output=True, text=True)
    assert same.returncode == 0 and "keeps the full grid's answer" in same.stdout
    differ = subprocess.run([*cmd, str(full), str(null)], capture_output=True, text=True)
    assert differ.returncode == 1
    assert "differs: dose-response: none; the full grid's: helps" in differ.stdout
    bad = subprocess.run([*cmd, str(full), str(tmp_path / "nope.json")], capture_output=True,
                         text=True)  # fmt: skip
    assert bad.returncode == 2 and "nope.json" in bad.stderr and "Traceback" not in bad.stderr
