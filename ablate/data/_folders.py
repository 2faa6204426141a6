"""Map-style datasets over a user's image files, read one sample at a time (for StreamSplit)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torchvision.transforms.v2 import functional as VF

from ablate.data._images import open_image


class SegmentationFiles(torch.utils.data.Dataset):
    """(image, mask) files; ``__getitem__((index, seed))`` -> (x, {"mask": mask})."""

    def __init__(self, images: list[Path], masks: list[Path], transform, num_classes: int,
                 ignore_index: int):  # fmt: skip
        self.images, self.masks, self.transform = images, masks, transform
        self.num_classes, self.ignore_index = num_classes, ignore_index
        self._counts: torch.Tensor | None = None

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item):
        i, seed = item
        image = VF.pil_to_tensor(open_image(self.images[i]).convert("RGB"))
        mask = read_mask(self.masks[i], self.num_classes, self.ignore_index)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            x, m = self.transform(image, mask[None])
        return x, {"mask": m[0]}

    def counts(self, name, num_classes, ignore_index) -> torch.Tensor:
        """Pixels of each class over the split's masks (read once, at full resolution)."""
        if self._counts is None:
            total = torch.zeros(num_classes, dtype=torch.long)
            for path in self.masks:
                m = read_mask(path, num_classes, ignore_index).reshape(-1)
                m = m[m != ignore_index]
                total += torch.bincount(m, minlength=num_classes)[:num_classes]
            self._counts = total
        return self._counts


def read_mask(path: Path, num_classes: int, ignore_index: int) -> torch.Tensor:
    """[H, W] class indices from a palette ("P") or greyscale ("L") PNG; other values than
    0..num_classes-1 and ignore_index are an error naming the file."""
    img = open_image(path)
    if img.mode not in ("P", "L"):
        raise ValueError(
            f"mask {str(path)!r} is a {img.mode} image; expected a palette (P) or greyscale (L) "
            "PNG whose pixel values are class indices"
        )
    m = torch.from_numpy(np.asarray(img, dtype=np.int64))
    bad = (m >= num_classes) & (m != ignore_index)
    if bad.any():
        raise ValueError(
            f"mask {str(path)!r} has value {int(m[bad][0])}, outside 0..{num_classes - 1} and "
            f"not ignore_index {ignore_index}"
        )
    return m


class ImageFiles(torch.utils.data.Dataset):
    """Image files with per-sample targets; ``__getitem__((index, seed))`` -> (x, targets)."""

    def __init__(self, images: list[Path], targets: dict[str, torch.Tensor], transform):
        self.images, self.targets, self.transform = images, targets, transform

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, item):
        i, seed = item
        image = VF.pil_to_tensor(open_image(self.images[i]).convert("RGB"))
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            x = self.transform(image)
        return x, {k: v[i] for k, v in self.targets.items()}
