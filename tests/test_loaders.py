"""The loaders for a user's own data, on small fixtures written here."""

from pathlib import Path

import numpy as np
import pytest
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


def test_voc_folder_reads_images_and_palette_masks(tmp_path):
    masks = write_voc(tmp_path / "voc")
    data = DATASETS.get("voc_folder")(root=str(tmp_path / "voc"), size=16)
    assert data.train.x.shape == (3, 3, 16, 16) and data.val.x.shape == (2, 3, 16, 16)
    assert data.task == "segmentation" and data.num_classes == 21 and data.ignore_index == 255
    assert data.class_names[1] == "aeroplane"
    m = data.train.targets["mask"][1]
    # Nearest-neighbour resize keeps exactly the label values of the PNG.
    assert set(m.unique().tolist()) == set(np.unique(masks["2007_000001"]).tolist()) == {0, 2, 255}
    assert (m[0] == 255).all()
    assert data.train.x.mean().abs() < 1.5  # ImageNet-normalised


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
        DATASETS.get("voc_folder")(root=str(tmp_path / "voc"), size=8)
    write_voc(tmp_path / "voc2", n_train=1, n_val=1)
    with pytest.raises(ValueError, match="outside 0..0"):
        DATASETS.get("voc_folder")(root=str(tmp_path / "voc2"), size=8, num_classes=1)


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
    data = DATASETS.get("multilabel_csv")(root=str(tmp_path / "ml"), size=8)
    assert data.class_names == ["bird", "cat", "dog"] and data.task == "multilabel"
    assert data.train.targets["labels"].tolist() == [[0, 1, 1], [0, 0, 1], [0, 0, 0]]
    assert data.val.targets["labels"].tolist() == [[1, 1, 0], [0, 0, 1]]
    assert data.train.x.shape == (3, 3, 8, 8)


def test_multilabel_csv_errors_name_the_problem(tmp_path):
    write_csv(tmp_path / "ml")
    (tmp_path / "ml/val.csv").write_text("path,labels\nimg/3.png,cat\n")
    with pytest.raises(ValueError, match="missing: image"):
        DATASETS.get("multilabel_csv")(root=str(tmp_path / "ml"))
    (tmp_path / "ml/val.csv").write_text("image,labels\nimg/9.png,cat\n")
    with pytest.raises(ValueError, match=r"missing image file .*9\.png"):
        DATASETS.get("multilabel_csv")(root=str(tmp_path / "ml"), size=8)
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


def test_a_voc_folder_trains_end_to_end(tmp_path, tiny_raw):
    from ablate.train import fit

    write_voc(tmp_path / "voc", n_train=4, n_val=2)
    tiny_raw["data"] = {
        "name": "voc_folder",
        "params": {"root": str(tmp_path / "voc"), "size": 16},
    }
    tiny_raw["train"]["epochs"] = 1
    spec = S.validate(tiny_raw, check_search=False)
    result = fit(spec, seed=0, progress=False)
    assert 0 <= result.metrics["val/miou"] <= 1
