"""The pruner contract: configurations judged on the mean over their seeds at rungs, pruned ones
recorded and reported as pruned, every decision kept across a kill -9 of the driver."""

from __future__ import annotations

import os
import re
import signal
from pathlib import Path

import pandas as pd
import pytest
import yaml
from faults import ablate, fault_experiment, inside_gate, mlflow_runs, optuna_trials, wait_for

from ablate import spec as S
from ablate import tracking as T
from ablate.errors import AblateError
from ablate.study import adapter as A
from ablate.study.cells import Cell, Config, State
from ablate.study.claims import Tickets
from ablate.study.rungs import KEEP, PRUNE, Rungs


def uri(workdir, name="mlflow.db"):
    return f"sqlite:///{workdir / name}"


def pruned_raw(raw: dict, **pruner) -> dict:
    """Five grid configurations (aux_weight 0, .25, ..., 1), two seeds, four epochs, synchronous
    successive halving with eta 2: rungs after 1 and 2 epochs. The objective is the validation
    loss (minimised): at this size every configuration soon scores the same mIoU."""
    raw["train"].update(epochs=4)
    raw["objective"] = {"metric": "val/loss", "direction": "minimize"}
    raw["data"]["params"].update(train_scenes=96)
    raw["search"]["params"]["aux_weight"]["step"] = 0.25
    raw["search"]["pruner"] = pruner or {
        "name": "successive_halving",
        "params": {"min_resource": 1, "reduction_factor": 2},
    }
    return raw


# -- the spec ------------------------------------------------------------------------------
def test_rungs_of_each_pruner(tiny_raw):
    sh = S.Pruner(name="successive_halving", params={"min_resource": 2, "reduction_factor": 3})
    assert sh.rungs(20) == [2, 6, 18] and sh.rungs(18) == [2, 6]
    assert S.Pruner(name="hyperband").rungs(10) == [1, 3, 9]
    assert S.Pruner(name="median", params={"n_warmup_steps": 2}).rungs(5) == [2, 3, 4]
    assert S.Pruner(name="none").rungs(10) == []
    assert S.Pruner.model_validate("median").name == "median"


@pytest.mark.parametrize(
    "train, pruner, message",
    [
        ({"checkpoint": False}, "median", "needs train.checkpoint: true"),
        ({}, {"name": "median", "params": {"reduction_factor": 2}}, "has no parameter"),
        ({}, {"name": "hyperband", "params": {"reduction_factor": 1}}, "out-of-range"),
    ],
)
def test_bad_pruner_settings_are_one_line_errors(tiny_raw, train, pruner, message):
    tiny_raw["train"].update(train)
    tiny_raw["search"]["pruner"] = pruner
    with pytest.raises(AblateError, match=message):
        S.validate(tiny_raw)


# -- seeds judged together -----------------------------------------------------------------
def _paused_config(study, spec, tickets, values: dict, seed_values: list[float], rung: int):
    h = S.with_values(spec, values).config_hash()
    trial = A.fixed_trial(study, spec, values, {"config_hash": h})
    tickets.claim("trial", h)
    config = Config(trial, values, S.with_values(spec, values), h, f"run-{h}", ("trial", h))
    for seed, v in enumerate(seed_values):
        result = {"at": rung, "value": v, "run_key": f"{h}-{seed}"}
        config.cells[seed] = Cell(config, seed, state=State.PAUSED, result=result)
    return config


def _study(tmp_path, raw):
    spec = S.validate(raw)
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    study = A.open_study(A.open_storage(url), "judged", spec, url)
    tickets = Tickets(A.db_url(url), "judged", "me", A.GRACE_S)
    return spec, study, tickets


