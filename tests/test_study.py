"""The study driver end to end on a tiny experiment: hierarchy, resume, failures (faults:
test_faults.py; many drivers on PostgreSQL: test_scaleout.py)."""

import collections

import optuna

from ablate import spec as S
from ablate import tracking as T
from ablate.study import sweep


def runs_by_role(experiment="tiny"):
    c = T.client(T.absolute_sqlite("sqlite:///mlflow.db"))
    exp = c.get_experiment_by_name(experiment)
    runs = T.find_runs(c, exp.experiment_id) if exp else []
    return c, runs, collections.Counter((r.data.tags.get(T.ROLE), r.info.status) for r in runs)


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


def test_a_study_recreated_with_another_experiment_never_reuses_the_old_runs(workdir, tiny_file):
    # The old message said "remove the old one": a user deletes the Optuna study and sweeps
    # again with a changed experiment under the same name.
    from ablate.report.collect import collect

    first = sweep(S.load(tiny_file, ["train.epochs=1"]), workers=2, progress=False)
    optuna.delete_study(study_name="tiny", storage=T.absolute_sqlite("sqlite:///optuna.db"))
    second = sweep(S.load(tiny_file), workers=2, progress=False)
    assert second.trained == 6 and second.reused == 0  # nothing from the 1-epoch runs
    assert second.study_run_id != first.study_run_id
    runs = collect(second.tracking_uri, "tiny", "tiny")
    assert len(runs.seeds) == 6 and set(runs.seeds["seed"]) == {0, 1}
    c = T.client(second.tracking_uri)
    for run_id in runs.seeds["run_id"]:
        assert c.get_run(run_id).data.params["train.epochs"] == "2"


def test_a_study_recreated_with_the_same_experiment_reuses_its_finished_runs(workdir, tiny_file):
    sweep(S.load(tiny_file), workers=2, progress=False)
    import os

    os.remove("optuna.db")  # the Optuna database is lost; MLflow still has the runs
    again = sweep(S.load(tiny_file), workers=2, progress=False)
    assert (again.trained, again.reused, again.finished_cells) == (0, 6, 6)
