"""The interface every colorization network implements, and the padding helpers they share.

A network predicts chroma (CIE a*, b*) from lightness (CIE L*, 0..100) in two parts, so that a
page of any size can be colorized tile by tile at its working resolution:

* :meth:`ColorizationNet.global_features` runs ONCE per image on the whole working image resized
  to ``global_size`` x ``global_size`` (224) and returns a vector of ``global_dim`` numbers: the
  scene prior (Iizuka et al. 2016's global features network).
* :meth:`ColorizationNet.colorize` runs on any ``H x W`` region (the whole image or one tile of
  it) together with that vector and returns a*, b* at the same ``H x W``.

Tiling contract (what makes tiled output equal untiled output):

* ``stride``: tile origins must be multiples of it. A network's stride-2 convolutions and
  upsamplings then see the same pixel grid in a tile as in the whole image.
* ``receptive_margin``: a tile whose input window extends at least this many pixels beyond its
  core (or reaches the image border) computes the core exactly as the whole image would.
* Inputs are L* in 0..100 (the network normalises internally); outputs are a*, b* in Lab units.
* ``colorize`` pads the bottom/right edges to a multiple of ``stride`` by mirror reflection
  (:func:`pad_to_multiple`) and crops the result back. Because the padding depends only on the
  rows/columns next to the image border, a border tile pads exactly like the whole image.
* Evaluation mode (BatchNorm uses running statistics, no dropout) is required for tiling.

Training hooks (what :mod:`archive_colorizer.inference.training` asks of a network, so the
trainer never branches on an architecture): :attr:`ColorizationNet.training_build_options`,
:meth:`~ColorizationNet.frozen_part` (a pretrained part the first stage keeps frozen, and whose
features a feature cache may keep: :meth:`~ColorizationNet.cache_features` /
:meth:`~ColorizationNet.decode_cached`), :meth:`~ColorizationNet.training_heads` at
:attr:`~ColorizationNet.heads_scale`, :attr:`~ColorizationNet.class_grid` (a classification head
trained with rebalanced cross-entropy) and :meth:`~ColorizationNet.adopt_weights`. The defaults
train the whole network end to end on its full-resolution output.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional

from archive_colorizer.errors import ConfigurationError


class ColorizationNet(nn.Module, ABC):
    """Base class of colorization networks (see the module docstring for the contract)."""

    #: architecture name, as registered in ``archive_colorizer.inference.networks.ARCHITECTURES``
    arch: str = ""
    #: side of the square image the global features are computed from
    global_size: int = 224
    #: tile origins must be multiples of this (pixels of the working image)
    stride: int = 1
    #: halo (pixels) a tile needs beyond its core so that tiled == untiled
    receptive_margin: int = 0
    #: length of the global feature vector
    global_dim: int = 0
    #: whether :meth:`colorize` takes colour hints (``hints=``; see ``iizuka-effl0``)
    hint_inputs: bool = False

    @abstractmethod
    def global_features(self, lightness_224: Tensor) -> Tensor:
        """Scene prior from ``(N, 1, 224, 224)`` L* in 0..100 → ``(N, global_dim)``."""

    @abstractmethod
    def colorize(self, lightness: Tensor, global_vec: Tensor) -> Tensor:
        """a*, b* ``(N, 2, H, W)`` from L* ``(N, 1, H, W)`` (any H, W >= 1) and the prior."""

    def colorize_hinted(self, lightness: Tensor, global_vec: Tensor, hints: Tensor) -> Tensor:
        """:meth:`colorize` with colour hints ``(N, 3, H, W)`` at the same size: a*, b* in Lab
        units (0 where no hint) and the mask. Only networks with ``hint_inputs`` take them."""
        raise ValueError(f"a {self.arch!r} network takes no colour hints")

    def colorize_with_prior(
        self, lightness: Tensor, global_vec: Tensor, log_prior: Tensor, hints: Tensor | None = None
    ) -> Tensor:
        """:meth:`colorize` (or :meth:`colorize_hinted`) with ``log_prior`` ``(Q,)`` added to the
        class logits of a classification head over :attr:`class_grid`² ab bins (a colour
        reference's ab histogram, weighted). Only networks with such a head take it."""
        raise ValueError(f"a {self.arch!r} network has no class head to take a colour prior")

    def class_probabilities(
        self, lightness: Tensor, global_vec: Tensor, hints: Tensor | None = None
    ) -> Tensor:
        """The class head's distribution ``(N, Q, h, w)`` at its own scale (1/4 of the
        stride-padded input for ``iizuka-effl0``). Only networks with a class head."""
        raise ValueError(f"a {self.arch!r} network has no class head")

    @abstractmethod
    def config(self) -> dict[str, Any]:
        """Keyword arguments that rebuild this network with ``build_network(arch, **config)``."""

    def forward(self, lightness: Tensor, lightness_224: Tensor | None = None) -> Tensor:
        """a*, b* for whole images: the prior from ``lightness_224`` (or ``lightness`` resized)."""
        if lightness_224 is None:
            lightness_224 = resize_for_global(lightness, self.global_size)
        return self.colorize(lightness, self.global_features(lightness_224))

    # --- training hooks (see the module docstring) ------------------------------------------

    #: options a fresh training run builds the network with (e.g. pretrained encoder weights)
    training_build_options: ClassVar[dict[str, Any]] = {}
    #: the training heads' output is at 1/heads_scale of the crops (targets are pooled to it)
    heads_scale: int = 1

    @property
    def class_grid(self) -> int:
        """Side of the a*, b* class grid of a classification head (0: none)."""
        return 0

    def frozen_part(self) -> nn.Module | None:
        """The pretrained part the first training stage keeps frozen (and whose BatchNorm
        statistics stay frozen throughout); None: the network trains end to end."""
        return None

    def training_heads(
        self, lightness: Tensor, frozen: bool, hints: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """``(a*, b*, class logits or None)`` of training crops at 1/:attr:`heads_scale`, the
        :meth:`frozen_part` run without gradients when ``frozen`` (hints at 1/4 for a network
        with hint inputs)."""
        if hints is not None:
            raise ConfigurationError(f"a {self.arch!r} network takes no hints")
        return self(lightness), None

    def cache_features(self, lightness: Tensor) -> dict[str, Tensor]:
        """What the :meth:`frozen_part` computes of training crops, as a feature cache keeps
        it (on the network's device; the cache moves it to the CPU)."""
        raise ConfigurationError(f"a {self.arch!r} network has no frozen part to cache")

    def decode_cached(
        self, features: dict[str, Tensor], hints: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """:meth:`training_heads` from cached :meth:`cache_features`."""
        raise ConfigurationError(f"a {self.arch!r} network has no frozen part to cache")

    def adopt_weights(self, trained: ColorizationNet) -> None:
        """Take the weights of ``trained``, the same architecture built with other decoding
        options; RuntimeError when its shapes differ."""
        self.load_state_dict(trained.state_dict(), strict=True)


def resize_for_global(lightness: Tensor, size: int = 224) -> Tensor:
    """The whole image ``(N, 1, H, W)`` resized to ``size x size`` (antialiased bilinear)."""
    if lightness.shape[-2:] == (size, size):
        return lightness
    return functional.interpolate(
        lightness, size=(size, size), mode="bilinear", align_corners=False, antialias=True
    )


def mirror_indices(length: int, padded: int, device: torch.device) -> Tensor:
    """Indices ``0..padded-1`` folded into ``0..length-1`` by mirror reflection (no edge repeat).

    Unlike ``torch.nn.functional.pad(mode="reflect")`` this works for any pad, even when the
    image is smaller than the pad (a 1-pixel image repeats its only pixel).
    """
    index = torch.arange(padded, device=device)
    if length == 1:
        return torch.zeros_like(index)
    period = 2 * (length - 1)
    folded = torch.remainder(index, period)
    return torch.where(folded < length, folded, period - folded)


def pad_to_multiple(tensor: Tensor, multiple: int) -> Tensor:
    """Mirror-pad the bottom and right edges of ``(N, C, H, W)`` up to multiples of ``multiple``."""
    height, width = tensor.shape[-2:]
    padded_h = -(-height // multiple) * multiple
    padded_w = -(-width // multiple) * multiple
    if (padded_h, padded_w) == (height, width):
        return tensor
    if padded_h != height:
        tensor = tensor.index_select(-2, mirror_indices(height, padded_h, tensor.device))
    if padded_w != width:
        tensor = tensor.index_select(-1, mirror_indices(width, padded_w, tensor.device))
    return tensor


def check_lightness(lightness: Tensor) -> None:
    """Raise ValueError unless ``lightness`` is ``(N, 1, H, W)`` with H, W >= 1."""
    if lightness.dim() != 4 or lightness.shape[1] != 1:
        raise ValueError(f"lightness must be (N, 1, H, W), got {tuple(lightness.shape)}")
    if lightness.shape[-1] < 1 or lightness.shape[-2] < 1:
        raise ValueError(f"lightness must be at least 1x1, got {tuple(lightness.shape)}")


def receptive_reach(ops: list[tuple[str, int, int]], probe: int = 2048) -> int:
    """How far (input pixels) an output pixel's value reaches into the input, at most.

    ``ops`` lists the local path's spatial operations in order: ``("conv", kernel, stride)``
    (zero padding ``(kernel - 1) // 2``), ``("nearest", factor, 0)`` or ``("bilinear", factor, 0)``
    (``align_corners=False``). Dependencies are traced position by position on a 1-D line of
    ``probe`` pixels and measured in its middle, so the answer is exact for these operations
    rather than a textbook estimate.
    """
    low = list(range(probe))
    high = list(range(probe))
    for kind, size, stride in ops:
        length = len(low)
        if kind == "conv":
            pad = (size - 1) // 2
            count = -(-length // stride)
            taps = [
                [t for t in range(stride * p - pad, stride * p - pad + size) if 0 <= t < length]
                for p in range(count)
            ]
            low = [min(low[t] for t in tap) for tap in taps]
            high = [max(high[t] for t in tap) for tap in taps]
        elif kind == "nearest":
            low = [low[q // size] for q in range(length * size)]
            high = [high[q // size] for q in range(length * size)]
        elif kind == "bilinear":
            pairs = []
            for q in range(length * size):
                first = max(int(((q + 0.5) / size - 0.5) // 1), 0)
                pairs.append((first, min(first + 1, length - 1)))
            low = [min(low[a], low[b]) for a, b in pairs]
            high = [max(high[a], high[b]) for a, b in pairs]
        else:
            raise ValueError(f"unknown spatial operation {kind!r}")
    if len(low) != probe:
        raise ValueError("the operations must map the input grid back onto itself")
    middle = range(probe // 3, 2 * probe // 3)
    return max(max(u - low[u], high[u] - u) for u in middle)
