"""Reading a user's image files into the tensors of the dataset contract."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def need_dir(path: Path, hint: str = "") -> Path:
    if not path.is_dir():
        what = "is not a folder" if path.exists() else "does not exist"
        raise ValueError(f"{str(path)!r} {what}{hint}")
    return path


def open_image(path: Path) -> Image.Image:
    if not path.is_file():
        raise ValueError(f"missing image file {str(path)!r}")
    try:
        img = Image.open(path)
        img.load()
    except (UnidentifiedImageError, OSError) as exc:
        raise ValueError(f"cannot read image {str(path)!r}: {exc}") from None
    return img


def load_rgb(paths: list[Path], size: int, normalize: bool) -> torch.Tensor:
    """[N, 3, size, size] float images, bilinearly resized; ImageNet-normalised if asked."""
    out = torch.empty(len(paths), 3, size, size)
    for i, p in enumerate(paths):
        img = open_image(p).convert("RGB").resize((size, size), Image.BILINEAR)
        out[i] = torch.from_numpy(np.asarray(img, dtype=np.float32) / 255.0).permute(2, 0, 1)
    if normalize:
        mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
        std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
        out = (out - mean) / std
    return out


def load_index_masks(paths: list[Path], size: int) -> torch.Tensor:
    """[N, size, size] class indices from palette ("P") or greyscale ("L") PNGs, resized by
    nearest neighbour so that no label is invented."""
    out = torch.empty(len(paths), size, size, dtype=torch.long)
    for i, p in enumerate(paths):
        img = open_image(p)
        if img.mode not in ("P", "L"):
            raise ValueError(
                f"mask {str(p)!r} is a {img.mode} image; expected a palette (P) or greyscale (L) "
                "PNG whose pixel values are class indices"
            )
        img = img.resize((size, size), Image.NEAREST)
        out[i] = torch.from_numpy(np.asarray(img, dtype=np.int64))
    return out
