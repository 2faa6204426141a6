"""The study driver end to end on a tiny experiment: hierarchy, resume, kill -9, failures."""

import collections
import os
import signal
import sqlite3
import subprocess
import sys
import time

import optuna

from ablate import spec as S
from ablate import tracking as T
from ablate.study import sweep


def runs_by_role(experiment="tiny"):
    c = T.client(T.absolute_sqlite("sqlite:///mlflow.db"))
    exp = c.get_experiment_by_name(experiment)
    runs = T.find_runs(c, exp.experiment_id) if exp else []
    return c, runs, collections.Counter((r.data.tags.get(T.ROLE), r.info.status) for r in runs)


def finished_seed_runs() -> int:
    """Read-only count straight from SQLite: opening the store through MLflow while the sweep
    is still creating its tables would race it on the schema migration."""
    if not os.path.exists("mlflow.db"):
        return 0
    try:
        with sqlite3.connect("file:mlflow.db?mode=ro", uri=True, timeout=5) as db:
            return db.execute(
                "SELECT count(*) FROM runs JOIN tags ON tags.run_uuid = runs.run_uuid "
                "WHERE tags.key = 'ablate.role' AND tags.value = 'seed' "
                "AND runs.status = 'FINISHED'"
            ).fetchone()[0]
    except sqlite3.Error:
        return 0


def test_a_sweep_logs_study_config_and_seed_runs_nested(workdir, tiny_file):
    spec = S.load(tiny_file)
    res = sweep(spec, workers=2, progress=False)
    assert (res.trained, res.reused, res.failed, res.finished_cells) == (6, 0, 0, 6)
    c, runs, counts = runs_by_role()
    assert counts == {("study", "FINISHED"): 1, ("config", "FINISHED"): 3, ("seed", "FINISHED"): 6}
    by_id = {r.info.run_id: r for r in runs}
    study_run = next(r for r in runs if r.data.tags[T.ROLE] == "study")
    for r in runs:
        role = r.data.tags[T.ROLE]
        if role == "config":
            assert r.data.tags[T.PARENT] == study_run.info.run_id
            assert {
                "val/miou_mean",
                "val/miou_std",
                "val/miou_ci95_low",
                "val/miou_ci95_high",
                "val/miou_n",
            } <= set(r.data.metrics)
            assert r.data.metrics["val/miou_n"] == 2
            assert "aux_weight" in r.data.params and "train.epochs" in r.data.params
            assert r.data.tags[T.HASH] and r.data.tags[T.TRIAL]
        if role == "seed":
            parent = by_id[r.data.tags[T.PARENT]]
            assert parent.data.tags[T.ROLE] == "config"
            assert parent.data.tags[T.HASH] == r.data.tags[T.HASH]
            assert r.data.tags["ablate.device"] == "cpu"
            assert len(c.get_metric_history(r.info.run_id, "val/miou")) == 2
    # the trial's value is the mean over its seeds
    study = optuna.load_study(study_name="tiny", storage=T.absolute_sqlite("sqlite:///optuna.db"))
    for t in study.trials:
        seeds = [
            r.data.metrics["objective"]
            for r in runs
            if r.data.tags[T.ROLE] == "seed" and r.data.tags[T.TRIAL] == str(t.number)
        ]
        assert abs(t.value - sum(seeds) / len(seeds)) < 1e-12


def test_running_the_same_sweep_again_trains_nothing(workdir, tiny_file):
    spec = S.load(tiny_file)
    sweep(spec, workers=1, progress=False)
    again = sweep(spec, workers=2, progress=False)
    assert (again.trained, again.failed) == (0, 0)
    assert (again.finished_cells, again.expected_cells) == (6, 6)
    _, _, counts = runs_by_role()
    assert counts[("seed", "FINISHED")] == 6 and counts[("config", "FINISHED")] == 3


def test_added_seeds_train_only_the_new_cells(workdir, tiny_file):
    sweep(S.load(tiny_file), workers=2, progress=False)
    more = sweep(S.load(tiny_file, ["search.seeds=[0, 1, 2]"]), workers=2, progress=False)
    assert (more.trained, more.reused) == (3, 6)


