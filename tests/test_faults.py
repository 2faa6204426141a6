"""Faults a user can hit, injected for real, and what MLflow and Optuna hold afterwards.

Sweeps run as a user runs them: the ``ablate`` command in a subprocess, SQLite stores in the
test's working directory. Workers are held at a gate (tests/plugins/fault_models.py) so that a kill
lands mid-run at a moment the test chooses, not after a guessed sleep.
"""

from __future__ import annotations

import os
import signal

import pytest
from faults import (
    ablate,
    by_role_status,
    fault_experiment,
    finished_cells,
    inside_gate,
    mlflow_runs,
    optuna_trials,
    wait_for,
)

from ablate import tracking as T
from ablate.study import adapter as A

MLFLOW = "sqlite:///mlflow.db"
OPTUNA = "sqlite:///optuna.db"


def uri(workdir, name="mlflow.db"):
    return f"sqlite:///{workdir / name}"


def test_a_duplicate_prone_random_sweep_trains_each_cell_once(workdir, tiny_file):
    # The recipe: 8 random trials over 2 values with 3 workers propose each
    # configuration about 4 times, several of them while the first is still training.
    args = ["sweep", str(tiny_file), "--study", "tiny", "--workers", "3", "--quiet",
            "--set", "search.sampler=random", "--set", "search.n_trials=8",
            "--set", "search.seeds=[0]", "--set", "search.params={aux_weight: {path: "
            "combiner.params.weights.aux, type: categorical, choices: [0.0, 1.0]}}"]  # fmt: skip
    p = ablate(args, workdir)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert "2 of 2 (configuration, seed) runs finished" in out
    assert "8 trials proposed 2 distinct configurations" in out
    runs = mlflow_runs(uri(workdir))
    cells = finished_cells(runs)
    assert len(cells) == 2 and set(cells.values()) == {1}  # was 2 copies of a cell before
    trials = optuna_trials(uri(workdir, "optuna.db"))
    assert len(trials) == 8 and {t.state.name for t in trials} == {"COMPLETE"}
    by_value = {}
    for t in trials:  # a configuration proposed again gets the value of its one set of runs
        by_value.setdefault(t.params["aux_weight"], set()).add(t.value)
    assert all(len(v) == 1 for v in by_value.values())
    import pandas as pd

    table = pd.read_csv(workdir / "reports" / "tiny" / "runs.csv")
    assert len(table) == 2


def test_a_failing_tpe_study_ends_after_n_trials_with_status_1_and_one_line(workdir, tiny_file):
    # lr=1e6 with SGD: every run diverges in its first epoch. Failed trials count toward
    # n_trials, as in Optuna's optimize(): two trials, then the sweep ends.
    args = ["sweep", str(tiny_file), "--quiet", "--no-report", "--set", "search.sampler=tpe",
            "--set", "search.n_trials=2", "--set", "train.optimizer=sgd",
            "--set", "train.lr=1e6"]  # fmt: skip
    p = ablate(args, workdir)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 1
    summary = [line for line in out.splitlines() if line.startswith("study tiny:")]
    assert summary == [
        "study tiny: 0 of 4 (configuration, seed) runs finished; this sweep trained 0, "
        "reused 0, failed 4 (diverged: 4)"
    ]
    assert "Traceback" not in err
    trials = optuna_trials(uri(workdir, "optuna.db"))
    assert [t.state.name for t in trials] == ["FAIL", "FAIL"]
    seeds = [r for r in mlflow_runs(uri(workdir)) if r.data.tags[T.ROLE] == "seed"]
    assert len(seeds) == 4  # a diverged run is never retried
    for r in seeds:
        assert r.info.status == "FAILED"
        assert r.data.tags[T.FAILURE_KIND] == "diverged"
        assert "non-finite" in r.data.tags[T.FAILURE]


def test_a_run_whose_validation_is_nan_ends_failed(workdir, tiny_raw):
    path = fault_experiment(tiny_raw, workdir, model="nan_eval_pspnet", epochs=1)
    p = ablate(["sweep", str(path), "--quiet", "--no-report", "--set", "search.seeds=[0]",
                "--set", "search.params.aux_weight.step=1.0"], workdir)  # fmt: skip
    out, err = p.communicate(timeout=600)
    assert p.returncode == 1, err
    runs = mlflow_runs(uri(workdir))
    assert by_role_status(runs) == {
        ("study", "FINISHED"): 1, ("config", "FAILED"): 2, ("seed", "FAILED"): 2,
    }  # fmt: skip
    c = T.client(uri(workdir))
    for r in runs:
        if r.data.tags[T.ROLE] == "seed":
            assert r.data.tags[T.FAILURE_KIND] == "diverged"
            assert "non-finite val/loss" in r.data.tags[T.FAILURE]
            # the epoch that diverged is logged, so the run shows where it went wrong
            assert [m.step for m in c.get_metric_history(r.info.run_id, "val/loss")] == [0]
    trials = optuna_trials(uri(workdir, "optuna.db"))
    assert {t.state.name for t in trials} == {"FAIL"}