def test_successive_halving_ranks_the_mean_over_seeds_not_one_seed(tmp_path, tiny_raw):
    raw = pruned_raw(tiny_raw)
    raw["objective"] = {"metric": "val/miou", "direction": "maximize"}
    spec, study, tickets = _study(tmp_path, raw)
    rungs = Rungs(spec, study, tickets, S.grid_configs(spec))
    # aux 0.25 has the single worst seed (0.1) but the best mean (0.5); by seeds it would go.
    seeds = {0.0: [0.2, 0.2], 0.25: [0.9, 0.1], 0.5: [0.45, 0.45], 0.75: [0.3, 0.3],
             1.0: [0.35, 0.35]}  # fmt: skip
    configs = {w: _paused_config(study, spec, tickets, {"aux_weight": w}, v, 1)
               for w, v in seeds.items()}  # fmt: skip
    # Synchronous: nobody is decided before every configuration of the grid has reported.
    assert rungs.decide(configs[0.25], 1) is None
    for w in (0.5, 0.75, 1.0):
        assert rungs.decide(configs[w], 1) is None
    decisions = {w: rungs.decide(c, 1) for w, c in configs.items()}
    # 4 ranked (the reference 0.0 is kept unranked), 4 // 2 = 2 kept: means 0.5 and 0.45.
    assert decisions == {0.0: KEEP, 0.25: KEEP, 0.5: KEEP, 0.75: PRUNE, 1.0: PRUNE}
    reported = {t.params["aux_weight"]: t.intermediate_values for t in study.trials}
    assert reported[0.25] == {1: pytest.approx(0.5)} and reported[0.75] == {1: pytest.approx(0.3)}
    # The decisions are the study's: another driver reads the same ones.
    others = Tickets(A.db_url(f"sqlite:///{tmp_path / 'optuna.db'}"), "judged", "other", A.GRACE_S)
    other = Rungs(spec, study, others, S.grid_configs(spec))
    assert {w: other.decide(c, 1) for w, c in configs.items()} == decisions
    assert other.pause_points(configs[0.25]) == [2] and other.pause_points(configs[0.75]) == [1, 2]


def test_optunas_median_pruner_sees_the_mean_over_seeds(tmp_path, tiny_raw):
    raw = pruned_raw(tiny_raw, name="median",
                     params={"n_startup_trials": 2, "n_warmup_steps": 1})  # fmt: skip
    raw["search"].update(sampler="random", n_trials=10)
    raw["objective"] = {"metric": "val/miou", "direction": "maximize"}
    raw["search"]["params"]["aux_weight"] = {"path": "combiner.params.weights.aux",
                                             "type": "float", "low": 0.1, "high": 1.0}  # fmt: skip
    spec, study, tickets = _study(tmp_path, raw)
    for value in (0.5, 0.6):  # two finished configurations: the median at epoch 1 is 0.55
        t = study.ask({"aux_weight": A.distributions(spec, {"aux_weight": 0.5})["aux_weight"]})
        t.report(value, 1)
        study.tell(t, value)
    rungs = Rungs(spec, study, tickets, {})  # a sampler's study: no grid
    # One seed far below the median, the mean above it: kept. Both seeds near it, mean below.
    up = _paused_config(study, spec, tickets, {"aux_weight": 0.3}, [0.95, 0.25], 1)
    down = _paused_config(study, spec, tickets, {"aux_weight": 0.7}, [0.56, 0.5], 1)
    assert rungs.decide(up, 1) == KEEP and rungs.decide(down, 1) == PRUNE
    assert up.trial.study.trials[up.trial.number].intermediate_values == {1: pytest.approx(0.6)}


# -- a sweep, as a user runs it -------------------------------------------------------------
def _decisions(workdir) -> tuple[dict, dict]:
    """(aux_weight -> Optuna state and rung values, aux_weight -> [final objectives])."""
    trials = optuna_trials(uri(workdir, "optuna.db"))
    live = [t for t in trials if not t.user_attrs.get(A.INTERRUPTED)]
    states = {t.params["aux_weight"]: (t.state.name, dict(t.intermediate_values)) for t in live}
    finals: dict[float, list] = {}
    for r in mlflow_runs(uri(workdir)):
        if r.data.tags.get(T.ROLE) == "seed" and r.info.status == "FINISHED":
            finals.setdefault(float(r.data.params["aux_weight"]), []).append(
                (int(r.data.tags[T.SEED]), r.data.metrics["val/loss"])
            )
    return states, {k: sorted(v) for k, v in finals.items()}


