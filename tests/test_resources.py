"""GPUs as resources, tested without a GPU: the placement of each worker, and the environment a
worker process really receives (it tags its seed runs with it)."""

import os
import subprocess
import sys

import pytest
from faults import ablate, fault_experiment, inside_gate, mlflow_runs, wait_for

from ablate import tracking as T
from ablate.errors import AblateError
from ablate.study.resources import parse_gpus, placements


def devices(ps):
    return [p.env.get("CUDA_VISIBLE_DEVICES") for p in ps]


def test_each_worker_sees_one_gpu_and_the_cpus_are_shared_out():
    ps = placements(None, ["0", "1", "2", "3"], workers_per_gpu=2, cpus=16)
    assert devices(ps) == ["0", "1", "2", "3", "0", "1", "2", "3"]
    assert {p.threads for p in ps} == {2} and ps[0].env["OMP_NUM_THREADS"] == "2"
    assert devices(placements(3, ["0", "1"], cpus=12)) == ["0", "1", "0"]
    assert devices(placements(None, ["5"], cpus=8)) == ["5"]  # default: one worker per GPU
    assert [p.threads for p in placements(None, ["5"], cpus=8)] == [8]


def test_cpu_workers_are_kept_off_the_gpus_and_get_at_least_one_thread():
    ps = placements(3, [], cpus=2)
    assert devices(ps) == ["", "", ""] and {p.threads for p in ps} == {1}


def test_contradictory_worker_counts_are_an_error():
    with pytest.raises(AblateError, match="does not match --workers-per-gpu 2 x 2 GPUs"):
        placements(3, ["0", "1"], workers_per_gpu=2)
    with pytest.raises(AblateError, match="--workers-per-gpu needs GPUs"):
        placements(None, [], workers_per_gpu=2)


def test_gpu_lists_parse():
    assert parse_gpus(None) is None and parse_gpus("all") is None
    assert parse_gpus("none") == [] and parse_gpus("0,2") == ["0", "2"]
    with pytest.raises(AblateError, match="twice"):
        parse_gpus("1,1")


def test_threads_follow_the_cpu_affinity_not_the_machine():
    # Pinned to one CPU (as SLURM or taskset would), a process may use one, whatever the box.
    code = "from ablate.study.resources import usable_cpus; print(usable_cpus())"
    out = subprocess.run(
        ["taskset", "-c", "0", sys.executable, "-c", code], capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "1"


def test_the_workers_of_a_sweep_receive_their_own_gpu_in_their_environment(workdir, tiny_raw):
    # Two GPUs "visible" to the driver: one worker per GPU, each of which sees only its own.
    # No GPU is really there, so each trains on the CPU (device auto); what is checked is the
    # environment each worker process got, which it records on its seed runs.
    path = fault_experiment(tiny_raw, workdir)
    gate = workdir / "GATE"
    gate.touch()
    env = {"CUDA_VISIBLE_DEVICES": "0,1", "ABLATE_TEST_GATE": str(gate)}
    p = ablate(["sweep", str(path), "--quiet", "--no-report"], workdir, env)
    wait_for(lambda: len(inside_gate(gate)) == 2, what="a worker on each GPU at the gate")
    gate.unlink()
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    seeds = [r for r in mlflow_runs(f"sqlite:///{workdir}/mlflow.db")
             if r.data.tags[T.ROLE] == "seed"]  # fmt: skip
    assert len(seeds) == 6
    assert {r.data.tags["ablate.cuda_visible_devices"] for r in seeds} == {"0", "1"}
    cpus = len(os.sched_getaffinity(0))
    assert {r.data.tags["ablate.threads"] for r in seeds} == {str(max(1, cpus // 2))}
    assert {r.data.tags["ablate.device"] for r in seeds} == {"cpu"}