def test_a_worker_killed_mid_run_is_replaced_and_only_its_cell_is_retried(workdir, tiny_raw):
    path = fault_experiment(tiny_raw, workdir)
    gate = workdir / "GATE"
    gate.touch()
    p = ablate(["sweep", str(path), "--workers", "2", "--quiet", "--no-report"], workdir,
               {"ABLATE_TEST_GATE": str(gate)})  # fmt: skip
    victim = wait_for(lambda: inside_gate(gate), what="a worker at the gate")[0]
    os.kill(victim, signal.SIGKILL)
    gate.unlink()
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    assert "retried 1" in out and "6 of 6" in out
    runs = mlflow_runs(uri(workdir))
    cells = finished_cells(runs)
    assert len(cells) == 6 and set(cells.values()) == {1}
    failed = [r for r in runs if r.info.status == "FAILED"]
    assert len(failed) == 1 and failed[0].data.tags[T.FAILURE_KIND] == "worker_died"
    assert "the worker process killed" in failed[0].data.tags[T.FAILURE]
    retried = [
        r for r in runs if r.data.tags.get(T.HASH) == failed[0].data.tags[T.HASH]
        and r.data.tags.get(T.SEED) == failed[0].data.tags[T.SEED] and r is not failed[0]
    ]  # fmt: skip
    assert [r.info.status for r in retried] == ["FINISHED"]
    assert retried[0].data.tags["ablate.attempt"] == "2"
    assert not [r for r in runs if r.info.status == "RUNNING"]
    trials = optuna_trials(uri(workdir, "optuna.db"))
    assert [t.state.name for t in trials] == ["COMPLETE"] * 3


def test_sigint_ends_runs_killed_exits_130_and_a_rerun_completes(workdir, tiny_raw):
    path = fault_experiment(tiny_raw, workdir)
    gate = workdir / "GATE"
    gate.touch()
    args = ["sweep", str(path), "--workers", "2", "--quiet", "--no-report"]
    env = {"ABLATE_TEST_GATE": str(gate)}
    p = ablate(args, workdir, env)
    wait_for(lambda: len(inside_gate(gate)) == 2, what="both workers at the gate")
    os.killpg(p.pid, signal.SIGINT)  # Ctrl-C in a terminal: the whole process group
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "interrupted (SIGINT)" in err and "Traceback" not in err
    runs = mlflow_runs(uri(workdir))
    assert not [r for r in runs if r.info.status == "RUNNING"]
    killed = [r for r in runs if r.data.tags[T.ROLE] == "seed"]
    assert len(killed) == 2
    for r in killed:
        assert r.info.status == "KILLED" and r.data.tags[T.FAILURE] == "interrupted by SIGINT"
    assert not [t for t in optuna_trials(uri(workdir, "optuna.db")) if t.state.name == "RUNNING"]

    gate.unlink()
    again = ablate(args, workdir, env)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    runs = mlflow_runs(uri(workdir))
    cells = finished_cells(runs)
    assert len(cells) == 6 and set(cells.values()) == {1}
    # The two interrupted runs (stopped before their first epoch) went on in the same MLflow
    # runs: one run per cell, nothing left KILLED, no interruption left in a finished run.
    assert by_role_status(runs)[("seed", "KILLED")] == 0
    again_ids = {r.info.run_id: r for r in runs}
    for r in killed:
        assert again_ids[r.info.run_id].info.status == "FINISHED"
        assert T.FAILURE not in again_ids[r.info.run_id].data.tags
    assert by_role_status(runs)[("config", "FINISHED")] == 3
    assert by_role_status(runs)[("config", "KILLED")] == 0
    complete = [t for t in optuna_trials(uri(workdir, "optuna.db")) if t.state.name == "COMPLETE"]
    assert sorted(t.params["aux_weight"] for t in complete) == [0.0, 0.5, 1.0]


