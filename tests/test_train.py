import math

import pytest

from ablate import spec as S
from ablate.registry import COMBINERS
from ablate.reporting import Reporter
from ablate.train import fit


class Recorder(Reporter):
    def __init__(self):
        self.rows, self.series_calls = [], []

    def metrics(self, values, step, timestamp_ms=None):
        self.rows.append((step, dict(values)))

    def series(self, name, values, first_step, timestamp_ms=None):
        self.series_calls.append((name, list(values), first_step))


def test_same_seed_same_cpu_gives_identical_metrics(tiny_raw):
    spec = S.validate(tiny_raw)
    a, b = fit(spec, 0, progress=False), fit(spec, 0, progress=False)
    strip = lambda h: [{k: v for k, v in r.items() if not k.startswith("time/")} for r in h]  # noqa: E731
    assert strip(a.history) == strip(b.history)
    c = fit(spec, 1, progress=False)
    assert strip(c.history) != strip(a.history)


def test_the_reporter_gets_per_epoch_values_with_step_equal_to_epoch(tiny_raw):
    spec = S.validate(tiny_raw)
    rec = Recorder()
    result = fit(spec, 0, rec, progress=False)
    epochs = [step for step, row in rec.rows if "val/miou" in row]
    assert epochs == [0, 1]
    row = [r for _, r in rec.rows if "val/miou" in r][-1]  # the last epoch
    for key in (
        "train/loss",
        "train/main",
        "train/aux",
        "val/loss",
        "val/miou",
        "val/pixel_acc",
        "weight/main",
        "weight/aux",
        "lr",
    ):
        assert key in row
    assert row["weight/aux"] == 0.4 and row["weight/main"] == 1.0
    assert result.objective == row["val/miou"]  # reduce: last
    steps = [
        s for name, values, first in rec.series_calls for s in range(first, first + len(values))
    ]
    assert steps == list(range(2 * 4))  # 32 scenes / batch 8 = 4 steps per epoch, none lost


def test_the_total_loss_is_the_weighted_sum_of_the_terms(tiny_raw):
    tiny_raw["train"]["epochs"] = 1
    spec = S.validate(tiny_raw)
    row = fit(spec, 0, progress=False).history[0]
    # epoch means: the total's mean equals main + 0.4 * aux of the term means
    assert abs(row["train/loss"] - (row["train/main"] + 0.4 * row["train/aux"])) < 1e-5


@pytest.mark.parametrize("method", COMBINERS.names())
def test_every_combiner_trains_pspnet_without_nan_and_logs_its_weights(tiny_raw, method):
    tiny_raw["combiner"] = {"method": method}
    tiny_raw["search"]["params"] = {}  # the fixture sweeps fixed's weights
    tiny_raw["train"]["epochs"] = 3  # DWA leaves its equal start in the third epoch
    result = fit(S.validate(tiny_raw), 0, progress=False)
    for row in result.history:
        assert all(math.isfinite(v) for v in row.values())
        assert {"weight/main", "weight/aux"} <= set(row)


def test_kpis_are_measured_for_a_method_that_reads_them_and_only_then(tiny_raw):
    tiny_raw["train"]["epochs"] = 1
    row = fit(S.validate(tiny_raw), 0, progress=False).history[0]
    assert not any(k.startswith("kpi/") for k in row)  # fixed never reads ctx.kpis
    tiny_raw["combiner"] = {"method": "dtp"}
    tiny_raw["search"]["params"] = {}
    row = fit(S.validate(tiny_raw), 0, progress=False).history[0]
    assert 0.0 <= row["kpi/main"] <= 1.0 and 0.0 <= row["kpi/aux"] <= 1.0


