"""The loaders for a user's own data, on small fixtures written here."""

from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from PIL import Image

from ablate import spec as S
from ablate.errors import ConfigError
from ablate.registry import DATASETS


def write_voc(root: Path, n_train=3, n_val=2, size=(20, 16)) -> dict:
    """A VOC-layout folder: JPEGs, palette PNG masks (with a void border), split lists."""
    (root / "JPEGImages").mkdir(parents=True)
    (root / "SegmentationClass").mkdir()
    (root / "ImageSets" / "Segmentation").mkdir(parents=True)
    rng = np.random.default_rng(0)
    masks = {}
    ids = [f"2007_{i:06d}" for i in range(n_train + n_val)]
    for k, i in enumerate(ids):
        w, h = size
        Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8)).save(
            root / "JPEGImages" / f"{i}.jpg"
        )
        mask = np.zeros((h, w), dtype=np.uint8)
        mask[4:12, 5:15] = 1 + k % 20
        mask[0, :] = 255  # void
        png = Image.fromarray(mask, mode="P")
        png.putpalette([v for c in range(256) for v in (c, 255 - c, (7 * c) % 256)])
        png.save(root / "SegmentationClass" / f"{i}.png")
        masks[i] = mask
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(ids[:n_train]) + "\n")
    (root / "ImageSets/Segmentation/val.txt").write_text("\n".join(ids[n_train:]) + "\n")
    return masks


def voc(tmp_path, **params):
    return DATASETS.get("voc_folder")(root=str(tmp_path / "voc"), **params)


def test_voc_validation_images_keep_their_resolution_and_masks_their_values(tmp_path):
    masks = write_voc(tmp_path / "voc")
    data = voc(tmp_path, workers=0)
    assert data.task == "segmentation" and data.num_classes == 21 and data.ignore_index == 255
    assert data.class_names[1] == "aeroplane" and len(data.train) == 3 and len(data.val) == 2
    batches = list(data.val.batches(8))
    assert [x.shape for x, _ in batches] == [(1, 3, 16, 20)] * 2  # one image per batch, as is
    for (x, y), name in zip(batches, ["2007_000003", "2007_000004"], strict=True):
        assert torch.equal(y["mask"][0], torch.from_numpy(masks[name].astype(np.int64)))
        assert x.mean().abs() < 1.5  # ImageNet-normalised


def test_voc_training_crops_are_augmented_by_seed_and_epoch_whichever_worker_reads_them(tmp_path):
    masks = write_voc(tmp_path / "voc", n_train=4)
    data = voc(tmp_path, crop=24, workers=0)
    two = voc(tmp_path, crop=24, workers=2)

    def epoch(d, seed, e):
        return [(x, y["mask"]) for x, y in d.train.batches(2, shuffle=True, seed=seed, epoch=e)]

    a, again, other = epoch(data, 0, 1), epoch(two, 0, 1), epoch(data, 0, 2)
    assert [x.shape for x, _ in a] == [(2, 3, 24, 24)] * 2  # crops padded up from 16 x 20
    for (x, m), (x2, m2) in zip(a, again, strict=True):
        assert torch.equal(x, x2) and torch.equal(m, m2)
    assert any(not torch.equal(x, x2) for (x, _), (x2, _) in zip(a, other, strict=True))
    labels = set().union(*(np.unique(v).tolist() for v in masks.values()))
    seen = set(torch.cat([m.reshape(-1) for _, m in a]).unique().tolist())
    assert seen <= labels | {255}  # nearest for masks, the ignore label where padded or rotated
    two.train.close()


def test_the_baseline_of_a_streamed_folder_comes_from_class_counts(tmp_path):
    from ablate import metrics as M
    from ablate.tasks import TASKS

    masks = write_voc(tmp_path / "voc", n_train=3, n_val=2)
    data = voc(tmp_path, workers=0)
    train = np.concatenate([masks[f"2007_{i:06d}"].reshape(-1) for i in range(3)])
    counts = np.bincount(train[train != 255], minlength=21)[:21]
    assert data.train.class_counts("mask", 21, 255).tolist() == counts.tolist()
    # by hand: predict the training majority class everywhere on the validation masks
    majority = int(counts.argmax())
    val = torch.from_numpy(np.stack([masks[f"2007_{i:06d}"] for i in (3, 4)]).astype(np.int64))
    conf = M.confusion_matrix(torch.full_like(val, majority), val, 21, 255)
    assert TASKS["segmentation"].baseline(data, "mask") == {
        "miou": M.miou(conf),
        "pixel_acc": M.pixel_acc(conf),
    }


