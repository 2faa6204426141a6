"""Bad input, as users make it: one line naming the problem, exit status 2, before anything
trains; no run in MLflow, no study, no empty report folder."""

from __future__ import annotations

import pytest
from folders import csv_digits, truncate, voc_digits
from lab import EXPERIMENTS, SMALL

DEFAULT = EXPERIMENTS / "pspnet_aux_weight.yaml"


def _refused(user, r, *words: str) -> None:
    assert r.returncode == 2, r
    assert r.stderr.startswith("ablate: error: ") and r.stderr.count("\n") == 1, r
    assert "Traceback" not in r.output, r
    for w in words:
        assert w in r.stderr, r
    assert not (user.home / "reports").exists(), r
    assert not (user.home / "optuna.db").exists(), r
    if (user.home / "mlflow.db").exists():  # created by a check, holds no run
        assert not user.client().search_runs(
            [e.experiment_id for e in user.client().search_experiments()]
        ), r


def test_a_truncated_jpeg_in_a_voc_folder_is_found_before_training(user):
    root = voc_digits(user.home / "voc", n_train=24, n_val=8, size=40)
    truncate(root / "JPEGImages" / "train_00007.jpg")
    data = f"data={{name: voc_folder, params: {{root: {root}, crop: 32, num_classes: 11}}}}"
    r = user.ablate("sweep", DEFAULT, *SMALL, "--set", data)
    _refused(user, r, "data.params.root: cannot read image", "train_00007.jpg", "truncated")


def test_a_mask_of_another_size_than_its_image_is_found_before_training(user):
    from PIL import Image

    root = voc_digits(user.home / "voc", n_train=16, n_val=8, size=40)
    mask = root / "SegmentationClass" / "val_00003.png"
    Image.open(mask).resize((20, 20)).save(mask)
    data = f"data={{name: voc_folder, params: {{root: {root}, crop: 32, num_classes: 11}}}}"
    r = user.ablate("sweep", DEFAULT, *SMALL, "--set", data)
    _refused(user, r, "val_00003.png' is 20x20 but its image is 40x40")


def test_an_unreadable_image_in_a_csv_folder_is_found_before_training(user):
    root = csv_digits(user.home / "attrs", n_train=16, n_val=8, size=32)
    (root / "images" / "val_00002.png").write_bytes(b"not an image at all")
    r = user.ablate(
        "sweep", EXPERIMENTS / "gat_supplement.yaml",
        "--set", f"data={{name: multilabel_csv, params: {{root: {root}, size: 32}}}}",
    )  # fmt: skip
    _refused(user, r, "cannot read image", "val_00002.png")


def test_a_plugin_with_a_syntax_error_is_one_line(user):
    user.write("my_lab.py", "import torch\ndef broken(:\n    pass\n")
    r = user.ablate("sweep", DEFAULT, *SMALL, "--set", "plugins=[my_lab]")
    _refused(user, r, "cannot import plugin module 'my_lab': SyntaxError", "my_lab.py, line 2")


def test_a_plugin_that_raises_when_imported_is_one_line(user):
    user.write("my_lab.py", "LICENSE = None\nraise RuntimeError('no licence server')\n")
    r = user.ablate("sweep", DEFAULT, *SMALL, "--set", "plugins=[my_lab]")
    _refused(user, r, "RuntimeError: no licence server", "my_lab.py, line 2")


@pytest.mark.readme("ablate sweep", "ablate run", "ablate report", "ablate confirm")
@pytest.mark.parametrize("command", ["sweep", "run", "report", "confirm"])
def test_a_yaml_error_names_the_file_and_the_place(user, command):
    bad = user.write("mine.yaml", "name: mine\ndata: {name: digits\nmodel: pspnet\n")
    r = user.ablate(command, bad)
    _refused(user, r, "mine.yaml: not valid YAML", "line 3, column 6")
    assert "<unicode string>" not in r.stderr


def test_a_misspelled_key_in_a_users_file_names_the_file_and_the_key(user):
    text = DEFAULT.read_text().replace("epochs: 16", "epoch: 16")
    r = user.ablate("sweep", user.write("mine.yaml", text))
    _refused(user, r, "mine.yaml", "train.epoch: unknown key (did you mean 'epochs'?)")
