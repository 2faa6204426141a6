"""scikit-learn's bundled handwritten digits (1,797 real 8x8 images; no download)."""

from __future__ import annotations

import torch
from sklearn.datasets import load_digits

from ablate.data._base import Dataset, Split
from ablate.registry import DATASETS


def glyph_split(val_fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor, list, list]:
    """The digit images in [0, 1] split into disjoint train/val sets by a seeded permutation."""
    raw = load_digits()
    images = torch.tensor(raw.images, dtype=torch.float32) / 16.0
    labels = torch.tensor(raw.target, dtype=torch.long)
    perm = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed))
    n_val = int(round(len(labels) * val_fraction))
    val, train = perm[:n_val], perm[n_val:]
    return images, labels, train, val


@DATASETS.register("digits")
def digits(val_fraction: float = 0.25, seed: int = 0, device: str = "cpu") -> Dataset:
    """Digit classification: x [N, 1, 8, 8] in [0, 1], target ``label`` [N] in 0..9.

    Args:
        val_fraction: share of images held out for validation.
        seed: the split's seed (independent of the training seed).
    """
    if not 0 < val_fraction < 1:
        raise ValueError("val_fraction must be in (0, 1)")
    images, labels, train, val = glyph_split(val_fraction, seed)
    return Dataset(
        train=Split(images[train, None], {"label": labels[train]}),
        val=Split(images[val, None], {"label": labels[val]}),
        num_classes=10,
        in_channels=1,
        task="classification",
        default_target="label",
        class_names=[str(d) for d in range(10)],
    ).to(device)
