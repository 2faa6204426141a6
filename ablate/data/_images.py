"""Opening a user's image files, with errors that name the file."""

from __future__ import annotations

from pathlib import Path

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