def test_a_pruned_sweep_records_and_reports_what_it_pruned(workdir, tiny_raw):
    path = workdir / "tiny.yaml"
    path.write_text(yaml.safe_dump(pruned_raw(tiny_raw)))
    p = ablate(["sweep", str(path), "--workers", "2", "--quiet"], workdir)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert "4 of 10 (configuration, seed) runs finished" in out
    assert "6 runs of 3 configurations pruned at a rung" in out
    runs = mlflow_runs(uri(workdir))
    client = T.client(uri(workdir))
    seeds = [r for r in runs if r.data.tags.get(T.ROLE) == "seed"]
    pruned = [r for r in seeds if r.info.status == "KILLED"]
    assert len(seeds) == 10 and len(pruned) == 6  # every cell one run: paused runs resumed
    assert not [r for r in runs if r.info.status in ("RUNNING", "SCHEDULED")]
    states, finals = _decisions(workdir)
    for r in pruned:
        at = int(r.data.tags["ablate.pruned_at"])
        assert r.data.tags[T.FAILURE_KIND] == "pruned"
        steps = [m.step for m in client.get_metric_history(r.info.run_id, "val/loss")]
        assert steps == list(range(at)), "a pruned run trained past its rung"
    for r in seeds:
        if r.info.status == "FINISHED":
            steps = [m.step for m in client.get_metric_history(r.info.run_id, "val/loss")]
            assert steps == [0, 1, 2, 3]
    # Optuna: the rung values are the means over the seeds' val/loss at that epoch.
    for w, (state, steps) in states.items():
        per_seed = [r for r in seeds if float(r.data.params["aux_weight"]) == w]
        for rung, value in steps.items():
            at = [next(m.value for m in client.get_metric_history(r.info.run_id, "val/loss")
                       if m.step == rung - 1) for r in per_seed]  # fmt: skip
            assert value == pytest.approx(sum(at) / len(at))
        assert state == ("COMPLETE" if w in finals else "PRUNED")
    assert 0.0 in finals  # the reference is never pruned
    assert sum(s == "PRUNED" for s, _ in states.values()) == 3
    # Synchronous halving: at the first rung the two best of the four ranked went on.
    first = {w: steps[1] for w, (_, steps) in states.items() if w != 0.0}
    went_on = {w for w, (_, steps) in states.items() if 2 in steps and w != 0.0}
    assert went_on == set(sorted(first, key=first.get)[:2])
    # The report: pruned configurations listed as such, compared nowhere.
    report = (workdir / "reports" / "tiny" / "report.md").read_text()
    assert "## Pruned configurations" in report
    table = pd.read_csv(workdir / "reports" / "tiny" / "runs.csv")
    assert sorted(table["aux_weight"].unique()) == sorted(finals)
    section = report.split("## Pruned configurations")[1].split("##")[0]
    for w, (state, steps) in states.items():
        label = f"aux_weight={w:g}"
        assert (f"| {label} | {max(steps)} |" in section) == (state == "PRUNED")


