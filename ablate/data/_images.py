"""Opening a user's image files, with errors that name the file."""

from __future__ import annotations

import os
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


def verify_images(paths: list[Path], what: str = "image") -> list[tuple[int, int]]:
    """Every file is there, opens as an image and is complete (a JPEG ends with its end-of-image
    marker, a PNG with its IEND chunk: a copy cut short fails here, not in every run that
    reads it). Headers and tails only, read in parallel threads. Returns each (width, height).

    Raises:
        ValueError: naming the first bad file and how many more there are.
    """
    from concurrent.futures import ThreadPoolExecutor

    workers = min(32, 4 * (os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(_inspect, paths))
    bad = [(p, why) for p, (why, _) in zip(paths, results, strict=True) if why]
    if bad:
        more = f" (and {len(bad) - 1} more bad {what} file(s))" if len(bad) > 1 else ""
        raise ValueError(f"cannot read {what} {str(bad[0][0])!r}: {bad[0][1]}{more}")
    return [size for _, size in results]


TAIL = 1024  # where a file's end marker must be (some writers append a few bytes after it)


def _inspect(path: Path) -> tuple[str | None, tuple[int, int] | None]:
    try:
        with Image.open(path) as img:
            size, fmt = img.size, img.format
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - TAIL))
            tail = f.read()
    except FileNotFoundError:
        return "the file is missing", None
    except (UnidentifiedImageError, OSError) as exc:
        return f"{exc}", None
    if fmt == "JPEG" and b"\xff\xd9" not in tail:
        return "the JPEG is truncated (no end-of-image marker)", None
    if fmt == "PNG" and b"IEND" not in tail:
        return "the PNG is truncated (no IEND chunk)", None
    return None, size
