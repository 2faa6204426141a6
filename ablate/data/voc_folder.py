"""A Pascal-VOC-style segmentation folder on the user's disk (the layout of
``torchvision.datasets.VOCSegmentation``; nothing is downloaded)::

    root/JPEGImages/<id>.jpg
    root/SegmentationClass/<id>.png       palette PNG: pixel value = class index, 255 = void
    root/ImageSets/Segmentation/train.txt one <id> per line (and val.txt)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from ablate.data import transforms as T
from ablate.data._base import Dataset, StreamSplit, loader_workers
from ablate.data._folders import SegmentationFiles
from ablate.data._images import need_dir, verify_images
from ablate.registry import DATASETS

VOC_CLASSES = [
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair",
    "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa",
    "train", "tvmonitor",
]  # fmt: skip


LAYOUT = " (expected the VOC layout: JPEGImages/, SegmentationClass/, ImageSets/Segmentation/)"


def _ids(root: Path, split: str) -> list[str]:
    path = root / "ImageSets" / "Segmentation" / f"{split}.txt"
    if not path.is_file():
        raise ValueError(f"missing split file {str(path)!r}")
    ids = [line.strip() for line in path.read_text().splitlines() if line.strip()]
    if not ids:
        raise ValueError(f"split file {str(path)!r} lists no images")
    return ids


def check(root: str, train_split: str = "train", val_split: str = "val", **_) -> None:
    """The layout is there (run before any training starts)."""
    base = need_dir(Path(root).expanduser())
    for sub in ("JPEGImages", "SegmentationClass"):
        need_dir(base / sub, LAYOUT)
    for split in (train_split, val_split):
        _ids(base, split)


def verify(root: str, train_split: str = "train", val_split: str = "val",
           max_images: int | None = None, **_) -> str:  # fmt: skip
    """Every image and mask of both splits is there and complete, and each mask has its
    image's size; says what was checked."""
    base = Path(root).expanduser()
    ids = [i for split in (train_split, val_split) for i in _ids(base, split)[:max_images]]
    images = verify_images([base / "JPEGImages" / f"{i}.jpg" for i in ids], "image")
    masks = verify_images([base / "SegmentationClass" / f"{i}.png" for i in ids], "mask")
    for i, a, b in zip(ids, images, masks, strict=True):
        if a != b:
            raise ValueError(
                f"mask {str(base / 'SegmentationClass' / f'{i}.png')!r} is {b[0]}x{b[1]} but its "
                f"image is {a[0]}x{a[1]}"
            )
    return f"{len(ids)} images and their masks"


@DATASETS.register("voc_folder")
def voc_folder(
    root: str,
    crop: int = 473,
    augment: Literal["pspnet", "none"] = "pspnet",
    train_split: str = "train",
    val_split: str = "val",
    num_classes: int = 21,
    ignore_index: int = 255,
    normalize: bool = True,
    max_images: int | None = None,
    workers: int | None = None,
    device: str = "cpu",
) -> Dataset:
    """Streamed from disk: training images augmented (``augment``) and cropped to ``crop`` x
    ``crop``; validation images at their own resolution (evaluate whole, or by sliding windows
    with ``train.eval_crop``). Target ``mask``: class indices, ``ignore_index`` for void.

    Args:
        root: the VOC-style folder (e.g. ``.../VOCdevkit/VOC2012``).
        crop: side of the training crops (PSPNet: 473).
        augment: ``pspnet`` (random scale 0.5-2, rotation +-10 deg, blur, flip, crop) or
            ``none`` (crop only).
        train_split: name of the training id list under ImageSets/Segmentation/.
        val_split: name of the validation id list.
        num_classes: classes including background (21 for VOC); other mask values must be
            ``ignore_index``.
        ignore_index: the mask value of unlabelled ("void") pixels.
        normalize: subtract ImageNet's mean and divide by its std (for pretrained backbones).
        max_images: read at most this many images of each split (quick runs).
        workers: loader processes per split (0: read in the training process); default:
            chosen for the device and the CPUs this process has (``loader_workers``).
    """
    check(root, train_split, val_split)
    base = Path(root).expanduser()
    workers = loader_workers(workers, device)

    def split(name: str, train: bool) -> StreamSplit:
        ids = _ids(base, name)[:max_images]
        files = SegmentationFiles(
            [base / "JPEGImages" / f"{i}.jpg" for i in ids],
            [base / "SegmentationClass" / f"{i}.png" for i in ids],
            T.segmentation(augment, crop, ignore_index, normalize, train),
            num_classes, ignore_index,
        )  # fmt: skip
        return StreamSplit(files, ["mask"], counts=files.counts, workers=workers,
                           fixed_size=train)  # fmt: skip

    names = (
        VOC_CLASSES if num_classes == len(VOC_CLASSES) else [str(c) for c in range(num_classes)]
    )
    return Dataset(
        train=split(train_split, True),
        val=split(val_split, False),
        num_classes=num_classes,
        in_channels=3,
        task="segmentation",
        default_target="mask",
        ignore_index=ignore_index,
        class_names=names,
    )


voc_folder.check = check
voc_folder.verify = verify
