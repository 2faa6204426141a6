"""Scenes composed of real digit glyphs: segmentation masks and multi-label targets.

Each scene is a ``size`` x ``size`` RGB image on a dark noisy background holding 1-4 real
handwritten digits from scikit-learn's bundled set, each scaled, tinted and placed at random. The
per-pixel label is 0 for background and 1 + digit where a glyph's ink is opaque; the multi-label
target says which digits appear. Validation scenes use glyphs never used in training, so the
validation metrics measure generalisation to new handwriting, not memorised glyphs.
"""

from __future__ import annotations

from functools import partial
from typing import Literal

import torch
import torch.nn.functional as F

from ablate.data._base import Dataset, Split
from ablate.data.digits import glyph_split
from ablate.registry import DATASETS

INK = 0.5  # a glyph pixel is labelled where its (resized) intensity exceeds this


@DATASETS.register("digit_scenes")
def digit_scenes(
    size: int = 64,
    train_scenes: int = 1024,
    val_scenes: int = 256,
    min_digits: int = 1,
    max_digits: int = 4,
    min_scale: int = 16,
    max_scale: int = 32,
    noise: float = 0.08,
    seed: int = 0,
    task: Literal["segmentation", "multilabel"] = "segmentation",
    device: str = "cpu",
) -> Dataset:
    """Scenes x [N, 3, size, size] with targets ``mask`` [N, size, size] (0..10) and ``labels``
    [N, 10] (multi-hot: which digits appear). Both targets are always there (a term can name
    either); ``task`` picks the main one and the validation metrics.

    Args:
        size: scene side in pixels.
        train_scenes: number of training scenes.
        val_scenes: number of validation scenes (drawn from held-out glyphs).
        min_digits: fewest digits in a scene.
        max_digits: most digits in a scene.
        min_scale: smallest glyph side in pixels.
        max_scale: largest glyph side in pixels.
        noise: standard deviation of the background's Gaussian noise.
        seed: the scenes' seed (independent of the training seed: every run sees the same data).
        task: ``segmentation`` (main target ``mask``: mIoU, pixel accuracy) or ``multilabel``
            (main target ``labels``: mAP, micro/macro F1).
    """
    if not 1 <= min_digits <= max_digits:
        raise ValueError("need 1 <= min_digits <= max_digits")
    if not 4 <= min_scale <= max_scale <= size:
        raise ValueError("need 4 <= min_scale <= max_scale <= size")
    images, labels, train_idx, val_idx = glyph_split(0.25, seed)
    gen = torch.Generator().manual_seed(seed + 1)
    render = partial(
        _render,
        size=size,
        lo_n=min_digits,
        hi_n=max_digits,
        lo_s=min_scale,
        hi_s=max_scale,
        noise=noise,
        gen=gen,
    )
    train = render(images[train_idx], labels[train_idx], train_scenes)  # train first: the
    val = render(images[val_idx], labels[val_idx], val_scenes)  # generator's order fixes both
    digit_names = [str(d) for d in range(10)]
    multilabel = task == "multilabel"
    return Dataset(
        train=train,
        val=val,
        num_classes=10 if multilabel else 11,
        in_channels=3,
        task=task,
        default_target="labels" if multilabel else "mask",
        ignore_index=None if multilabel else 255,
        class_names=digit_names if multilabel else ["background", *digit_names],
    ).to(device)


def _render(glyphs, digits, n, size, lo_n, hi_n, lo_s, hi_s, noise, gen) -> Split:
    def randint(lo: int, hi: int) -> int:  # inclusive bounds
        return int(torch.randint(lo, hi + 1, (1,), generator=gen))

    x = torch.rand(n, 3, 1, 1, generator=gen) * 0.3 + noise * torch.randn(
        n, 3, size, size, generator=gen
    )
    mask = torch.zeros(n, size, size, dtype=torch.long)
    multi = torch.zeros(n, 10)
    for i in range(n):
        for _ in range(randint(lo_n, hi_n)):
            k = randint(0, len(glyphs) - 1)
            s = randint(lo_s, hi_s)
            g = F.interpolate(
                glyphs[k][None, None], size=(s, s), mode="bilinear", align_corners=False
            )[0, 0].clamp(0, 1)
            top, left = randint(0, size - s), randint(0, size - s)
            color = torch.rand(3, 1, 1, generator=gen) * 0.5 + 0.5
            region = x[i, :, top : top + s, left : left + s]
            x[i, :, top : top + s, left : left + s] = region * (1 - g) + color * g
            mask[i, top : top + s, left : left + s][g > INK] = int(digits[k]) + 1
            multi[i, digits[k]] = 1.0
    return Split(x.clamp(0, 1), {"mask": mask, "labels": multi})
