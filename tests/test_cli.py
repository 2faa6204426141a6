import os

import pytest

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
    ],
)
def test_bad_input_is_one_clear_line_exit_2_and_no_runs(workdir, tiny_file, capsys, args, message):
    assert main(["sweep", str(tiny_file), *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("ablate: error: ") and message in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert not os.path.exists("mlflow.db") and not os.path.exists("optuna.db")


def test_a_missing_experiment_file(workdir, capsys):
    assert main(["sweep", "nope.yaml"]) == 2
    assert "experiment file not found: nope.yaml" in capsys.readouterr().err


def test_list_prints_the_registries(capsys):
    from ablate.registry import ALL

    assert main(["list"]) == 0
    out = capsys.readouterr().out
    for kind, registry in ALL.items():
        assert f"{kind}: {', '.join(registry.names())}" in out
    assert "pspnet" in out and "fixed" in out


def test_help_explains_the_commands(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--help"])
    assert info.value.code == 0
    out = capsys.readouterr().out
    for word in ("sweep", "report", "list", "ui", "run"):
        assert word in out
