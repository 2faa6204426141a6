"""A multi-label image folder described by CSV files on the user's disk::

root/train.csv   header "image,labels"; image = path relative to root (or absolute),
root/val.csv     labels = the image's label names separated by label_sep (may be empty)
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Literal

import torch

from ablate.data import transforms as T
from ablate.data._base import Dataset, StreamSplit, loader_workers
from ablate.data._folders import ImageFiles
from ablate.data._images import need_dir, verify_images
from ablate.registry import DATASETS


def _read(path: Path, sep: str) -> list[tuple[str, list[str]]]:
    if not path.is_file():
        raise ValueError(f"missing CSV file {str(path)!r}")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = {"image", "labels"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(
                f"{str(path)!r} needs the columns image,labels; "
                f"missing: {', '.join(sorted(missing))}"
            )
        rows = []
        for line, row in enumerate(reader, start=2):
            if not (row["image"] or "").strip():
                raise ValueError(f"{str(path)!r} line {line}: empty image path")
            labels = [x.strip() for x in (row["labels"] or "").split(sep) if x.strip()]
            rows.append((row["image"].strip(), labels))
    if not rows:
        raise ValueError(f"{str(path)!r} has no rows")
    return rows


def check(
    root: str,
    train_csv: str = "train.csv",
    val_csv: str = "val.csv",
    label_sep: str = " ",
    classes: list[str] | None = None,
    **_,
) -> None:
    """The folder and both CSV files are there and well-formed, every image they list exists,
    and every label is one of ``classes`` (when given)."""
    base = need_dir(Path(root).expanduser())
    known = set(classes) if classes else None
    for name in (train_csv, val_csv):
        for line, (image, labels) in enumerate(_read(base / name, label_sep), start=2):
            if not (base / image).is_file():
                raise ValueError(f"{name} line {line}: missing image file {str(base / image)!r}")
            unknown = [lab for lab in labels if known is not None and lab not in known]
            if unknown:
                raise ValueError(
                    f"{name} line {line}: label {unknown[0]!r} of {image!r} is not in classes "
                    f"({', '.join(classes or [])})"
                )


def verify(root: str, train_csv: str = "train.csv", val_csv: str = "val.csv",
           label_sep: str = " ", **_) -> str:  # fmt: skip
    """Every image both CSV files list is there and complete; says what was checked."""
    base = Path(root).expanduser()
    paths = [base / image for name in (train_csv, val_csv)
             for image, _ in _read(base / name, label_sep)]  # fmt: skip
    verify_images(paths, "image")
    return f"{len(paths)} images"


@DATASETS.register("multilabel_csv")
def multilabel_csv(
    root: str,
    size: int = 224,
    augment: Literal["attributes", "classify", "none"] = "attributes",
    train_csv: str = "train.csv",
    val_csv: str = "val.csv",
    label_sep: str = " ",
    classes: list[str] | None = None,
    normalize: bool = True,
    workers: int | None = None,
    device: str = "cpu",
) -> Dataset:
    """Streamed from disk: images [3, size, size] (training ones augmented), target ``labels``
    [K] multi-hot; task ``multilabel``. The labels come from the CSV files alone, so the label
    ratios (DeepMAR) and the baseline need no pass over the images.

    Args:
        root: the folder holding the CSV files (image paths are relative to it).
        size: side images are resized to.
        augment: ``attributes`` (resize, pad 10 and crop back, flip), ``classify`` (random
            resized crop, flip) or ``none``.
        train_csv: training CSV's file name under root.
        val_csv: validation CSV's file name under root.
        label_sep: separator between label names in the labels column.
        classes: the label names in order; default: every name in either CSV, sorted.
        normalize: subtract ImageNet's mean and divide by its std (for pretrained backbones).
        workers: loader processes per split (0: read in the training process); default:
            chosen for the device and the CPUs this process has (``loader_workers``).
    """
    base = need_dir(Path(root).expanduser())  # the CSVs are validated as they are read, once
    workers = loader_workers(workers, device)
    rows = {name: _read(base / name, label_sep) for name in (train_csv, val_csv)}
    names = classes or sorted({lab for r in rows.values() for _, labs in r for lab in labs})
    if not names:
        raise ValueError("no labels in either CSV file")
    index = {n: i for i, n in enumerate(names)}

    def split(name: str, train: bool) -> StreamSplit:
        paths, target = [], torch.zeros(len(rows[name]), len(names))
        for i, (image, labels) in enumerate(rows[name]):
            paths.append(base / image)
            for lab in labels:
                if lab not in index:
                    raise ValueError(f"{name}: label {lab!r} of {image!r} is not in classes")
                target[i, index[lab]] = 1.0
        files = ImageFiles(paths, {"labels": target},
                           T.classification(augment, size, normalize, train))  # fmt: skip
        return StreamSplit(files, ["labels"], labels={"labels": target}, workers=workers)

    return Dataset(
        train=split(train_csv, True),
        val=split(val_csv, False),
        num_classes=len(names),
        in_channels=3,
        task="multilabel",
        default_target="labels",
        class_names=list(names),
    )


multilabel_csv.check = check
multilabel_csv.verify = verify