def test_kill_9_of_the_driver_then_a_rerun_trains_each_cell_once(workdir, tiny_raw):
    path = fault_experiment(tiny_raw, workdir)
    gate = workdir / "GATE"
    gate.touch()
    args = ["sweep", str(path), "--workers", "2", "--quiet", "--no-report",
            "--set", "search.seeds=[0, 1, 2]"]  # fmt: skip
    env = {"ABLATE_TEST_GATE": str(gate)}
    p = ablate(args, workdir, env)
    wait_for(lambda: len(inside_gate(gate)) == 2, what="both workers at the gate")
    os.kill(p.pid, signal.SIGKILL)  # its workers die with it (PR_SET_PDEATHSIG)
    p.wait()
    gate.unlink()

    again = ablate(args, workdir, env)  # waits out the dead driver's claims (grace period)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    assert "9 of 9" in out
    runs = mlflow_runs(uri(workdir))
    counts = by_role_status(runs)
    assert counts[("study", "FINISHED")] == 1
    assert counts[("config", "FINISHED")] == 3
    assert counts[("seed", "FINISHED")] == 9 and counts[("seed", "KILLED")] == 2
    assert not [r for r in runs if r.info.status == "RUNNING"]
    assert set(finished_cells(runs).values()) == {1}
    complete = [t for t in optuna_trials(uri(workdir, "optuna.db")) if t.state.name == "COMPLETE"]
    assert sorted(t.params["aux_weight"] for t in complete) == [0.0, 0.5, 1.0]
    interrupted = [t for t in optuna_trials(uri(workdir, "optuna.db")) if t.state.name == "FAIL"]
    assert all(t.user_attrs.get(A.INTERRUPTED) for t in interrupted)


def test_max_failures_stops_the_sweep_cleanly_with_a_one_line_summary(workdir, tiny_file):
    args = ["sweep", str(tiny_file), "--quiet", "--no-report", "--workers", "1",
            "--max-failures", "2", "--set", "train.optimizer=sgd", "--set", "train.lr=1e6",
            "--set", "search.seeds=[0, 1, 2]"]  # fmt: skip
    p = ablate(args, workdir)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 1, err
    assert out.splitlines()[0] == (
        "study tiny: 0 of 9 (configuration, seed) runs finished; this sweep trained 0, reused "
        "0, failed 2 (diverged: 2); stopped: 2 runs failed (--max-failures 2)"
    )
    runs = mlflow_runs(uri(workdir))
    assert len([r for r in runs if r.data.tags[T.ROLE] == "seed"]) == 2
    assert not [r for r in runs if r.info.status == "RUNNING"]


def test_a_cuda_error_recycles_the_worker_and_is_retried_once(workdir, tiny_raw):
    # The real exception class torch raises on a GPU out of memory, raised by the model.
    path = fault_experiment(tiny_raw, workdir, model="oom_pspnet", epochs=1)
    args = [
        "sweep",
        str(path),
        "--workers",
        "1",
        "--quiet",
        "--no-report",
        "--set",
        "search.seeds=[0]",
        "--set",
        "search.params.aux_weight.step=1.0",
    ]
    p = ablate(args, workdir)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 1, err
    assert "failed 2 (cuda: 2), retried 2" in out
    seeds = [r for r in mlflow_runs(uri(workdir)) if r.data.tags[T.ROLE] == "seed"]
    assert len(seeds) == 4  # 2 cells x (a try + one retry)
    assert {r.data.tags[T.FAILURE_KIND] for r in seeds} == {"cuda"}
    assert all("OutOfMemoryError" in r.data.tags[T.FAILURE] for r in seeds)
    # every attempt ran in a fresh worker process: the one that hit the error was replaced
    assert len({r.data.tags["ablate.worker_pid"] for r in seeds}) == 4


@pytest.mark.parametrize("signame", ["SIGTERM"])
def test_sigterm_is_handled_like_ctrl_c(workdir, tiny_raw, signame):
    path = fault_experiment(tiny_raw, workdir)
    gate = workdir / "GATE"
    gate.touch()
    p = ablate(["sweep", str(path), "--workers", "1", "--quiet", "--no-report"], workdir,
               {"ABLATE_TEST_GATE": str(gate)})  # fmt: skip
    wait_for(lambda: inside_gate(gate), what="a worker at the gate")
    p.send_signal(getattr(signal, signame))  # SLURM and Kubernetes stop a job this way
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    seeds = [r for r in mlflow_runs(uri(workdir)) if r.data.tags[T.ROLE] == "seed"]
    assert [(r.info.status, r.data.tags[T.FAILURE]) for r in seeds] == [
        ("KILLED", f"interrupted by {signame}")
    ]