def test_kill_9_with_pruning_on_keeps_every_decision(workdir, tiny_raw):
    # The same sweep twice: once uninterrupted, once with its driver killed while the kept
    # configurations train toward the second rung; both end with the same decisions and the
    # same results (runs resumed from their checkpoints).
    clean = workdir / "clean"
    clean.mkdir()
    fault_experiment(pruned_raw(tiny_raw), clean, epochs=4)  # the gate never shut
    args = ["sweep", "tiny.yaml", "--workers", "2", "--quiet", "--no-report"]
    p = ablate(args, clean)
    assert p.wait(timeout=600) == 0, p.stderr.read()
    expected = _decisions(clean)

    killed = workdir / "killed"
    killed.mkdir()
    fault_experiment(pruned_raw(tiny_raw), killed, epochs=4)
    gate = killed / "GATE"
    env = {"ABLATE_TEST_GATE": str(gate)}
    p = ablate(args, killed, env)

    def first_rung_decided():
        try:
            return any(t.state.name == "PRUNED" for t in optuna_trials(uri(killed, "optuna.db")))
        except Exception:  # noqa: BLE001  (the study is not created yet)
            return False

    wait_for(first_rung_decided, what="the first pruning decision")
    gate.touch()  # the kept configurations' seeds stop inside their next epoch
    wait_for(lambda: inside_gate(gate), what="a worker inside an epoch after the first rung")
    os.kill(p.pid, signal.SIGKILL)
    p.wait()
    gate.unlink()
    before = {t.params["aux_weight"] for t in optuna_trials(uri(killed, "optuna.db"))
              if t.state.name == "PRUNED"}  # fmt: skip
    again = ablate(args, killed, env)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "4 of 10" in out and "6 runs of 3 configurations pruned" in out
    states, finals = _decisions(killed)
    assert states == expected[0]  # the same configurations pruned at the same rungs, same values
    assert finals == expected[1]  # and the survivors' results equal an uninterrupted sweep's
    assert before <= {w for w, (s, _) in states.items() if s == "PRUNED"}
    runs = mlflow_runs(uri(killed))
    seeds = [r for r in runs if r.data.tags.get(T.ROLE) == "seed"]
    assert len(seeds) == 10, "a cell was trained in a second run instead of resumed"
    assert not [r for r in runs if r.info.status in ("RUNNING", "SCHEDULED")]


def test_the_bar_counts_seed_epochs_against_the_most_the_study_can_spend(workdir, tiny_raw):
    """The progress bar moves with every epoch (not only when a run ends), its total is fixed
    at the start -- every configuration, seed and epoch -- and what pruning skips is counted as
    skipped, so the bar ends full; the expected spend is beside it. Here: 5 weights x 2 seeds x
    4 epochs = 40 at most; halving (eta 2, rungs 1 and 2) trains 2 x 2 x 1 + 1 x 2 x 2 (the
    pruned) + 2 x 2 x 4 (the finalist and the reference) = 24 and skips 16."""
    from ablate.study.counts import seed_epochs
    from ablate.study.result import Options

    raw = pruned_raw(tiny_raw)
    spec = S.validate(raw)
    assert seed_epochs(spec, Options(), S.grid_configs(spec)) == (40, 24)
    path = workdir / "tiny.yaml"
    path.write_text(yaml.safe_dump(raw))
    p = ablate(["sweep", str(path), "--workers", "2"], workdir)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    states = [s for s in err.replace("\r", "\n").splitlines() if s.startswith("sweep tiny")]
    totals = {int(m.group(2)) for m in (re.search(r"(\d+)/(\d+) ", s) for s in states) if m}
    assert totals == {40}, states  # fixed at the start
    done = [int(re.search(r"(\d+)/40 ", s).group(1)) for s in states if "/40 " in s]
    assert done == sorted(done) and done[-1] == 40, states  # moves forward, ends full
    assert len(set(done)) >= 8, states  # epoch by epoch, not 10 runs' ends
    assert (
        "expected ~24" in states[-1] and "16 skipped (pruned, raced out or failed)" in states[-1]
    )


def test_the_shipped_designs_expected_spend():
    from ablate.study.counts import seed_epochs
    from ablate.study.result import Options

    experiments = Path(__file__).resolve().parents[1] / "experiments"
    spec = S.load(experiments / "pspnet_aux_weight_halving.yaml")
    most, expected = seed_epochs(spec, Options(), S.grid_configs(spec))
    # 11 weights x 6 seeds x 16 epochs at most; docs/benchmarks.md measured 270 trained.
    assert most == 11 * 6 * 16 and expected == 270
    spec = S.load(experiments / "pspnet_aux_weight.yaml")
    # the default: a fixed design, what it can spend is what it spends
    assert seed_epochs(spec, Options(), S.grid_configs(spec)) == (6 * 4 * 16, 6 * 4 * 16)
