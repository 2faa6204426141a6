"""FCN-8s — Long, Shelhamer & Darrell, "Fully Convolutional Networks for Semantic Segmentation",
CVPR 2015, in the form of seed 002_*: VGG16-BN's features in five stages, 1x1 score layers,
transposed convolutions initialised with a bilinear kernel, stage-4 and stage-3 skip fusion, and
an x8 upsampling to the label size.

Deep supervision: the seed defines ``scores1`` (on stage 5) and ``scores2`` (on stage 5 + 4) but
never uses them; here they are the outputs ``aux5`` and ``aux4``, bilinearly upsampled to the
label size, so each can carry a weighted loss term. Like PSPNet's aux head they are computed in
training only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn
from torchvision.models.vgg import cfgs, make_layers

from ablate.registry import MODELS

STAGES = (slice(0, 7), slice(7, 14), slice(14, 24), slice(24, 34), slice(34, None))


def bilinear_kernel(in_channels: int, out_channels: int, kernel_size: int) -> Tensor:
    """The seed's bilinear upsampling filter, on the diagonal of in x out channels."""
    factor = (kernel_size + 1) // 2
    center = factor - 1 if kernel_size % 2 == 1 else factor - 0.5
    og = np.ogrid[:kernel_size, :kernel_size]
    filt = (1 - abs(og[0] - center) / factor) * (1 - abs(og[1] - center) / factor)
    weight = np.zeros((in_channels, out_channels, kernel_size, kernel_size), dtype=np.float32)
    n = min(in_channels, out_channels)
    weight[range(n), range(n), :, :] = filt
    return torch.from_numpy(weight)


def _upsample(channels: int, factor: int) -> nn.ConvTranspose2d:
    k = 2 * factor
    up = nn.ConvTranspose2d(channels, channels, k, factor, factor // 2, bias=False)
    up.weight.data = bilinear_kernel(channels, channels, k)
    return up


def vgg16_bn_features(in_channels: int, width: float, weights: str | None) -> nn.Sequential:
    """torchvision's VGG16-BN ``features`` (layer indices unchanged), channels scaled by
    ``width``; ``weights`` is a local ``state_dict`` of ``torchvision.models.vgg16_bn``."""
    if width == 1.0:
        net = torchvision.models.vgg16_bn(weights=None)
        if weights is not None:
            state = torch.load(Path(weights), map_location="cpu", weights_only=True)
            net.load_state_dict(state)
        features = net.features
    else:
        if weights is not None:
            raise ValueError("pretrained weights need width 1.0")
        cfg = [v if v == "M" else max(1, round(v * width)) for v in cfgs["D"]]
        features = make_layers(cfg, batch_norm=True)
    if in_channels != 3:
        first = features[0]
        features[0] = nn.Conv2d(in_channels, first.out_channels, 3, padding=1)
    return features


@MODELS.register("fcn8s")
class FCN8s(nn.Module):
    outputs = ("out", "aux5", "aux4")

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        width: float = 1.0,
        weights: str | None = None,
    ):
        """
        Args:
            num_classes: classes of every output (set by ablate from the dataset).
            in_channels: input channels (set by ablate from the dataset).
            width: multiplies VGG16-BN's channels (64 ... 512); 0.25 trains on a CPU.
            weights: path to a local ``torchvision.models.vgg16_bn`` state_dict (width 1 only);
                ``None`` trains from scratch (nothing is downloaded).
        """
        super().__init__()
        if not 0 < width <= 1:
            raise ValueError("width must be in (0, 1]")
        features = vgg16_bn_features(in_channels, width, weights)
        self.stage1, self.stage2, self.stage3, self.stage4, self.stage5 = (
            features[s] for s in STAGES
        )
        c3, c5 = self.stage3[-3].num_features, self.stage5[-3].num_features
        self.scores1 = nn.Conv2d(c5, num_classes, 1)  # on stage 5: aux5
        self.scores2 = nn.Conv2d(c5, num_classes, 1)  # on stage 5 + stage 4: aux4
        self.conv_trans1 = nn.Conv2d(c5, c3, 1)
        self.conv_trans2 = nn.Conv2d(c3, num_classes, 1)
        self.upsample_8x = _upsample(num_classes, 8)
        self.upsample_2x_1 = _upsample(c5, 2)
        self.upsample_2x_2 = _upsample(c3, 2)

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        h, w = x.shape[-2:]
        # Five 2x poolings: pad to a multiple of 32 so the skips align, crop at the end.
        ph, pw = -h % 32, -w % 32
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph))
        s3 = self.stage3(self.stage2(self.stage1(x)))
        s4 = self.stage4(s3)
        s5 = self.stage5(s4)
        add1 = self.upsample_2x_1(s5) + s4
        add2 = self.upsample_2x_2(self.conv_trans1(add1)) + s3
        out = {"out": self.upsample_8x(self.conv_trans2(add2))[..., :h, :w]}
        if self.training:
            size = x.shape[-2:]
            for name, score in (("aux5", self.scores1(s5)), ("aux4", self.scores2(add1))):
                up = F.interpolate(score, size, mode="bilinear", align_corners=False)
                out[name] = up[..., :h, :w]
        return out
