import os
import re

import pytest
import yaml

from ablate.cli import main


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["--set", "model.name=pspnett"],
            "model.name: unknown model 'pspnett'; registered: fcn8s, group_cls_gat, pspnet",
        ),
        (["--set", "train.epoch=2"], "train.epoch: unknown key (did you mean 'epochs'?)"),
        (
            ["--set", "combiner.params.weights.aux=-0.5"],
            "combiner.params.weights.aux: Input should be greater than or equal to 0",
        ),
        (["--tracking-uri", "http://127.0.0.1:9"], "cannot reach the MLflow tracking server"),
        (
            ["--set", "data={name: voc_folder, params: {root: /no/such/voc}}"],
            "data.params.root: '/no/such/voc' does not exist",
        ),
        (
            ["--set", "data={name: multilabel_csv, params: {root: /no/such/csv}}"],
            "data.params.root: '/no/such/csv' does not exist",
        ),
        # Found only when the parts meet (preflight), still before anything trains:
        (
            ["--set", "objective.metric=val/mIoU"],
            "objective.metric: 'val/mIoU' is not measured by this experiment (did you mean "
            "'val/miou'?)",
        ),
        (["--set", "train.device=cuda:3"], "train.device: 'cuda:3' but no CUDA device"),
        (
            ["--set", "terms.1.target=segmentation"],
            "terms.1.target: dataset 'digit_scenes' has no target 'segmentation'; its "
            "targets: mask, labels",
        ),
        (
            ["--set", "data.params.task=multilabel"],
            "terms.0.loss: 'ce' cannot take output 'out' [2, 10, 16, 16] float32 with target "
            "'labels' [2, 10] float32",
        ),
        (["--study", "../outside"], "study name '../outside': use letters, digits"),
        (["--out", "/proc/no-report-here"], "--out /proc/no-report-here: cannot write there"),
        (["--retries", "-1"], "--retries must be 0 or more"),
        (["--gpus", "0,x"], "--gpus expects all, none or a list such as 0,1,3"),
    ],
)
def test_bad_input_is_one_clear_line_exit_2_and_no_runs(workdir, tiny_file, capsys, args, message):
    assert main(["sweep", str(tiny_file), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ablate: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not os.path.exists("mlflow.db") and not os.path.exists("optuna.db")


def test_a_multilabel_csv_with_missing_images_or_unknown_labels_fails_before_training(
    workdir, tiny_file, capsys
):
    from test_loaders import write_csv

    root = workdir / "ml"
    write_csv(root)
    raw = yaml.safe_load(tiny_file.read_text())
    raw["data"] = {"name": "multilabel_csv", "params": {"root": str(root), "size": 16}}
    raw["model"] = {"name": "group_cls_gat", "params": {"backbone": "tiny", "groups": 2,
                    "group_channels": 16, "class_channels": 8}}  # fmt: skip
    raw["terms"] = [{"name": "out", "output": "out", "loss": "bce"}]
    raw["objective"] = {"metric": "val/map"}
    raw["search"]["params"] = {}
    tiny_file.write_text(yaml.safe_dump(raw))
    (root / "img" / "1.png").unlink()
    assert main(["sweep", str(tiny_file)]) == 2
    err = capsys.readouterr().err
    assert re.search(r"data\.params\.root: .*train\.csv line 3: missing image file", err), err
    write_csv(workdir / "ml2")
    raw["data"]["params"] |= {"root": str(workdir / "ml2"), "classes": ["cat"]}
    tiny_file.write_text(yaml.safe_dump(raw))
    assert main(["sweep", str(tiny_file)]) == 2
    err = capsys.readouterr().err
    assert "data.params.root: " in err and "label 'dog'" in err and "not in classes" in err
    assert not os.path.exists("mlflow.db") and not os.path.exists("optuna.db")


def test_a_missing_experiment_file(workdir, capsys):
    assert main(["sweep", "nope.yaml"]) == 2
    assert "experiment file not found: nope.yaml" in capsys.readouterr().err


def test_list_prints_every_registered_component_of_each_kind(capsys):
    assert main(["list"]) == 0
    printed = {}
    for line in capsys.readouterr().out.splitlines():
        kind, _, names = line.partition(": ")
        printed[kind] = names.split(", ")
    built_in = {
        "datasets": {"digit_scenes", "digits", "multilabel_csv", "voc_folder"},
        "models": {"fcn8s", "group_cls_gat", "pspnet"},
        "losses": {"bce", "ce", "center", "deepmar", "focal", "multilabel_soft_margin", "nll"},
        "combiners": {"dtp", "dwa", "equal", "fixed", "gradnorm", "pcgrad", "rlw",
                      "uncertainty"},
    }  # fmt: skip
    assert set(printed) == set(built_in)
    for kind, names in built_in.items():
        assert names <= set(printed[kind]), kind
        assert printed[kind] == sorted(printed[kind])  # easy to scan


@pytest.mark.parametrize("command", ["sweep", "run", "report", "list", "ui"])
def test_every_command_has_help(capsys, command):
    with pytest.raises(SystemExit) as info:
        main([command, "--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith(f"usage: ablate {command}")


def test_sweep_help_explains_the_scale_out_and_failure_options(capsys):
    with pytest.raises(SystemExit):
        main(["sweep", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    for option in ("--workers", "--gpus", "--workers-per-gpu", "--storage", "--retries",
                   "--max-failures"):  # fmt: skip
        assert option in out
    assert "a diverged run is never retried" in out
