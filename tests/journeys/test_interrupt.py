"""Ctrl-C in the middle of `ablate sweep`, then the same command again: what the README
promises (runs in flight end KILLED, exit 130, the next sweep resumes and trains only what is
missing) and what MLflow and Optuna hold afterwards."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from lab import EXPERIMENTS, SMALL

ARGS = [
    EXPERIMENTS / "pspnet_aux_weight.yaml", *SMALL, "--set", "train.epochs=4",
    "--set", "search.params.aux_weight.step=0.5", "--set", "search.seeds=[0,1,2,3]",
    "--set", "search.pruner=none", "--workers", "2",
]  # fmt: skip


def _finished_seed_runs(user) -> int:
    if not (user.home / "mlflow.db").exists():
        return 0
    try:
        return len(user.runs("pspnet_aux_weight", "seed", "FINISHED"))
    except Exception:  # noqa: BLE001  (the store is being created)
        return 0


@pytest.mark.readme("ablate sweep")
def test_ctrl_c_ends_runs_killed_and_the_same_command_resumes_to_a_clean_study(user):
    sweep = user.start("sweep", *ARGS)
    end = time.monotonic() + 300
    while _finished_seed_runs(user) < 2:  # some runs done, others in flight
        assert sweep.poll() is None and time.monotonic() < end, sweep.log.read_text()
        time.sleep(0.5)
    console = user.interrupt(sweep)
    assert sweep.returncode == 130, console
    assert "interrupted (SIGINT); run the same command again to resume" in console
    assert "leaked semaphore" not in console and "Traceback" not in console, console
    killed = user.runs("pspnet_aux_weight", "seed", "KILLED")
    assert killed and all(
        k.data.tags["ablate.failure"] == "interrupted by SIGINT" for k in killed
    ), console
    (study,) = user.runs("pspnet_aux_weight", "study")
    assert study.info.status == "KILLED"

    again = user.ablate("sweep", *ARGS)
    assert again.returncode == 0, again
    assert "failed 0" in again.output and "reused" in again.output
    seeds = user.runs("pspnet_aux_weight", "seed")
    # One MLflow run per (configuration, seed) cell: an interrupted run is continued in the
    # same run, from its checkpoint or (before its first epoch) from the start.
    cells = Counter((s.data.tags["ablate.config_hash"], s.data.tags["ablate.seed"]) for s in seeds)
    assert set(cells.values()) == {1}, cells
    assert {s.info.status for s in seeds} == {"FINISHED"}
    resumed = [s for s in seeds if s.info.run_id in {k.info.run_id for k in killed}]
    assert len(resumed) == len(killed)
    for run in [*seeds, *user.runs("pspnet_aux_weight", "config"),
                *user.runs("pspnet_aux_weight", "study")]:  # fmt: skip
        assert run.info.status == "FINISHED", run.info
        assert "ablate.failure" not in run.data.tags, (run.info.run_name, run.data.tags)
    trials = user.trials("pspnet_aux_weight")
    assert Counter(t.state.name for t in trials)["COMPLETE"] == 3
