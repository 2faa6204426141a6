"""Augmentation presets for a user's image folders, in torchvision's ``transforms.v2``.

An image and its mask go through the same geometric transforms (v2 dispatches on the
``tv_tensors`` type: bilinear for the image, nearest for the mask, and the mask's padding is the
ignore label). Every random draw comes from torch's generator, which the streamed split seeds per
(training seed, epoch, sample) before calling the transform, so augmentation does not depend on
which loader worker reads a sample.

Presets:

- ``pspnet`` (segmentation), the PSPNet recipe (Zhao et al. 2017, hszhao/semseg): random scale
  0.5-2.0, rotation within +-10 degrees, Gaussian blur (half the time), horizontal flip, a random
  ``crop`` x ``crop`` window padded with the mean colour and the ignore label where the image is
  smaller.
- ``attributes`` (multi-label classification of people, as pedestrian-attribute models train):
  resize to ``size``, pad by 10 and crop back at random, horizontal flip.
- ``classify``: random resized crop to ``size``, horizontal flip.
- ``none``: no augmentation (resize to ``size`` for classification).
Validation never augments: segmentation images keep their resolution (whole-image or sliding-
window evaluation), classification images are resized to ``size``.
"""

from __future__ import annotations

import torch
from torchvision import tv_tensors
from torchvision.transforms import v2

from ablate.data._images import IMAGENET_MEAN, IMAGENET_STD

SEGMENTATION = ("pspnet", "none")
CLASSIFICATION = ("attributes", "classify", "none")


class RandomScale(v2.Transform):
    """Resize image and mask by one random factor in [low, high] (PSPNet's RandScale)."""

    def __init__(self, low: float, high: float):
        super().__init__()
        self.low, self.high = low, high

    def make_params(self, flat_inputs):
        h, w = v2.query_size(flat_inputs)
        f = self.low + float(torch.rand(())) * (self.high - self.low)
        return {"size": [max(1, round(h * f)), max(1, round(w * f))]}

    def transform(self, inpt, params):
        return v2.functional.resize(inpt, params["size"], antialias=True)


def _normalize(normalize: bool) -> list:
    steps = [v2.ToDtype({tv_tensors.Image: torch.float32, "others": None}, scale=True)]
    if normalize:
        steps.append(v2.Normalize(IMAGENET_MEAN, IMAGENET_STD))
    return steps


def segmentation(
    preset: str, crop: int, ignore_index: int, normalize: bool, train: bool
) -> PairPipeline:
    """A callable (image, mask) -> (image [3, H, W] float, mask [H, W] long)."""
    if preset not in SEGMENTATION:
        raise ValueError(f"unknown segmentation augmentation {preset!r}; presets: {SEGMENTATION}")
    mean_pixel = [round(255 * m) for m in IMAGENET_MEAN]
    fill = {tv_tensors.Image: mean_pixel, tv_tensors.Mask: ignore_index}
    steps: list = []
    if train and preset == "pspnet":
        steps = [
            RandomScale(0.5, 2.0),
            v2.RandomRotation(10, fill=fill),
            v2.RandomApply([v2.GaussianBlur(5, sigma=(0.1, 2.0))], p=0.5),
            v2.RandomHorizontalFlip(),
        ]
    if train:  # every training batch has one shape: crop (padding where the image is smaller)
        steps.append(v2.RandomCrop(crop, pad_if_needed=True, fill=fill))
    return PairPipeline(v2.Compose(steps + _normalize(normalize)))


def classification(preset: str, size: int, normalize: bool, train: bool) -> ImagePipeline:
    """A callable image -> image [3, size, size] float."""
    if preset not in CLASSIFICATION:
        raise ValueError(
            f"unknown classification augmentation {preset!r}; presets: {CLASSIFICATION}"
        )
    if train and preset == "attributes":
        steps = [v2.Resize((size, size), antialias=True), v2.Pad(10),
                 v2.RandomCrop(size), v2.RandomHorizontalFlip()]  # fmt: skip
    elif train and preset == "classify":
        steps = [v2.RandomResizedCrop(size, antialias=True), v2.RandomHorizontalFlip()]
    else:
        steps = [v2.Resize((size, size), antialias=True)]
    return ImagePipeline(v2.Compose(steps + _normalize(normalize)))


# Module-level classes, not closures: a sweep's workers are spawned processes, and their
# DataLoader workers receive the dataset (and so its transform) by pickling.
class PairPipeline:
    """(image, mask) -> (image [3, H, W] float, mask [H, W] long) through one v2 pipeline."""

    def __init__(self, pipeline: v2.Compose):
        self.pipeline = pipeline

    def __call__(self, image, mask):
        img, m = self.pipeline(tv_tensors.Image(image), tv_tensors.Mask(mask))
        return img.as_subclass(torch.Tensor), m.as_subclass(torch.Tensor).long()


class ImagePipeline:
    """image -> image [3, size, size] float through one v2 pipeline."""

    def __init__(self, pipeline: v2.Compose):
        self.pipeline = pipeline

    def __call__(self, image):
        return self.pipeline(tv_tensors.Image(image)).as_subclass(torch.Tensor)
