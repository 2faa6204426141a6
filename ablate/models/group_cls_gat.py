"""The multi-label classifier of seed 000_* (Xingxiangrui's ``group_clsgat_with_supple_loss``):

backbone feature map -> 1x1 reduce conv -> grouped bottleneck -> global max pool into groups ->
group linear to per-class embeddings [B, classes, C] -> a graph-attention layer over the class
nodes -> per-class final layers -> logits [B, classes].

The supplement head (two residual per-class linear blocks and a per-class output linear) reads the
class embeddings before the GAT layer: output ``supplement``, trained with
``loss = out + 0.1 * supplement`` in the seed. The same embeddings are output as ``features``
[B, classes, C] for center loss. Both extra outputs exist in training only.

GAT: Velickovic et al., "Graph Attention Networks", ICLR 2018, over the fully connected graph of
class nodes; ``gat_residual`` selects the seed's ``elu(h' + beta * h)`` (beta learned, from 1) or
its ablation ``elu(h')``.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
import torchvision
from torch import Tensor, nn

from ablate.registry import MODELS

Backbone = Literal["tiny", "resnet18", "resnet34", "resnet50", "resnet101"]


def conv_bn_relu(
    cin: int, cout: int, k: int = 1, stride: int = 1, groups: int = 1
) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
        nn.ReLU(inplace=True),
    )


def _backbone(name: str, in_channels: int, weights: str | None) -> tuple[nn.Module, int]:
    if name == "tiny":  # four stride-2 stages, 16..128 channels: a CPU-sized feature extractor
        widths = (16, 32, 64, 128)
        layers, cin = [], in_channels
        for w in widths:
            layers += [conv_bn_relu(cin, w, 3, 2), conv_bn_relu(w, w, 3)]
            cin = w
        return nn.Sequential(*layers), widths[-1]
    net = getattr(torchvision.models, name)(weights=None)
    if weights is not None:
        net.load_state_dict(torch.load(Path(weights), map_location="cpu", weights_only=True))
    if in_channels != 3:
        net.conv1 = nn.Conv2d(in_channels, 64, 7, 2, 3, bias=False)
    body = nn.Sequential(*list(net.children())[:-2])  # drop avgpool and fc
    return body, net.fc.in_features


class GroupBottleneck(nn.Module):
    """The seed's parallel bottleneck: 1x1 to groups * C/2, grouped 3x3, grouped 1x1 to
    groups * C, plus the input repeated per group as the residual."""

    def __init__(self, groups: int, channels: int):
        super().__init__()
        mid = groups * max(1, channels // 2)
        self.groups = groups
        self.conv1 = conv_bn_relu(channels, mid)
        self.conv2 = conv_bn_relu(mid, mid, 3, groups=groups)
        self.conv3 = nn.Sequential(
            nn.Conv2d(mid, groups * channels, 1, groups=groups, bias=False),
            nn.BatchNorm2d(groups * channels),
        )

    def forward(self, x: Tensor) -> Tensor:
        out = self.conv3(self.conv2(self.conv1(x)))
        return F.relu(out + x.repeat(1, self.groups, 1, 1))


class ClassLinear(nn.Module):
    """One linear map per class node: [B, K, I] -> [B, K, O]."""

    def __init__(self, nodes: int, cin: int, cout: int):
        super().__init__()
        bound = 1 / math.sqrt(cin)
        self.weight = nn.Parameter(torch.empty(nodes, cin, cout).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(nodes, cout).uniform_(-bound, bound))

    def forward(self, x: Tensor) -> Tensor:
        return torch.einsum("bki,kio->bko", x, self.weight) + self.bias


class ResidualClassBlock(nn.Module):
    """x + relu(bn(fc2(relu(bn(fc1(x)))))) per class, reduction 2 (the seed's final-fc block)."""

    def __init__(self, nodes: int, channels: int, reduction: int = 2):
        super().__init__()
        mid = max(1, channels // reduction)
        self.fc1, self.bn1 = ClassLinear(nodes, channels, mid), nn.BatchNorm1d(nodes)
        self.fc2, self.bn2 = ClassLinear(nodes, mid, channels), nn.BatchNorm1d(nodes)

    def forward(self, x: Tensor) -> Tensor:
        h = F.relu(self.bn1(self.fc1(x)))
        return x + F.relu(self.bn2(self.fc2(h)))


class GATLayer(nn.Module):
    """Single-head graph attention over all class nodes; ``residual`` adds ``beta * W h``."""

    def __init__(self, channels: int, residual: bool, dropout: float = 0.0, slope: float = 0.2):
        super().__init__()
        self.W = nn.Parameter(nn.init.xavier_uniform_(torch.empty(channels, channels), gain=1.414))
        self.a = nn.Parameter(nn.init.xavier_uniform_(torch.empty(2 * channels, 1), gain=1.414))
        self.beta = nn.Parameter(torch.ones(1)) if residual else None
        self.dropout, self.slope = dropout, slope

    def forward(self, x: Tensor) -> Tensor:
        h = x @ self.W  # [B, N, C]
        c = h.shape[-1]
        # e_ij = LeakyReLU(a^T [h_i || h_j]) = a1.h_i + a2.h_j, without the [B, N, N, 2C] tensor.
        e = (h @ self.a[:c]) + (h @ self.a[c:]).transpose(1, 2)
        att = F.softmax(F.leaky_relu(e, self.slope), dim=2)
        att = F.dropout(att, self.dropout, training=self.training)
        h_prime = att @ h
        return F.elu(h_prime + self.beta * h) if self.beta is not None else F.elu(h_prime)


@MODELS.register("group_cls_gat")
class GroupClsGAT(nn.Module):
    outputs = ("out", "supplement", "features")

    def __init__(
        self,
        num_classes: int,
        in_channels: int = 3,
        backbone: Backbone = "resnet101",
        weights: str | None = None,
        groups: int = 12,
        group_channels: int = 512,
        class_channels: int = 256,
        gat_residual: bool = True,
        gat_dropout: float = 0.0,
    ):
        """
        Args:
            num_classes: labels (set by ablate from the dataset).
            in_channels: input channels (set by ablate from the dataset).
            backbone: ``tiny`` (CPU-sized CNN, 128 channels) or a torchvision ResNet.
            weights: path to a local state_dict of the torchvision backbone; ``None`` trains
                from scratch.
            groups: feature groups; classes are assigned to groups evenly, in order.
            group_channels: channels per group (512 in the seed).
            class_channels: channels of each class embedding (256 in the seed).
            gat_residual: ``elu(h' + beta * h)`` if true, ``elu(h')`` if false.
            gat_dropout: dropout on the attention coefficients.
        """
        super().__init__()
        if not 1 <= groups <= num_classes:
            raise ValueError(f"groups must be in 1..num_classes ({num_classes})")
        self.groups, self.group_channels = groups, group_channels
        self.backbone, feat = _backbone(backbone, in_channels, weights)
        self.reduce_conv = conv_bn_relu(feat, group_channels)
        self.bottleneck = GroupBottleneck(groups, group_channels)
        # Class k reads group k * groups // num_classes (the seed's nclasses_per_group).
        self.register_buffer(
            "class_group", torch.arange(num_classes) * groups // num_classes, persistent=False
        )
        self.group_linear = ClassLinear(num_classes, group_channels, class_channels)
        self.gat = GATLayer(class_channels, gat_residual, gat_dropout)
        self.final_fcs = nn.Sequential(
            ResidualClassBlock(num_classes, class_channels),
            ClassLinear(num_classes, class_channels, 1),
        )
        self.supplement = nn.Sequential(
            ResidualClassBlock(num_classes, class_channels),
            ResidualClassBlock(num_classes, class_channels),
            ClassLinear(num_classes, class_channels, 1),
        )

    def forward(self, x: Tensor) -> dict[str, Tensor]:
        f = self.bottleneck(self.reduce_conv(self.backbone(x)))
        g = F.adaptive_max_pool2d(f, 1).view(x.shape[0], self.groups, self.group_channels)
        emb = self.group_linear(g[:, self.class_group])  # [B, K, class_channels]
        out = {"out": self.final_fcs(self.gat(emb)).squeeze(-1)}
        if self.training:
            out["supplement"] = self.supplement(emb).squeeze(-1)
            out["features"] = emb
        return out
