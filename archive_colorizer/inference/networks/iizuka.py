"""Iizuka, Simo-Serra & Ishikawa 2016, "Let there be Color!" (SIGGRAPH), as a tileable network.

Layers (width multiplier 1.0 gives the paper's channels; every conv is 3x3 + BatchNorm + ReLU
unless noted)::

    low-level (shared)   64/2, 128, 128/2, 256, 256/2, 512            stride 8 in all
    mid-level            512, 256
    global (224x224)     512/2, 512, 512/2, 512 → flatten 7x7 → fc 1024, fc 512, fc 256
    classification       fc 256, fc classes (optional, from the fc-512 output)
    fusion               global 256 broadcast + mid 256 concatenated → 1x1 conv 256
    colorization         128, up x2, 64, 64, up x2, 32, 3x3 conv 2 + sigmoid → a*, b* at 1/2
                         resolution, then bilinear x2 to the input size

The paper's nearest-neighbour upsampling inside the colorization network is kept; the final
upsampling to full resolution is bilinear. ``a*, b* = ab_scale * (2 * sigmoid(x) - 1)``.
L* in 0..100 is normalised to -1..1 inside.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor, nn
from torch.nn import functional

from archive_colorizer.inference.networks.base import (
    ColorizationNet,
    check_lightness,
    pad_to_multiple,
    receptive_reach,
)

ARCH = "iizuka"

#: (paper channels, stride) of the low-level features network
LOW_LEVEL = ((64, 2), (128, 1), (128, 2), (256, 1), (256, 2), (512, 1))
MID_LEVEL = (512, 256)
GLOBAL_CONVS = ((512, 2), (512, 1), (512, 2), (512, 1))
GLOBAL_FCS = (1024, 512, 256)
#: colorization network: ints are 3x3 convs, "up" a nearest x2 upsampling
COLOUR = (128, "up", 64, 64, "up", 32)


def scaled(channels: int, width: float) -> int:
    """``channels`` times the width multiplier, at least 4."""
    return max(4, round(channels * width))


class ConvBlock(nn.Sequential):
    """3x3 convolution (zero padding 1), optional BatchNorm, ReLU."""

    def __init__(self, cin: int, cout: int, stride: int = 1, batch_norm: bool = True) -> None:
        layers: list[nn.Module] = [
            nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=not batch_norm)
        ]
        if batch_norm:
            layers.append(nn.BatchNorm2d(cout))
        layers.append(nn.ReLU(inplace=True))
        super().__init__(*layers)


class IizukaNet(ColorizationNet):
    """Iizuka et al. 2016 with a width multiplier and an optional classification head."""

    arch = ARCH
    stride = 8

    def __init__(
        self,
        width: float = 1.0,
        num_classes: int = 0,
        batch_norm: bool = True,
        ab_scale: float = 110.0,
    ) -> None:
        super().__init__()
        if not 0 < width <= 4:
            raise ValueError(f"width multiplier must be in (0, 4], got {width}")
        if num_classes < 0:
            raise ValueError(f"num_classes must be >= 0, got {num_classes}")
        self.width = float(width)
        self.num_classes = int(num_classes)
        self.batch_norm = bool(batch_norm)
        self.ab_scale = float(ab_scale)

        def block(cin: int, cout: int, stride: int = 1) -> ConvBlock:
            return ConvBlock(cin, cout, stride, batch_norm)

        layers: list[nn.Module] = []
        cin = 1
        for channels, stride in LOW_LEVEL:
            layers.append(block(cin, scaled(channels, width), stride))
            cin = scaled(channels, width)
        self.low_level = nn.Sequential(*layers)
        low_out = cin

        layers = []
        for channels in MID_LEVEL:
            layers.append(block(cin, scaled(channels, width)))
            cin = scaled(channels, width)
        self.mid_level = nn.Sequential(*layers)
        mid_out = cin

        layers = []
        cin = low_out
        for channels, stride in GLOBAL_CONVS:
            layers.append(block(cin, scaled(channels, width), stride))
            cin = scaled(channels, width)
        self.global_convs = nn.Sequential(*layers)
        side = self.global_size // 32  # 224 → 28 (low level) → 7
        fc1, fc2, fc3 = (scaled(n, width) for n in GLOBAL_FCS)
        self.global_fc_a = nn.Sequential(
            nn.Linear(cin * side * side, fc1), nn.ReLU(inplace=True), nn.Linear(fc1, fc2),
            nn.ReLU(inplace=True),
        )  # fmt: skip
        self.global_fc_b = nn.Sequential(nn.Linear(fc2, fc3), nn.ReLU(inplace=True))
        self.global_dim = fc3
        self.classifier: nn.Module | None = None
        if num_classes:
            hidden = scaled(256, width)
            self.classifier = nn.Sequential(
                nn.Linear(fc2, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, num_classes)
            )

        fused = scaled(256, width)
        self.fusion = nn.Sequential(nn.Conv2d(mid_out + fc3, fused, 1), nn.ReLU(inplace=True))
        layers = []
        cin = fused
        for item in COLOUR:
            if item == "up":
                layers.append(nn.Upsample(scale_factor=2, mode="nearest"))
            else:
                layers.append(block(cin, scaled(int(item), width)))
                cin = scaled(int(item), width)
        layers.append(nn.Conv2d(cin, 2, 3, padding=1))
        self.colour = nn.Sequential(*layers)
        self.receptive_margin = receptive_reach(self.spatial_ops())

    @staticmethod
    def spatial_ops() -> list[tuple[str, int, int]]:
        """The local path's spatial operations, for :func:`receptive_reach`."""
        ops: list[tuple[str, int, int]] = [("conv", 3, s) for _, s in LOW_LEVEL]
        ops += [("conv", 3, 1) for _ in MID_LEVEL]
        ops.append(("conv", 1, 1))  # fusion
        for item in COLOUR:
            ops.append(("nearest", 2, 0) if item == "up" else ("conv", 3, 1))
        ops.append(("conv", 3, 1))  # output layer
        ops.append(("bilinear", 2, 0))
        return ops

    def config(self) -> dict[str, Any]:
        return {
            "width": self.width,
            "num_classes": self.num_classes,
            "batch_norm": self.batch_norm,
            "ab_scale": self.ab_scale,
        }

    @staticmethod
    def normalise(lightness: Tensor) -> Tensor:
        """L* 0..100 → -1..1."""
        return lightness / 50.0 - 1.0

    def _global_hidden(self, lightness_224: Tensor) -> Tensor:
        check_lightness(lightness_224)
        if lightness_224.shape[-2:] != (self.global_size, self.global_size):
            raise ValueError(
                f"global features need {self.global_size}x{self.global_size} input, "
                f"got {tuple(lightness_224.shape[-2:])}"
            )
        features = self.global_convs(self.low_level(self.normalise(lightness_224)))
        hidden: Tensor = self.global_fc_a(torch.flatten(features, 1))
        return hidden

    def global_features(self, lightness_224: Tensor) -> Tensor:
        vector: Tensor = self.global_fc_b(self._global_hidden(lightness_224))
        return vector

    def class_logits(self, lightness_224: Tensor) -> Tensor:
        """Scene-class logits ``(N, num_classes)``; needs ``num_classes > 0``."""
        if self.classifier is None:
            raise ValueError("this network was built without a classification head")
        logits: Tensor = self.classifier(self._global_hidden(lightness_224))
        return logits

    def colorize(self, lightness: Tensor, global_vec: Tensor) -> Tensor:
        check_lightness(lightness)
        height, width = lightness.shape[-2:]
        padded = pad_to_multiple(self.normalise(lightness), self.stride)
        mid = self.mid_level(self.low_level(padded))
        prior = global_vec.to(mid.dtype)[:, :, None, None].expand(-1, -1, *mid.shape[-2:])
        fused = self.fusion(torch.cat((mid, prior), dim=1))
        half = torch.sigmoid(self.colour(fused)) * (2.0 * self.ab_scale) - self.ab_scale
        full = functional.interpolate(half, scale_factor=2.0, mode="bilinear", align_corners=False)
        return full[:, :, :height, :width]


def build_iizuka(**config: Any) -> IizukaNet:
    """Builder registered as ``"iizuka"`` (config: width, num_classes, batch_norm, ab_scale)."""
    return IizukaNet(**config)
