"""The replay benchmark (bench/replay.py, bench/policies.py, bench/curves.py): each policy is
the driver's rule, counted by hand on curves whose order is set; the synthetic families have the
truth they claim; the quick run goes end to end on a recorded-format CSV."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import curves as K
import numpy as np
import policies as P
import pytest
from replay import false_claims, rank_correlation, shipped

BENCH = Path(__file__).resolve().parents[1] / "bench"


def ordered_cube(seeds: int = 6, epochs: int = 16) -> K.Cube:
    """11 aux weights whose objective is 10 x weight at every epoch, plus a little noise: the
    higher the weight, the better, always (weight 0 is the reference)."""
    rng = np.random.default_rng(0)
    x = np.round(np.linspace(0, 1, 11), 10)
    y = 10 * x[:, None, None] + 0.01 * rng.normal(size=(11, seeds, epochs))
    return K.Cube("ordered", "aux_weight", [float(v) for v in x], y, truth=10 * x)


def test_the_shipped_halving_design_prunes_and_races_as_the_driver_does():
    """Halving at epochs 2 and 6 (eta 3) on the first 3 seeds: 7 weights stop at epoch 2
    (3 seeds x 2 epochs each), 2 at epoch 6 (3 x 6), the best one and the reference go on to
    16 epochs on 3 seeds, and racing takes both to 6 seeds (the reference is protected, the
    best is never worse): 42 + 36 + 2 x 3 x 16 + 2 x 3 x 16 = 270 seed-epochs."""
    from ablate import spec as S

    spec = S.load(BENCH.parent / "experiments" / "pspnet_aux_weight_halving.yaml",
                  components=False)  # fmt: skip
    policy = P.from_spec("halving", spec)
    assert policy.rungs == (2, 6) and policy.halving == 3 and policy.race == (3, 1, 0.025)
    out = P.run(policy, ordered_cube())
    assert out.cost == 270
    assert sorted(out.rows["config_hash"].unique()) == ["c0", "c10"]
    assert len(out.rows) == 12 and out.raced == {} and out.spent == 0.025


def test_racing_stops_the_clearly_worse_and_the_report_knows():
    out = P.run(P.Policy("race", race=(3, 1, 0.025)), ordered_cube())
    assert set(out.raced) == {f"c{i}" for i in range(1, 10)}  # all raced out at 3 seeds
    assert set(out.raced.values()) == {3}
    said = P.claims(out, ordered_cube())
    best = next(c for c in said if c["kind"] == "best_set")
    assert best["statistic"]["set"] == ["aux_weight=1"]
    assert out.cost == 11 * 3 * 16 + 2 * 3 * 16


def test_guarded_pruning_stops_only_what_the_rung_shows_worse():
    cube = ordered_cube()
    cube.y[1:, :, :6] = 5.0 + 0.5 * np.random.default_rng(1).normal(size=(10, 6, 6))
    out = P.run(P.Policy("guard", rungs=(2, 6), guard=0.005), cube)
    # At epochs 2 and 6 the weights 0.1..1 cannot be told apart (noise 0.5); weight 0 (the
    # reference) is far below them, but protected: nothing stops, every seed-epoch is spent.
    assert out.cost == 11 * 6 * 16 and out.spent == pytest.approx(0.01)


def test_fewer_levels_and_seeds():
    out = P.run(P.Policy("6x4", levels=(0.0, 0.2, 0.4, 0.6, 0.8, 1.0), seeds=4), ordered_cube())
    assert out.cost == 6 * 4 * 16 and sorted(out.rows["aux_weight"].unique()) == pytest.approx(
        [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    )


def test_the_late_bloomer_is_worst_early_and_best_late():
    rng = np.random.default_rng(0)
    cube = K.synthetic("late_bloomer", 200, rng, effect=2.0)  # many seeds: the means are exact
    early, late = cube.y[:, :, 1].mean(1), cube.y[:, :, -1].mean(1)
    assert np.argmin(early) == 10 and np.argmax(cube.truth) == 8  # 1 worst at 2, 0.8 best
    assert np.allclose(late - late[0], cube.truth - cube.truth[0], atol=0.3)
    assert late[8] - late[0] == pytest.approx(2.0, abs=0.3) and early[8] < early[0] - 1
    for family, best in (("interior", 4), ("edge", 10)):
        c = K.synthetic(family, 400, rng, effect=2.0)
        assert np.argmax(c.truth) == best and c.y[:, :, -1].mean(1).argmax() == best
    # The noise sd at the last epoch is 1 (the unit of the effect), seeds shared across levels.
    null = K.synthetic("null", 400, rng)
    resid = null.y[:, :, -1] - null.y[:, :, -1].mean(0)
    assert resid.std() == pytest.approx(1.0, abs=0.05)


def test_false_claims_against_the_truth():
    cube = ordered_cube()  # truth 10 x weight: higher is better
    best = {"kind": "best_set", "statistic": {"set": ["aux_weight=0.5"],
            "means": {"aux_weight=0.5": 5, "aux_weight=1": 10}}}  # fmt: skip
    assert false_claims([best], cube) == ["aux_weight=1 called worse than another"]
    ref = {"kind": "reference", "statistic": {"better": ["aux_weight=0.3"],
           "worse": ["aux_weight=0.2"]}}  # fmt: skip
    assert false_claims([ref], cube) == ["aux_weight=0.2 worse than the reference"]
    hurts = {"kind": "dose", "text": "", "statistic": {"verdict": "hurts", "worst": 0.0}}
    helps = {"kind": "dose", "text": "", "statistic": {"verdict": "helps", "optimum": 0.9}}
    assert false_claims([hurts], cube) == ["dose-response: hurts"]  # worst at 0: not worse
    assert false_claims([helps], cube) == []
    # "helps" with its optimum at the reference's own value is false, wherever the truth peaks.
    there = {"kind": "dose", "text": "", "statistic": {"verdict": "helps", "optimum": 0.0}}
    assert false_claims([there], cube) == ["dose-response: helps"]
    null = K.Cube("null", "aux_weight", cube.levels, cube.y, truth=np.zeros(11))
    assert false_claims([helps], null) == ["dose-response: helps"]


def write_recorded(path: Path, cube: K.Cube) -> None:
    c, s, e = cube.shape
    lines = [
        "# python bench/record_curves.py (a test's cube)",
        "aux_weight,seed,epoch,val/miou,train/loss",
    ]
    for i in range(c):
        for j in range(s):
            for k in range(e):
                lines.append(f"{cube.levels[i]},{j},{k + 1},{cube.y[i, j, k]:.6g},1.0")
    path.write_text("\n".join(lines) + "\n")


def test_recorded_curves_read_back(tmp_path):
    cube = ordered_cube(seeds=3, epochs=4)
    write_recorded(tmp_path / "c.csv", cube)
    back = K.recorded(tmp_path / "c.csv")
    assert (
        back.factor == "aux_weight" and back.direction == "maximize" and back.shape == (11, 3, 4)
    )
    assert np.allclose(back.y, cube.y, atol=1e-4) and back.notes[0].startswith("python bench")
    rho = rank_correlation(back, rungs=(1, 2), resamples=5)
    assert rho[2][0] == pytest.approx(1.0)


def test_recorded_curves_resample_new_seeds_around_the_recorded_means():
    """The residual bootstrap: the truth is the recorded means; the new curves keep the noise's
    size (no seed twice: each cell's noise is drawn on its own)."""
    cube = K.synthetic("interior", 6, np.random.default_rng(4))
    rng = np.random.default_rng(5)
    draws = [K.resample(cube, rng) for _ in range(400)]
    assert np.allclose(draws[0].truth, cube.y[:, :, -1].mean(1))
    last = np.stack([d.y[:, :, -1] for d in draws])  # draws x configs x seeds
    assert np.allclose(last.mean((0, 2)), draws[0].truth, atol=0.15)

    def residual_sd(y):  # the two-way model's residual sd of one configs x seeds table
        r = y - y.mean(1, keepdims=True) - y.mean(0, keepdims=True) + y.mean()
        return np.sqrt((r**2).sum() / ((y.shape[0] - 1) * (y.shape[1] - 1)))

    recorded = residual_sd(cube.y[:, :, -1])
    assert np.mean([residual_sd(x) for x in last]) == pytest.approx(recorded, rel=0.1)
    same = [any((x[:, i] == x[:, j]).all() for i in range(6) for j in range(i)) for x in last]
    assert not any(same)  # never the same seed twice


def test_quick_replay_runs_end_to_end(tmp_path):
    """What `make bench`'s replay step runs on a fresh clone, in miniature."""
    cube = K.synthetic("interior", 6, np.random.default_rng(2))
    write_recorded(tmp_path / "aux.csv", cube)
    p = subprocess.run(
        [sys.executable, str(BENCH / "replay.py"), "--quick", "--jobs", "1", "--families",
         "null", "--curves", str(tmp_path / "aux.csv")],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert p.returncode == 0, p.stderr[-3000:]
    assert (
        "**synthetic: null (10 resamples)**" in p.stdout and "**aux (10 resamples)**" in p.stdout
    )
    full = [line for line in p.stdout.splitlines() if line.startswith("| full grid |")]
    assert len(full) == 2 and all("| 1.000 | 100.0% [" in line for line in full)
    assert p.stdout.count("| shipped: 6 x 4 seeds |") == 2
    assert p.stdout.count("| halving: 11 x 6 seeds, successive_halving, race |") == 2


def test_the_shipped_default_is_six_levels_on_four_seeds_to_the_end():
    """experiments/pspnet_aux_weight.yaml replayed on the 11-level grid: every second weight
    (and the last), 4 seeds, 16 epochs, nothing stopped: 6 x 4 x 16 = 384 seed-epochs, and the
    report fits the dose-response (the claim the halving design never makes)."""
    from ablate.report.agree import verdict

    policy = shipped(BENCH.parent / "experiments" / "pspnet_aux_weight.yaml")
    assert policy.name == "shipped: 6 x 4 seeds"
    cube = ordered_cube()
    out = P.run(policy, cube)
    assert out.cost == 6 * 4 * 16 and out.raced == {}
    assert sorted(out.rows[cube.factor].unique()) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    dose = next(c for c in P.claims(out, cube) if c["kind"] == "dose")
    assert verdict(dose) == "helps" and dose["statistic"]["optimum"] == pytest.approx(1.0, abs=0.1)