GAT_TINY = {
    "name": "gat_tiny",
    "data": {
        "name": "digit_scenes",
        "params": {"size": 16, "train_scenes": 32, "val_scenes": 16, "min_scale": 8,
                   "max_scale": 12, "max_digits": 2, "task": "multilabel"},
    },
    "model": {
        "name": "group_cls_gat",
        "params": {"backbone": "tiny", "groups": 2, "group_channels": 16, "class_channels": 8},
    },
    "terms": [
        {"name": "out", "output": "out", "loss": "bce"},
        {"name": "supplement", "output": "supplement", "loss": "deepmar"},
        {"name": "center", "output": "features", "loss": "center"},
    ],
    "combiner": {"method": "fixed", "params": {"weights": {"supplement": 0.1, "center": 1.0}}},
    "train": {"epochs": 3, "batch_size": 8, "optimizer": "adamw", "lr": 0.01, "threads": 1},
    "objective": {"metric": "val/map"},
    "search": {"seeds": [0], "params": {}},
}  # fmt: skip


def test_a_multi_label_classifier_trains_with_supplement_and_center_terms(monkeypatch):
    import copy

    from ablate.losses.center import CenterLoss

    seen = []  # (the run's center loss, its centers as first drawn)
    materialize = CenterLoss.initialize_parameters

    def record(self, features, target):
        materialize(self, features, target)
        seen.append((self, self.centers.detach().clone()))

    monkeypatch.setattr(CenterLoss, "initialize_parameters", record)
    raw = copy.deepcopy(GAT_TINY)
    result = fit(S.validate(raw), 0, progress=False)
    last = result.metrics
    assert 0 <= last["val/map"] <= 1 and 0 <= last["val/f1_micro"] <= 1
    assert result.objective == last["val/map"]
    # The centers are parameters the optimizer trains. AdamW's first step alone moves every
    # entry that has a gradient by lr, whatever the CPU's kernels; frozen centers move by 0.
    ((loss, start),) = seen
    moved = (loss.centers.detach() - start).pow(2).mean().sqrt().item()
    assert moved > raw["train"]["lr"]
    centers = [row["train/center"] for row in result.history]
    assert centers[-1] < centers[0]


def test_the_multi_label_baseline_is_the_training_prior():
    import copy

    rec = Recorder()
    fit(S.validate(copy.deepcopy(GAT_TINY) | {"train": GAT_TINY["train"] | {"epochs": 1}}), 0,
        rec, progress=False)  # fmt: skip
    base = rec.rows[0][1]
    assert set(base) == {"baseline/map", "baseline/f1_micro", "baseline/f1_macro"}
    assert 0 < base["baseline/map"] < 1


def test_dtp_reads_a_micro_f1_kpi_for_multi_label_heads():
    import copy

    raw = copy.deepcopy(GAT_TINY)
    raw["terms"] = raw["terms"][:2]
    raw["combiner"] = {"method": "dtp"}
    raw["train"]["epochs"] = 1
    row = fit(S.validate(raw), 0, progress=False).history[0]
    assert 0.0 <= row["kpi/out"] <= 1.0 and 0.0 <= row["kpi/supplement"] <= 1.0


def test_a_term_naming_a_target_the_dataset_lacks_is_a_clear_error(tiny_raw):
    from ablate.errors import AblateError

    tiny_raw["terms"][1]["target"] = "segmentation"
    with pytest.raises(
        AblateError, match="has no target 'segmentation'; its targets: mask, labels"
    ):
        fit(S.validate(tiny_raw), 0, progress=False)


@pytest.mark.parametrize(
    "path",
    sorted((__import__("pathlib").Path(__file__).parent.parent / "experiments").glob("*.yaml")),
    ids=lambda p: p.stem,
)
def test_every_shipped_experiment_validates_and_its_base_config_trains(path, monkeypatch):
    from ablate.train import run

    monkeypatch.chdir(path.parent.parent)  # experiments/custom_loop.py imports from the root
    spec = S.load(path)  # validates every value its search can take
    smaller = ["train.epochs=1", "train.threads=1", "search.pruner=none"]
    if spec.data.name == "digit_scenes":
        smaller += ["data.params.train_scenes=16", "data.params.val_scenes=8"]
    reduced = S.load(path, smaller, check_search=False)
    result = run(reduced, 0, progress=False)
    assert math.isfinite(result.objective)
    assert spec.objective.metric in result.metrics
