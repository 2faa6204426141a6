"""Which code produced a run: source tags, versions, the resolved experiment as a file, and a code
version in the configuration hash (a changed plug-in retrains; --reuse-stale reuses)."""

import shutil
import subprocess

import yaml
from faults import ablate, fault_experiment, mlflow_runs

from ablate import tracking as T


def sweep(workdir, *extra):
    p = ablate(["sweep", "tiny.yaml", "--quiet", "--no-report", *extra], workdir)
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err
    return out, err


def test_every_seed_run_records_its_code_versions_and_experiment(workdir, tiny_raw):
    tiny_raw["search"]["seeds"] = [0]
    tiny_raw["train"]["epochs"] = 1
    fault_experiment(tiny_raw, workdir, model="pspnet")
    subprocess.run(["git", "init", "-q"], cwd=workdir, check=True)
    subprocess.run(["git", "-c", "user.email=a@b", "-c", "user.name=a", "commit", "-q",
                    "--allow-empty", "-m", "x"], cwd=workdir, check=True)  # fmt: skip
    sweep(workdir)
    uri = f"sqlite:///{workdir}/mlflow.db"
    c = T.client(uri)
    seeds = [r for r in mlflow_runs(uri) if r.data.tags[T.ROLE] == "seed"]
    assert len(seeds) == 3
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=workdir, capture_output=True,
                          text=True).stdout.strip()  # fmt: skip
    for r in seeds:
        tags = r.data.tags
        for key in ("ablate.version.ablate", "ablate.version.torch", "ablate.version.torchvision",
                    "ablate.version.optuna", "ablate.version.mlflow", "ablate.version.cuda",
                    "ablate.version.cudnn", "ablate.version.plugin.fault_models",
                    "ablate.code_version", "mlflow.source.name", "ablate.device"):  # fmt: skip
            assert tags.get(key), key
        assert tags["ablate.git.commit"] == head  # the experiments' repository
        assert tags.get("mlflow.source.git.commit")  # MLflow's: the entry point's (ablate's)
        assert tags["ablate.git.dirty"] == "true"  # the experiment files are not committed
        path = c.download_artifacts(r.info.run_id, "experiment.yaml", str(workdir / r.info.run_id))
        resolved = yaml.safe_load(open(path))
        weight = float(r.data.params["aux_weight"])
        assert resolved["combiner"]["params"]["weights"]["aux"] == weight


def test_a_changed_plug_in_retrains_unless_told_to_reuse_stale_runs(workdir, tiny_raw):
    tiny_raw["search"]["seeds"] = [0]
    tiny_raw["train"]["epochs"] = 1
    fault_experiment(tiny_raw, workdir, model="pspnet")
    out, _ = sweep(workdir)
    assert "trained 3, reused 0" in out
    out, _ = sweep(workdir)
    assert "trained 0, reused 3" in out  # same code: reused
    with open(workdir / "fault_models.py", "a") as f:
        f.write("\n# a fix in the plug-in\n")
    out, err = sweep(workdir, "--reuse-stale")
    assert "trained 0, reused 3" in out and "reusing runs made with code version" in err
    out, _ = sweep(workdir)
    assert "trained 3, reused 0" in out  # new code: trained again
    uri = f"sqlite:///{workdir}/mlflow.db"
    codes = {r.data.tags["ablate.code_version"] for r in mlflow_runs(uri)
             if r.data.tags[T.ROLE] == "seed"}  # fmt: skip
    assert len(codes) == 2
    shutil.rmtree(workdir / "reports", ignore_errors=True)
