"""PSPNet — Zhao et al., "Pyramid Scene Parsing Network", CVPR 2017.

A dilated ResNet backbone (output stride 8), the pyramid pooling module (bins 1, 2, 3, 6), the main
classifier, and the deep-supervision head on layer3 used in training only, as in the reference
implementation (hszhao/semseg): Conv3x3 -> BN -> ReLU -> Dropout2d(0.1) -> Conv1x1. Both outputs
are upsampled to the input size.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchvision.models.resnet import BasicBlock

from ablate.registry import MODELS

Backbone = Literal["tiny", "resnet18", "resnet34", "resnet50", "resnet101"]


class PyramidPooling(nn.Module):
    """Pool to each bin size, reduce by 1x1 conv, upsample, concatenate with the input."""

    def __init__(self, in_dim: int, reduction_dim: int, bins: tuple[int, ...]):
        super().__init__()
        self.stages = nn.ModuleList(
            nn.Sequential(
                nn.AdaptiveAvgPool2d(b),
                nn.Conv2d(in_dim, reduction_dim, 1, bias=False),
                nn.BatchNorm2d(reduction_dim),
                nn.ReLU(inplace=True),
            )
            for b in bins
        )

    def forward(self, x: Tensor) -> Tensor:
        size = x.shape[-2:]
        pooled = [
            F.interpolate(s(x), size, mode="bilinear", align_corners=True) for s in self.stages
        ]
        return torch.cat([x, *pooled], 1)


def _dilate(layer: nn.Module, dilation: int) -> None:
    """Turn a strided ResNet stage into a dilated one (stride 1), as PSPNet does to layer3/4."""
    for name, m in layer.named_modules():
        if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3):
            m.dilation, m.padding, m.stride = (dilation, dilation), (dilation, dilation), (1, 1)
        elif "downsample.0" in name:
            m.stride = (1, 1)


def _tiny_resnet(in_channels: int, widths=(16, 32, 64, 128)) -> nn.Module:
    """A four-stage ResNet of one BasicBlock per stage, small enough to train on a CPU."""

    def stage(cin: int, cout: int, stride: int) -> nn.Sequential:
        down = None
        if stride != 1 or cin != cout:
            down = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
        return nn.Sequential(BasicBlock(cin, cout, stride, down))

    net = nn.Module()
    net.conv1 = nn.Conv2d(in_channels, widths[0], 3, 2, 1, bias=False)
    net.bn1 = nn.BatchNorm2d(widths[0])
    net.relu = nn.ReLU(inplace=True)
    net.maxpool = nn.Identity()
    net.layer1 = stage(widths[0], widths[0], 1)
    net.layer2 = stage(widths[0], widths[1], 2)
    net.layer3 = stage(widths[1], widths[2], 2)
    net.layer4 = stage(widths[2], widths[3], 2)
    return net


@MODELS.register("pspnet")
class PSPNet(nn.Module):
    outputs = ("out", "aux")

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        backbone: Backbone = "resnet50",
        weights: str | None = None,
        bins: tuple[int, ...] = (1, 2, 3, 6),
        dropout: float = 0.1,
        width: int = 1,
    ):
        """
        Args:
            num_classes: classes of both heads (set by ablate from the dataset).
            in_channels: input channels (set by ablate from the dataset).
            backbone: ``tiny`` (CPU-sized, output stride 4 on its 4-stage layout) or a torchvision
                ResNet (output stride 8, layer3/4 dilated by 2/4 as in PSPNet).
            weights: path to a local ``state_dict`` file for the torchvision backbone; ``None``
                trains from scratch (nothing is downloaded).
            bins: pyramid pooling bin sizes.
            dropout: Dropout2d probability in both heads (0.1 in the paper's code).
            width: multiplies the tiny backbone's stage widths (16, 32, 64, 128).
        """
        super().__init__()
        if backbone == "tiny":
            net = _tiny_resnet(in_channels, tuple(w * width for w in (16, 32, 64, 128)))
            # Keep layer3/4 at layer2's resolution, dilated, like the ResNet variants.
            _dilate(net.layer3, 2)
            _dilate(net.layer4, 4)
            c3, c4 = 64 * width, 128 * width
        else:
            net = getattr(torchvision.models, backbone)(weights=None)
            if weights is not None:
                state = torch.load(Path(weights), map_location="cpu", weights_only=True)
                net.load_state_dict(state)
            if in_channels != 3:
                net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
            _dilate(net.layer3, 2)
            _dilate(net.layer4, 4)
            expansion = 1 if backbone in ("resnet18", "resnet34") else 4  # BasicBlock/Bottleneck
            c3, c4 = 256 * expansion, 512 * expansion
        self.layer0 = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool)
        self.layer1, self.layer2, self.layer3, self.layer4 = (
            net.layer1,
            net.layer2,
            net.layer3,
            net.layer4,
        )
        self.ppm = PyramidPooling(c4, c4 // len(bins), tuple(bins))
        # Head widths follow the reference code (512 and 256 for ResNet-50: c4/4 and c3/4).
        mid = c4 // 4 if backbone != "tiny" else 64 * width
        self.cls = nn.Sequential(
            nn.Conv2d(c4 + (c4 // len(bins)) * len(bins), mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(mid),
            nn.ReLU(inplace=True),
            nn.Dropout2d(p=dropout),
            nn.Conv2d(mid, num_classes, 1),
        )
        aux_mid = c3 // 4 if backbone != "tiny" else 32 * width
        self.aux = nn.Sequential(
            nn.Conv2d(c3, aux_mid, 3, padding=1, bias=False),
            nn.BatchNorm2d(aux_mid),
            nn.ReLU(inplace=True),
            nn.Dropout2d(p=dropout),
            nn.Conv2d(aux_mid, num_classes, 1),
        )

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        size = x.shape[-2:]
        x3 = self.layer3(self.layer2(self.layer1(self.layer0(x))))
        x4 = self.layer4(x3)
        out = {
            "out": F.interpolate(self.cls(self.ppm(x4)), size, mode="bilinear", align_corners=True)
        }
        if self.training:  # the aux head serves only the training loss
            out["aux"] = F.interpolate(self.aux(x3), size, mode="bilinear", align_corners=True)
        return out