def test_a_bad_mask_value_names_its_file_when_read(tmp_path):
    write_voc(tmp_path / "voc", n_train=1, n_val=1)
    with pytest.raises(ValueError, match=r"2007_000000\.png.* has value 1, outside 0\.\.0"):
        voc(tmp_path, num_classes=1, workers=0).train.first_batch(1)


def test_voc_folder_rejects_a_broken_root_with_a_clear_message(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        DATASETS.get("voc_folder")(root=str(tmp_path / "nope"))
    write_voc(tmp_path / "voc")
    (tmp_path / "voc/ImageSets/Segmentation/val.txt").unlink()
    with pytest.raises(ValueError, match=r"missing split file .*val\.txt"):
        DATASETS.get("voc_folder")(root=str(tmp_path / "voc"))


def test_voc_masks_must_be_class_indices(tmp_path):
    write_voc(tmp_path / "voc", n_train=1, n_val=1)
    Image.new("RGB", (20, 16)).save(tmp_path / "voc/SegmentationClass/2007_000000.png")
    with pytest.raises(ValueError, match="palette"):
        voc(tmp_path, workers=0).train.first_batch(1)


def write_csv(root: Path) -> None:
    (root / "img").mkdir(parents=True)
    rng = np.random.default_rng(1)
    for i in range(5):
        Image.fromarray(rng.integers(0, 255, (12, 10, 3), dtype=np.uint8)).save(
            root / "img" / f"{i}.png"
        )
    (root / "train.csv").write_text("image,labels\nimg/0.png,cat dog\nimg/1.png,dog\nimg/2.png,\n")
    (root / "val.csv").write_text("image,labels\nimg/3.png,bird cat\nimg/4.png,dog\n")


def test_multilabel_csv_reads_images_and_multi_hot_labels(tmp_path):
    write_csv(tmp_path / "ml")
    data = DATASETS.get("multilabel_csv")(root=str(tmp_path / "ml"), size=8, workers=0)
    assert data.class_names == ["bird", "cat", "dog"] and data.task == "multilabel"
    # the labels come from the CSV files (for DeepMAR's ratios and the baseline)
    assert data.train.labels("labels").tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    assert data.val.labels("labels").tolist() == [[1, 1, 0], [0, 0, 1]]
    ((x, y),) = list(data.train.batches(4))  # the images, resized and read in order
    assert x.shape == (3, 3, 8, 8) and y["labels"].tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]


def test_multilabel_csv_errors_name_the_problem(tmp_path):
    write_csv(tmp_path / "ml")
    (tmp_path / "ml/val.csv").write_text("path,labels\nimg/3.png,cat\n")
    with pytest.raises(ValueError, match="missing: image"):
        DATASETS.get("multilabel_csv")(root=str(tmp_path / "ml"))
    (tmp_path / "ml/val.csv").write_text("image,labels\nimg/9.png,cat\n")
    with pytest.raises(ValueError, match=r"val.csv line 2: missing image file .*9\.png"):
        DATASETS.get("multilabel_csv").check(root=str(tmp_path / "ml"))  # at load, once
    (tmp_path / "ml/val.csv").write_text("image,labels\nimg/3.png,cow\n")
    with pytest.raises(ValueError, match="'cow'"):
        DATASETS.get("multilabel_csv")(root=str(tmp_path / "ml"), classes=["cat", "dog"])


def test_a_broken_root_fails_when_the_experiment_is_loaded(tmp_path, tiny_raw):
    write_voc(tmp_path / "voc")
    (tmp_path / "voc/SegmentationClass").rename(tmp_path / "voc/Masks")
    tiny_raw["data"] = {"name": "voc_folder", "params": {"root": str(tmp_path / "voc")}}
    path = tmp_path / "e.yaml"
    path.write_text(yaml.safe_dump(tiny_raw))
    with pytest.raises(ConfigError) as err:
        S.load(path)
    assert err.value.path == "data.params.root" and "SegmentationClass" in err.value.message


