"""A Pascal-VOC-style segmentation folder on the user's disk (the layout of
``torchvision.datasets.VOCSegmentation``; nothing is downloaded)::

    root/JPEGImages/<id>.jpg
    root/SegmentationClass/<id>.png       palette PNG: pixel value = class index, 255 = void
    root/ImageSets/Segmentation/train.txt one <id> per line (and val.txt)
"""

from __future__ import annotations

from pathlib import Path

from ablate.data._base import Dataset, Split
from ablate.data._images import load_index_masks, load_rgb, need_dir
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


@DATASETS.register("voc_folder")
def voc_folder(
    root: str,
    size: int = 256,
    train_split: str = "train",
    val_split: str = "val",
    num_classes: int = 21,
    ignore_index: int = 255,
    normalize: bool = True,
    max_images: int | None = None,
    device: str = "cpu",
) -> Dataset:
    """Images [N, 3, size, size] (bilinear resize), target ``mask`` [N, size, size] (nearest).

    Args:
        root: the VOC-style folder (e.g. ``.../VOCdevkit/VOC2012``).
        size: side images and masks are resized to (the whole split is held in memory).
        train_split: name of the training id list under ImageSets/Segmentation/.
        val_split: name of the validation id list.
        num_classes: classes including background (21 for VOC); other mask values must be
            ``ignore_index``.
        ignore_index: the mask value of unlabelled ("void") pixels.
        normalize: subtract ImageNet's mean and divide by its std (for pretrained backbones).
        max_images: read at most this many images of each split (quick runs).
    """
    check(root, train_split, val_split)
    base = Path(root).expanduser()

    def split(name: str) -> Split:
        ids = _ids(base, name)[:max_images]
        x = load_rgb([base / "JPEGImages" / f"{i}.jpg" for i in ids], size, normalize)
        mask = load_index_masks([base / "SegmentationClass" / f"{i}.png" for i in ids], size)
        bad = (mask >= num_classes) & (mask != ignore_index)
        if bad.any():
            n = int(bad.flatten(1).any(1).nonzero()[0])
            raise ValueError(
                f"mask of {ids[n]!r} has value {int(mask[n][bad[n]][0])}, outside "
                f"0..{num_classes - 1} and not ignore_index {ignore_index}"
            )
        return Split(x, {"mask": mask})

    names = (
        VOC_CLASSES if num_classes == len(VOC_CLASSES) else [str(c) for c in range(num_classes)]
    )
    return Dataset(
        train=split(train_split),
        val=split(val_split),
        num_classes=num_classes,
        in_channels=3,
        task="segmentation",
        default_target="mask",
        ignore_index=ignore_index,
        class_names=names,
    ).to(device)


voc_folder.check = check