def test_a_changed_experiment_needs_a_new_study_name(workdir, tiny_file):
    import pytest

    from ablate.errors import AblateError

    sweep(S.load(tiny_file, ["search.params.aux_weight.step=1.0"]), progress=False)
    with pytest.raises(AblateError, match="already exists .* with a different experiment"):
        sweep(S.load(tiny_file, ["train.epochs=1"]), progress=False)


def test_a_failing_run_ends_failed_with_its_reason_and_the_sweep_goes_on(workdir, tiny_file):
    # lr=1e6 with SGD makes the loss non-finite in the first epoch
    spec = S.load(
        tiny_file, ["train.optimizer=sgd", "train.lr=1e6", "search.params.aux_weight.step=1.0"]
    )
    res = sweep(spec, workers=2, progress=False)
    assert res.failed == 4 and res.trained == 0
    _, runs, counts = runs_by_role()
    assert counts[("seed", "FAILED")] == 4 and counts[("config", "FAILED")] == 2
    assert all(
        "non-finite loss" in r.data.tags[T.FAILURE] for r in runs if r.data.tags[T.ROLE] == "seed"
    )


def test_kill_9_midway_then_resume_completes_without_training_a_cell_twice(workdir, tiny_file):
    args = [
        sys.executable,
        "-m",
        "ablate.cli",
        "sweep",
        str(tiny_file),
        "--workers",
        "2",
        "--quiet",
        "--no-report",
        "--set",
        "search.seeds=[0, 1, 2]",
        "--set",
        "train.epochs=6",
        "--set",
        "data.params.train_scenes=96",
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:  # wait for a few cells to finish, then kill midway
        time.sleep(0.5)
        if finished_seed_runs() >= 2 or proc.poll() is not None:
            break
    assert proc.poll() is None, "the sweep finished before it could be killed"
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    time.sleep(1)  # workers die with the driver (PR_SET_PDEATHSIG)
    _, _, counts = runs_by_role()
    assert counts[("seed", "FINISHED")] < 9

    done = subprocess.run(args, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr
    _, runs, counts = runs_by_role()
    assert counts[("study", "FINISHED")] == 1
    assert counts[("config", "FINISHED")] == 3
    assert counts[("seed", "FINISHED")] == 9
    assert not [r for r in runs if r.info.status == "RUNNING"]
    cells = collections.Counter(
        (r.data.tags[T.HASH], r.data.tags[T.SEED])
        for r in runs
        if r.data.tags[T.ROLE] == "seed" and r.info.status == "FINISHED"
    )
    assert len(cells) == 9 and set(cells.values()) == {1}
    study = optuna.load_study(study_name="tiny", storage=T.absolute_sqlite("sqlite:///optuna.db"))
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["aux_weight"] for t in complete) == [0.0, 0.5, 1.0]


def test_tpe_and_random_samplers_run_n_trials_over_int_and_categorical_params(workdir, tiny_file):
    for sampler in ("tpe", "random"):
        spec = S.load(
            tiny_file,
            [
                f"search.sampler={sampler}",
                "search.n_trials=3",
                "search.seeds=[0]",
                "train.epochs=1",
                "search.params={aux_weight: {path: combiner.params.weights.aux, type: float, "
                "low: 0.0, high: 1.0}, batch: {path: train.batch_size, type: categorical, "
                "choices: [4, 8]}, epochs: {path: train.epochs, type: int, low: 1, high: 2}}",
            ],
        )
        res = sweep(spec, study_name=f"s_{sampler}", progress=False)
        assert (res.trained, res.failed, res.finished_cells) == (3, 0, 3)
        study = optuna.load_study(
            study_name=f"s_{sampler}", storage=T.absolute_sqlite("sqlite:///optuna.db")
        )
        assert len(study.trials) == 3
        for t in study.trials:
            assert t.state.name == "COMPLETE" and t.params["batch"] in (4, 8)
            assert 0.0 <= t.params["aux_weight"] <= 1.0 and t.params["epochs"] in (1, 2)
