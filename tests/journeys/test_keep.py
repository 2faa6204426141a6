"""`train.keep`: the weights a run kept, loaded again with MLflow as the README shows, whether
the run came from `ablate run` or from `ablate sweep` (one code path for a seed run)."""

from __future__ import annotations

import subprocess

import pytest
from lab import EXPERIMENTS, SMALL

LOAD = """
import mlflow.pytorch, torch
mlflow.set_tracking_uri("sqlite:///mlflow.db")
model = mlflow.pytorch.load_model("runs:/{run_id}/model")
out = model(torch.rand(2, 3, 24, 24))
print("loaded", type(model).__name__, tuple(out["out"].shape))
"""


@pytest.mark.readme("ablate run")
def test_ablate_run_with_keep_logs_a_model_mlflow_loads_and_records_the_commit(user):
    git = ["git", "-c", "user.name=lab", "-c", "user.email=lab@example.org"]
    subprocess.run([*git, "init", "-q"], cwd=user.home, check=True)
    user.write("notes.md", "our ablations\n")
    subprocess.run([*git, "add", "."], cwd=user.home, check=True)
    subprocess.run([*git, "commit", "-qm", "start"], cwd=user.home, check=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=user.home, text=True,
                          capture_output=True).stdout.strip()  # fmt: skip

    r = user.ablate("run", EXPERIMENTS / "pspnet_aux_weight.yaml", *SMALL,
                    "--set", "train.keep=best")  # fmt: skip
    assert r.returncode == 0, r
    run_id = r.output.split("MLflow run ", 1)[1].split()[0]
    run = user.client().get_run(run_id)
    assert run.info.status == "FINISHED" and "ablate.kept_epoch" in run.data.tags
    assert run.data.tags["mlflow.source.git.commit"] == head  # shown on MLflow's run page
    assert run.data.tags["ablate.device"] == "cpu"
    loaded = user.python(LOAD.format(run_id=run_id))
    assert loaded.returncode == 0 and "loaded PSPNet (2, 11, 24, 24)" in loaded.stdout, loaded


@pytest.mark.readme("ablate sweep")
def test_a_sweep_with_keep_logs_each_seed_runs_model(user):
    r = user.ablate("sweep", EXPERIMENTS / "pspnet_aux_weight.yaml", *SMALL, "--set",
                    "train.keep=last", "--set", "search.params.aux_weight.step=1.0",
                    "--set", "search.seeds=[0,1,2,3]", "--no-report")  # fmt: skip
    assert r.returncode == 0, r
    seeds = user.runs("pspnet_aux_weight", "seed", "FINISHED")
    assert len(seeds) >= 6 and all(s.data.tags["ablate.kept_epoch"] == "1" for s in seeds)
    loaded = user.python(LOAD.format(run_id=seeds[0].info.run_id))
    assert loaded.returncode == 0 and "loaded PSPNet" in loaded.stdout, loaded
