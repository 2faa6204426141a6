"""Checkpoints: a run killed mid-epoch continues in the same MLflow run from its last epoch, with
the metrics an uninterrupted run has; kept weights load back from MLflow."""

import copy
import os
import signal

import pytest
from faults import ablate, fault_experiment, inside_gate, mlflow_runs, wait_for

from ablate import spec as S
from ablate import tracking as T
from ablate.reporting import Reporter
from ablate.train import fit


def without_time(history):
    return [{k: v for k, v in row.items() if not k.startswith("time/")} for row in history]


class StopAfter(Reporter):
    def __init__(self, epochs):
        self.epochs, self.seen = epochs, 0

    def metrics(self, values, step, timestamp_ms=None):
        self.seen = max(self.seen, step + 1 if "val/miou" in values else 0)

    def should_stop(self):
        return self.seen >= self.epochs


@pytest.mark.parametrize("method", ["fixed", "dtp", "rlw"])  # state: none, a moving average, RNG
def test_a_run_resumed_from_its_checkpoint_equals_an_uninterrupted_one(tiny_raw, tmp_path, method):
    tiny_raw["train"]["epochs"] = 4
    tiny_raw["combiner"] = {"method": method}
    tiny_raw["search"]["params"] = {}
    spec = S.validate(tiny_raw)
    whole = fit(spec, 0, progress=False)
    first = fit(spec, 0, StopAfter(2), progress=False, checkpoints=tmp_path / "ckpt")
    assert first.stopped_early and len(first.history) == 2
    rest = fit(spec, 0, progress=False, checkpoints=tmp_path / "ckpt")
    assert rest.resumed_from == 1
    assert without_time(rest.history) == without_time(whole.history)
    assert len(list((tmp_path / "ckpt").glob("epoch-*.pt"))) == 2  # at most two kept


def test_a_driver_killed_mid_epoch_resumes_the_run_in_the_same_mlflow_run(workdir, tiny_raw):
    spec_raw = copy.deepcopy(tiny_raw)
    spec_raw["train"]["epochs"] = 4
    spec_raw["search"] = {"seeds": [0], "params": {}}
    path = fault_experiment(spec_raw, workdir, epochs=4)
    gate = workdir / "GATE"
    gate.touch()
    env = {"ABLATE_TEST_GATE": str(gate), "ABLATE_TEST_GATE_AFTER": "9"}  # 4 steps an epoch
    args = ["sweep", str(path), "--workers", "1", "--quiet", "--no-report"]
    p = ablate(args, workdir, env)
    wait_for(lambda: inside_gate(gate), what="the worker at the gate, in epoch 2")
    os.kill(p.pid, signal.SIGKILL)  # the driver, and with it the worker, mid-epoch 2
    p.wait()
    gate.unlink()
    again = ablate(args, workdir, env)
    out, err = again.communicate(timeout=600)
    assert again.returncode == 0, err
    uri = f"sqlite:///{workdir}/mlflow.db"
    seeds = [r for r in mlflow_runs(uri) if r.data.tags[T.ROLE] == "seed"]
    assert len(seeds) == 1  # the same run, continued
    run = seeds[0]
    assert run.info.status == "FINISHED" and run.data.tags["ablate.resumed_from_epoch"] == "1"
    c = T.client(uri)
    history = {m.step: m.value for m in c.get_metric_history(run.info.run_id, "val/miou")}
    steps = [m.step for m in c.get_metric_history(run.info.run_id, "val/miou")]
    assert sorted(steps) == [0, 1, 2, 3]  # every epoch once, none lost or doubled
    # an uninterrupted run of the same cell, same seed, same machine
    reference = fit(S.load(path), 0, progress=False)
    assert [history[e] for e in range(4)] == [row["val/miou"] for row in reference.history]


def test_the_kept_model_loads_from_mlflow_and_scores_its_logged_metric(
    workdir, tiny_raw, monkeypatch
):
    import mlflow.pytorch
    import torch

    from ablate.study import sweep
    from ablate.train import build, evaluate

    tiny_raw["train"] |= {"keep": "best", "epochs": 3}
    tiny_raw["search"] = {"seeds": [0], "params": {}}
    (workdir / "k.yaml").write_text(__import__("yaml").safe_dump(tiny_raw))
    spec = S.load(workdir / "k.yaml")
    res = sweep(spec, workers=1, progress=False)
    (run,) = [r for r in mlflow_runs(res.tracking_uri) if r.data.tags[T.ROLE] == "seed"]
    kept = int(run.data.tags["ablate.kept_epoch"])
    c = T.client(res.tracking_uri)
    logged = {m.step: m.value for m in c.get_metric_history(run.info.run_id, "val/miou")}
    assert logged[kept] == max(logged.values())  # best: the epoch with the highest val/miou
    # Not mlflow.set_tracking_uri: it sets $MLFLOW_TRACKING_URI for the rest of the process,
    # and every later test in this worker (and the `ablate ui` they start) used this store.
    monkeypatch.setenv("MLFLOW_TRACKING_URI", res.tracking_uri)
    model = mlflow.pytorch.load_model(f"runs:/{run.info.run_id}/model")
    parts = build(spec, 0, torch.device("cpu"))
    val = evaluate(model, parts.data, parts.losses["main"], spec.train, False, False,
                   torch.device("cpu"))  # fmt: skip
    assert val["miou"] == pytest.approx(logged[kept], abs=1e-6)