def test_a_voc_folder_trains_with_the_pspnet_preset_through_the_data_loader(tmp_path, tiny_raw):
    from ablate.tasks import TASKS
    from ablate.train import fit

    write_voc(tmp_path / "voc", n_train=6, n_val=2, size=(40, 30))
    tiny_raw["data"] = {
        "name": "voc_folder",
        "params": {"root": str(tmp_path / "voc"), "crop": 24, "augment": "pspnet", "workers": 2},
    }
    tiny_raw["train"] |= {"epochs": 2, "eval_crop": 24, "batch_size": 3}
    spec = S.validate(tiny_raw, check_search=False)
    rows = []

    class Rows(__import__("ablate.reporting", fromlist=["Reporter"]).Reporter):
        def metrics(self, values, step, timestamp_ms=None):
            rows.append(dict(values))

    result = fit(spec, seed=0, reporter=Rows(), progress=False)
    assert len(result.history) == 2 and 0 <= result.metrics["val/miou"] <= 1
    assert result.history[0]["train/main"] != result.history[1]["train/main"]
    data = DATASETS.get("voc_folder")(root=str(tmp_path / "voc"), workers=0)
    base = TASKS["segmentation"].baseline(data, "mask")
    assert rows[0] == {"baseline/miou": base["miou"], "baseline/pixel_acc": base["pixel_acc"]}


@pytest.mark.parametrize("name", ["voc_folder", "multilabel_csv"])
def test_a_streamed_split_reaches_its_loader_workers_pickled(tmp_path, name):
    """A sweep's workers are spawned processes and their loader workers start from a fork
    server: the dataset and its transforms travel pickled (pytest's own process forks, so a
    loader test alone would never notice a closure)."""
    import pickle

    write_voc(tmp_path / "data") if name == "voc_folder" else write_csv(tmp_path / "data")
    data = DATASETS.get(name)(root=str(tmp_path / "data"), workers=0)
    for split in (data.train, data.val):
        copy = pickle.loads(pickle.dumps(split.samples))
        x, y = copy[(0, 123)]
        x0, y0 = split.samples[(0, 123)]
        assert torch.equal(x, x0) and all(torch.equal(y[k], y0[k]) for k in y0)


def test_the_number_of_loader_workers_changes_no_number_of_a_training(tmp_path, tiny_raw):
    """Loader workers are a runtime setting (not in the configuration hash): a run with 0 and
    one with 2 must train the same model. The model's dropout draws from the global stream,
    which a loader must not touch (it did, from the second epoch of persistent workers)."""
    from ablate.train import fit

    write_voc(tmp_path / "voc", n_train=6, n_val=2, size=(40, 30))
    rows = {}
    for workers in (0, 2):
        tiny_raw["data"] = {"name": "voc_folder",
                            "params": {"root": str(tmp_path / "voc"), "crop": 24,
                                       "workers": workers}}  # fmt: skip
        tiny_raw["train"] |= {"epochs": 3, "batch_size": 3}
        spec = S.validate(tiny_raw, check_search=False)
        rows[workers] = fit(spec, seed=0, progress=False).history
    keys = ["train/loss", "train/main", "train/aux", "val/loss", "val/miou"]
    assert [[r[k] for k in keys] for r in rows[0]] == [[r[k] for k in keys] for r in rows[2]]


def test_the_default_loader_workers_follow_the_device_and_the_cpus_of_the_process(monkeypatch):
    from ablate.data._base import loader_workers

    assert loader_workers(3, "cpu") == 3  # asked for: as asked
    for cpus, on_cpu, on_gpu in [(1, 0, 1), (2, 0, 2), (4, 0, 4), (16, 4, 8), (64, 8, 8)]:
        monkeypatch.setattr(torch, "get_num_threads", lambda cpus=cpus: cpus)
        assert (loader_workers(None, "cpu"), loader_workers(None, "cuda")) == (on_cpu, on_gpu)
