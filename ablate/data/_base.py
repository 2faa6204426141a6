"""The dataset contract: small datasets live on the training device as tensors."""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import Tensor


@dataclass
class Split:
    x: Tensor
    targets: dict[str, Tensor]

    def __len__(self) -> int:
        return self.x.shape[0]

    def batch(self, idx: Tensor) -> tuple[Tensor, dict[str, Tensor]]:
        return self.x[idx], {k: v[idx] for k, v in self.targets.items()}


@dataclass
class Dataset:
    """A train and a validation split plus what models and metrics need to know.

    ``task`` picks the metrics of the main output: ``segmentation`` (mIoU, pixel accuracy),
    ``classification`` (accuracy).
    """

    train: Split
    val: Split
    num_classes: int
    in_channels: int
    task: str
    default_target: str
    ignore_index: int | None = None
    class_names: list[str] = field(default_factory=list)

    def to(self, device: torch.device | str) -> Dataset:
        def move(s: Split) -> Split:
            return Split(s.x.to(device), {k: v.to(device) for k, v in s.targets.items()})

        self.train, self.val = move(self.train), move(self.val)
        return self
