"""Scale-out on the real engines: PostgreSQL for Optuna, an ``mlflow server`` over PostgreSQL
for MLflow, several ``ablate sweep`` drivers that share only the two URLs, and faults.

The servers are started by the project itself (tests/servers.py): nothing is assumed to be on
the machine. docs/scale-out.md runs the same commands as SLURM and Kubernetes jobs.
"""

from __future__ import annotations

import collections
import os
import signal
import time
import uuid

import optuna
import pytest
from faults import ablate, fault_experiment, finished_cells, inside_gate, mlflow_runs, wait_for

from ablate import tracking as T
from ablate.study import adapter as A

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_three_drivers_on_three_machines_train_every_cell_once_though_one_is_killed(
    tmp_path, tiny_raw, postgres, mlflow_server
):
    storage = postgres.create_database(f"optuna_{uuid.uuid4().hex[:8]}")
    tiny_raw["search"]["seeds"] = [0, 1, 2]  # 3 configurations x 3 seeds = 9 cells
    machines = []
    for i in range(4):  # three drivers at once, and a fourth one afterwards
        folder = tmp_path / f"machine{i}"  # nothing shared but the two URLs
        folder.mkdir()
        fault_experiment(tiny_raw, folder)
        machines.append(folder)
    args = ["sweep", "tiny.yaml", "--storage", storage, "--tracking-uri", mlflow_server.url,
            "--workers", "1", "--quiet", "--no-report"]  # fmt: skip
    gates = [m / "GATE" for m in machines]
    for gate in gates[:3]:
        gate.touch()
    drivers = [
        ablate(args, m, {"ABLATE_TEST_GATE": str(g)})
        for m, g in zip(machines[:3], gates[:3], strict=True)
    ]
    for gate in gates[:3]:  # each driver has claimed a cell and trains it
        wait_for(lambda g=gate: inside_gate(g), what=f"a worker at {gate}")
    os.kill(drivers[0].pid, signal.SIGKILL)  # machine 0 is lost mid-run
    drivers[0].wait()
    for gate in gates[1:3]:
        gate.unlink()
    outputs = []
    for d in drivers[1:]:
        out, err = d.communicate(timeout=600)
        assert d.returncode == 0, err
        outputs += [out, err]
    fourth = ablate([*args[:-1]], machines[3])  # with a report this time
    out, err = fourth.communicate(timeout=600)
    assert fourth.returncode == 0, err
    outputs += [out, err]
    assert "9 of 9 (configuration, seed) runs finished; this sweep trained 0, reused 9" in out

    runs = mlflow_runs(mlflow_server.url)
    cells = finished_cells(runs)
    assert len(cells) == 9 and set(cells.values()) == {1}  # every cell exactly once
    roles = collections.Counter((r.data.tags[T.ROLE], r.info.status) for r in runs)
    assert (
        roles[("study", "FINISHED")] == 1
        and sum(n for (role, _), n in roles.items() if role == "study") == 1
    )  # one study run, shared by the four drivers
    assert roles[("config", "FINISHED")] == 3
    assert not [r for r in runs if r.info.status == "RUNNING"]
    # the lost machine's cell: its run ended KILLED when another driver took the cell over
    lost = [r for r in runs if r.data.tags.get(T.ROLE) == "seed" and r.info.status == "KILLED"]
    assert len(lost) == 1 and "taken over" in lost[0].data.tags[T.FAILURE]
    by_id = {r.info.run_id: r for r in runs}
    for r in runs:
        if r.data.tags[T.ROLE] == "seed":
            assert by_id[r.data.tags[T.PARENT]].data.tags[T.ROLE] == "config"
    # the report's files were stored by the server (it serves the artifacts)
    c = T.client(mlflow_server.url)
    study_run = next(r for r in runs if r.data.tags[T.ROLE] == "study")
    names = {a.path.rsplit("/", 1)[-1] for a in c.list_artifacts(study_run.info.run_id, "report")}
    assert {"report.md", "runs.csv"} <= names

    study = optuna.load_study(study_name="tiny", storage=A.db_url(storage))
    complete = [t for t in study.trials if t.state.name == "COMPLETE"]
    assert sorted(t.params["aux_weight"] for t in complete) == [0.0, 0.5, 1.0]
    assert all(t.user_attrs.get(A.INTERRUPTED) for t in study.trials if t.state.name == "FAIL")

    # The database password is in the storage URL the drivers were given; it is nowhere else.
    secret = postgres.password
    assert secret in storage
    for r in runs:
        for value in [*r.data.params.values(), *r.data.tags.values()]:
            assert secret not in value
    assert "optuna_storage" in study_run.data.params
    assert "***" in study_run.data.params["optuna_storage"]
    for text in outputs:
        assert secret not in text


def test_an_error_with_the_storage_url_never_shows_its_password(tmp_path, tiny_file, postgres):
    bad = postgres.url("postgres").replace(f":{postgres.port}/", ":1/")  # nothing listens on 1
    p = ablate(["sweep", str(tiny_file), "--storage", bad, "--quiet"], tmp_path)
    out, err = p.communicate(timeout=300)
    assert p.returncode == 2
    assert err.startswith("ablate: error: cannot open Optuna storage 'postgresql://ablate:***@")
    assert postgres.password not in out + err


def test_an_mlflow_server_away_for_60_s_mid_sweep_loses_nothing(tmp_path, tiny_raw, postgres):
    from servers import MlflowServer

    server = MlflowServer(postgres.create_database(f"mlflow_{uuid.uuid4().hex[:8]}"),
                          tmp_path / "artifacts").start()  # fmt: skip
    try:
        tiny_raw["search"]["seeds"] = [0, 1, 2]
        work = tmp_path / "work"
        work.mkdir()
        fault_experiment(tiny_raw, work, epochs=3)
        gate = work / "GATE"
        gate.touch()
        p = ablate(["sweep", "tiny.yaml", "--tracking-uri", server.url, "--workers", "2",
                    "--no-report", "--quiet"], work, {"ABLATE_TEST_GATE": str(gate)})  # fmt: skip
        wait_for(lambda: len(inside_gate(gate)) == 2, what="both workers at the gate")
        server.stop()
        down = time.monotonic()
        gate.unlink()  # training goes on while the server is away

        def trained_meanwhile() -> int:
            import sqlite3

            with sqlite3.connect(f"file:{work / 'optuna.db'}?mode=ro", uri=True) as db:
                return db.execute(
                    "SELECT count(*) FROM ablate_tickets WHERE kind = 'cell' AND state = 'trained'"
                ).fetchone()[0]

        wait_for(lambda: trained_meanwhile() >= 4, timeout=55, what="cells trained offline")
        time.sleep(max(0.0, 60 - (time.monotonic() - down)))
        server.start()
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
        assert "MLflow unreachable" in err and "MLflow is back" in err
        runs = mlflow_runs(server.url)
        cells = finished_cells(runs)
        assert len(cells) == 9 and set(cells.values()) == {1}
        c = T.client(server.url)
        for r in runs:
            if r.data.tags[T.ROLE] != "seed":
                continue
            assert r.info.status == "FINISHED"
            history = c.get_metric_history(r.info.run_id, "val/miou")
            assert sorted(m.step for m in history) == [0, 1, 2]  # every epoch's metrics
            steps = c.get_metric_history(r.info.run_id, "train/loss_step")
            assert sorted(m.step for m in steps) == list(range(3 * 4))  # and every step's
        assert not list((work / ".ablate" / "journal").iterdir())
    finally:
        server.stop()
