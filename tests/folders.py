"""Users' data, generated: folders shaped like the ones a lab points ablate at.

- :func:`voc_digits`: a Pascal-VOC-layout folder (JPEGs, palette-PNG masks, split files) of
  scenes of real handwritten digits (scikit-learn's bundled set, through ``digit_scenes``), so a
  model trained on it learns something.
- :func:`csv_digits`: the same scenes as a multi-label folder (``train.csv``/``val.csv`` with
  ``image,labels``, labels such as ``d3 d7``).
- :func:`voc_ellipses`: VOC-sized (500 x 375) JPEGs of coloured ellipses with their masks, for
  measuring the streamed path at the size of real photographs (bench/stream.py, the sweep
  benchmark).
- :func:`truncate`: cut a file in half, as an interrupted copy leaves it.

Used by the tests (``from folders import ...``) and by ``bench/`` (which puts ``tests/`` on
the path).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PALETTE = [v for c in range(256) for v in (c, (37 * c) % 256, (91 * c) % 256)]


def _scenes(n_train: int, n_val: int, size: int, seed: int):
    from ablate.data.digit_scenes import digit_scenes

    data = digit_scenes(size=size, train_scenes=n_train, val_scenes=n_val, min_scale=size // 4,
                        max_scale=size // 2, max_digits=3, seed=seed)  # fmt: skip
    return data.train, data.val


def _rgb(x) -> Image.Image:
    return Image.fromarray((x.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8))


def voc_digits(root: Path, n_train: int = 48, n_val: int = 16, size: int = 48,
               seed: int = 0) -> Path:  # fmt: skip
    """A VOC folder of digit scenes: 11 classes (background and the digits 0-9)."""
    train, val = _scenes(n_train, n_val, size, seed)
    for sub in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    for name, split in (("train", train), ("val", val)):
        ids = []
        for i in range(len(split)):
            sample = f"{name}_{i:05d}"
            _rgb(split.x[i]).save(root / "JPEGImages" / f"{sample}.jpg", quality=95)
            mask = Image.fromarray(split.targets["mask"][i].numpy().astype(np.uint8), mode="P")
            mask.putpalette(PALETTE)
            mask.save(root / "SegmentationClass" / f"{sample}.png")
            ids.append(sample)
        (root / "ImageSets/Segmentation" / f"{name}.txt").write_text("\n".join(ids) + "\n")
    return root


def csv_digits(root: Path, n_train: int = 48, n_val: int = 16, size: int = 48,
               seed: int = 0) -> Path:  # fmt: skip
    """A multi-label CSV folder of digit scenes: labels d0..d9 (which digits appear)."""
    train, val = _scenes(n_train, n_val, size, seed)
    (root / "images").mkdir(parents=True, exist_ok=True)
    for name, split in (("train", train), ("val", val)):
        rows = ["image,labels"]
        for i in range(len(split)):
            path = f"images/{name}_{i:05d}.png"
            _rgb(split.x[i]).save(root / path)
            labels = [f"d{d}" for d in range(10) if split.targets["labels"][i, d] > 0]
            rows.append(f"{path},{' '.join(labels)}")
        (root / f"{name}.csv").write_text("\n".join(rows) + "\n")
    return root


def voc_ellipses(root: Path, n: int, seed: int = 0) -> Path:
    """VOC layout, ``n`` training and ``n // 10`` validation 500 x 375 images with 1-3
    coloured ellipses each (classes 1-20, a void border of 255 around each)."""
    if (root / "ImageSets/Segmentation/train.txt").exists():
        return root
    rng = np.random.default_rng(seed)
    (root / "JPEGImages").mkdir(parents=True, exist_ok=True)
    (root / "SegmentationClass").mkdir(exist_ok=True)
    (root / "ImageSets/Segmentation").mkdir(parents=True, exist_ok=True)
    ids = [f"img_{i:07d}" for i in range(n + max(1, n // 10))]
    for i in ids:
        w, h = 500, 375
        base = rng.integers(0, 255, 3)
        img = Image.new("RGB", (w, h), tuple(int(v) for v in base))
        mask = Image.new("P", (w, h), 0)
        mask.putpalette(PALETTE)
        draw, mdraw = ImageDraw.Draw(img), ImageDraw.Draw(mask)
        for _ in range(int(rng.integers(1, 4))):
            x0, y0 = int(rng.integers(0, w - 60)), int(rng.integers(0, h - 60))
            box = [x0, y0, x0 + int(rng.integers(40, 200)), y0 + int(rng.integers(40, 200))]
            cls = int(rng.integers(1, 21))
            draw.ellipse(box, fill=tuple(int(v) for v in rng.integers(0, 255, 3)))
            mdraw.ellipse(box, fill=cls, outline=255, width=3)
        img.save(root / "JPEGImages" / f"{i}.jpg", quality=90)
        mask.save(root / "SegmentationClass" / f"{i}.png")
    (root / "ImageSets/Segmentation/train.txt").write_text("\n".join(ids[:n]) + "\n")
    (root / "ImageSets/Segmentation/val.txt").write_text("\n".join(ids[n:]) + "\n")
    return root


def truncate(path: Path) -> Path:
    """Keep the first half of the file's bytes."""
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path
