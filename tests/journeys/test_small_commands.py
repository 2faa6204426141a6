"""The smaller commands of the README: `ablate list`, `ablate --help`, `make clean`, and
`make gpu-check` (on a machine without CUDA it says so and exits 0)."""

from __future__ import annotations

import pytest
from lab import EXPERIMENTS, SMALL, make


@pytest.mark.readme("ablate list")
def test_ablate_list_names_the_registered_components(user):
    r = user.ablate("list")
    assert r.returncode == 0, r
    for name in ("pspnet", "fcn8s", "group_cls_gat", "voc_folder", "multilabel_csv", "center",
                 "gradnorm", "uncertainty"):  # fmt: skip
        assert name in r.stdout, name


def test_ablate_help_explains_every_command(user):
    r = user.ablate("--help")
    assert r.returncode == 0
    for command in ("sweep", "run", "confirm", "report", "list", "ui", "dashboard"):
        assert command in r.stdout
    sweep = user.ablate("sweep", "--help")
    assert "--workers" in sweep.stdout and "--gpus" in sweep.stdout and "resumes" in sweep.stdout


@pytest.mark.readme("make clean")
def test_make_clean_removes_the_stores_and_reports(user):
    r = user.ablate("run", EXPERIMENTS / "pspnet_aux_weight.yaml", *SMALL)
    assert r.returncode == 0, r
    assert (user.home / "mlflow.db").exists() and (user.home / "mlruns").exists()
    cleaned = make(user, "clean")
    assert cleaned.returncode == 0, cleaned
    assert not (user.home / "mlflow.db").exists() and not (user.home / "mlruns").exists()


@pytest.mark.readme("make gpu-check")
def test_make_gpu_check_says_what_it_found(user):
    import torch

    r = make(user, "gpu-check", timeout=900)
    assert r.returncode == 0, r
    if torch.cuda.is_available():  # a GPU machine: the whole journey ran there
        assert "gpu-check: ok" in r.stdout, r
    else:
        assert "gpu-check: no CUDA device here" in r.stdout, r
