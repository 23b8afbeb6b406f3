"""Chroma prediction for a whole working image: global features once, local network by tiles.

MONAI-style separation so the tiling is testable without a model:

* :func:`plan_tiles` (splitter) cuts an ``H x W`` image into cores on a ``stride``-aligned grid,
  each with an input window = core + ``halo`` on every side, clipped to the image;
* the predictor is any ``(window (1, 1, h, w)) -> (1, C, h, w)`` function;
* :func:`sliding_window` (merger) writes each window's core back into the output.

With ``halo >= network.receptive_margin`` and origins on multiples of ``network.stride``, every
core equals the same region of the untiled result (up to float rounding of different kernel
choices), so no blending windows are needed. :class:`NetworkPredictor` implements the
pipeline's ``ChromaPredictor`` protocol on top of this.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional

from archive_colorizer.errors import (
    ConfigurationError,
    DeviceError,
    InferenceError,
    ModelError,
)
from archive_colorizer.inference.cards import ModelCard
from archive_colorizer.inference.device import (
    cpu_threads,
    deterministic,
    is_out_of_memory,
    release_cached_memory,
    uses_half_precision,
)
from archive_colorizer.inference.networks.base import ColorizationNet, resize_for_global

__all__ = [
    "NetworkPredictor",
]

#: run the working image in one piece up to this long side (px); tile above it
WHOLE_IMAGE_CAP = 2048
#: window side used when the image is above the cap and no tile size was given
DEFAULT_TILE_SIZE = 1024


@dataclass(frozen=True)
class Tile:
    """One tile: its core (written to the output) and input window, in image pixels."""

    core_y0: int
    core_y1: int
    core_x0: int
    core_x1: int
    window_y0: int
    window_y1: int
    window_x0: int
    window_x1: int

    @property
    def window(self) -> tuple[slice, slice]:
        """Slices of the image that feed the network."""
        return slice(self.window_y0, self.window_y1), slice(self.window_x0, self.window_x1)

    @property
    def core(self) -> tuple[slice, slice]:
        """Slices of the image this tile writes."""
        return slice(self.core_y0, self.core_y1), slice(self.core_x0, self.core_x1)

    @property
    def core_in_window(self) -> tuple[slice, slice]:
        """Slices of the window's output that are the core."""
        y = self.core_y0 - self.window_y0
        x = self.core_x0 - self.window_x0
        return (
            slice(y, y + self.core_y1 - self.core_y0),
            slice(x, x + self.core_x1 - self.core_x0),
        )


def round_up(value: int, multiple: int) -> int:
    """The smallest multiple of ``multiple`` that is >= ``value``."""
    return -(-value // multiple) * multiple


def aligned_halo(receptive_margin: int, stride: int) -> int:
    """The halo a network needs: its receptive margin rounded up to its stride (at least one)."""
    return max(stride, round_up(receptive_margin, stride))


def min_tile_size(halo: int, stride: int) -> int:
    """The smallest window accepted: a core at least as wide as the halo (and one stride) plus
    the halo on both sides. A thinner core would spend almost all the work on halos (a 16 px
    core in a 528 px window computes each output pixel ~1,000 times)."""
    return 2 * halo + max(stride, round_up(halo, stride))


def default_tile_size(halo: int, stride: int) -> int:
    """The window used when none is given: DEFAULT_TILE_SIZE, or four halos for a wide-reaching
    model, so that at least half of each window's side is core."""
    return round_up(max(DEFAULT_TILE_SIZE, 4 * halo), stride)


def plan_tiles(height: int, width: int, tile_size: int, halo: int, stride: int) -> list[Tile]:
    """Cover ``height x width`` with windows of at most ``tile_size`` px per side.

    Cores are ``tile_size - 2 * halo`` rounded down to a multiple of ``stride`` and start on
    multiples of it; windows extend cores by ``halo`` (a multiple of ``stride``) and are clipped
    to the image, so window origins are stride-aligned too. An image that fits one window is one
    tile (the whole image).
    """
    if height < 1 or width < 1:
        raise ValueError(f"image must be at least 1x1, got {height}x{width}")
    if stride < 1 or halo < 0 or halo % stride:
        raise ValueError(f"halo {halo} must be a non-negative multiple of stride {stride}")
    if height <= tile_size and width <= tile_size:
        return [Tile(0, height, 0, width, 0, height, 0, width)]
    core = (tile_size - 2 * halo) // stride * stride
    if core < stride:
        raise ValueError(
            f"tile size {tile_size} leaves no core after a {halo} px halo; "
            f"use at least {min_tile_size(halo, stride)}"
        )
    tiles = []
    for y0 in range(0, height, core):
        y1 = min(y0 + core, height)
        for x0 in range(0, width, core):
            x1 = min(x0 + core, width)
            tiles.append(
                Tile(
                    y0, y1, x0, x1,
                    max(0, y0 - halo), min(height, y1 + halo),
                    max(0, x0 - halo), min(width, x1 + halo),
                )
            )  # fmt: skip
    return tiles


def network_input_size(height: int, width: int, max_side: int | None) -> tuple[int, int]:
    """``(h, w)`` the network sees: ``height x width`` scaled (rounded, at least 1) so that its
    long side is at most ``max_side``; unchanged when it already fits or ``max_side`` is None."""
    if max_side is None or max(height, width) <= max_side:
        return height, width
    scale = max_side / max(height, width)
    return (
        min(max_side, max(1, round(height * scale))),
        min(max_side, max(1, round(width * scale))),
    )


def sliding_window(
    image: Tensor, predict: Callable[[Tensor], Tensor], tiles: list[Tile], channels: int
) -> Tensor:
    """Merge ``predict(window)`` cores of ``image`` ``(1, C, H, W)`` into ``(1, channels, H, W)``.

    The output lives on the CPU in float32 whatever device ``predict`` computes on.
    """
    height, width = image.shape[-2:]
    output = torch.empty((1, channels, height, width), dtype=torch.float32)
    for tile in tiles:
        window_y, window_x = tile.window
        result = predict(image[:, :, window_y, window_x])
        core_y, core_x = tile.core_in_window
        output[:, :, tile.core[0], tile.core[1]] = result[:, :, core_y, core_x].float().cpu()
    return output


@dataclass(frozen=True)
class ClassPrior:
    """A colour prior on the class head: the log of a distribution over the classes, its
    weight, and the floor the page's own mean class distribution is mixed with."""

    log_h: Tensor
    weight: float
    floor: float


@dataclass
class RunInfo:
    """How the last :meth:`NetworkPredictor.predict_ab` call ran."""

    tile_size: int | None = None  # None: the whole image in one window
    tiles: int = 0
    retries: int = 0
    global_seconds: float = 0.0
    local_seconds: float = 0.0


@contextlib.contextmanager
def decoding_options(network: ColorizationNet, options: dict[str, float]) -> Iterator[None]:
    """The network's decoding attributes (``mix``, ``temperature``) set to ``options`` for
    the block, then restored."""
    saved = {name: getattr(network, name) for name in options if hasattr(network, name)}
    missing = sorted(set(options) - set(saved))
    if missing:
        raise ModelError(
            f"the model's card sets decoding option(s) {', '.join(missing)} its network lacks"
        )
    try:
        for name, value in options.items():
            setattr(network, name, float(value))
        yield
    finally:
        for name, value in saved.items():
            setattr(network, name, value)


class NetworkPredictor:
    """Predicts a*, b* for a working-resolution L* image with a colorization network.

    Implements ``archive_colorizer.services.colorize.ChromaPredictor``. ``tile_size=None``
    runs images up to ``whole_cap`` px (long side) whole and tiles larger ones with
    ``default_tile_size`` windows; an explicit ``tile_size`` always tiles at that window size.
    On CUDA out-of-memory the window is halved down to the smallest useful size, then
    DeviceError is raised — grey is never returned as if it were colour.
    """

    def __init__(
        self,
        network: ColorizationNet,
        *,
        device: torch.device | None = None,
        half: bool = True,
        tile_size: int | None = None,
        whole_cap: int = WHOLE_IMAGE_CAP,
        model_name: str = "",
        weights_sha256: str = "",
        card: ModelCard | None = None,
        threads: int | None = None,
        max_side: int | None = None,
    ) -> None:
        self.device = device or torch.device("cpu")
        #: CPU threads used while predicting: results differ in the last float bits between
        #: thread counts, so it is fixed per predictor and recorded in :meth:`describe`
        self.threads = threads or torch.get_num_threads()
        self.half = uses_half_precision(self.device, half)
        self.network = network.eval().to(self.device)
        if self.half:
            self.network.half()
        self.stride = network.stride
        self.halo = aligned_halo(network.receptive_margin, network.stride)
        self.floor = min_tile_size(self.halo, self.stride)
        self.default_tile = default_tile_size(self.halo, self.stride)
        if tile_size is not None and tile_size < self.floor:
            raise ConfigurationError(
                f"--tile-size {tile_size} is too small for this model: its windows need a "
                f"{self.halo} px halo on each side and a core at least as wide; use at least "
                f"{self.floor} ({self.default_tile}, the default, is a sensible value)"
            )
        self.tile_size = tile_size
        self.whole_cap = whole_cap
        if max_side is not None and max_side < self.stride:
            raise ConfigurationError(
                f"network max side {max_side} is smaller than the model's stride {self.stride}"
            )
        #: the long side the network sees at most (see ModelCard.network_max_side)
        self.max_side = max_side
        self.model_name = model_name
        self.weights_sha256 = weights_sha256
        self.card = card
        self.last_run = RunInfo()

    @property
    def hint_inputs(self) -> bool:
        """Whether the network takes colour hints as inputs (``predict_ab(hints=...)``)."""
        return bool(getattr(self.network, "hint_inputs", False))

    @property
    def dtype(self) -> torch.dtype:
        """The dtype the network computes in."""
        return torch.float16 if self.half else torch.float32

    @property
    def class_grid(self) -> int:
        """Side of the model's a*, b* class grid (0: no class head, so no colour prior)."""
        return int(self.network.class_grid)

    def describe(self) -> dict[str, Any]:
        """Parameters that influence the output (for provenance and job keys)."""
        return {
            "device": str(self.device),
            "precision": "float16" if self.half else "float32",
            "tile_size": self.tile_size,
            "whole_cap": self.whole_cap,
            "network_max_side": self.max_side,
            "halo": self.halo,
            "threads": self.threads if self.device.type == "cpu" else None,
        }

    def predict_ab(
        self,
        lightness: np.ndarray,
        hints: np.ndarray | None = None,
        reference: np.ndarray | None = None,
        ab_prior: np.ndarray | None = None,
        prior_weight: float = 1.0,
        prior_floor: float = 0.3,
        render: str | None = None,
    ) -> np.ndarray:
        """a*, b* ``float32 (2, h, w)`` for L* ``(h, w)`` in 0..100 at the working resolution.

        ``render``: how the output will be rendered; the card's decoding options for it
        (``ModelCard.render_config``) replace the config's for this call.

        ``hints``: colour hints at the same resolution, ``float32 (3, h, w)``: a*, b* (0 where
        no hint) and the mask (``archive_colorizer.imaging.hints.HintMaps.stacked()``); only
        for a model with hint inputs.
        ``reference``: the L* ``(h', w')`` of a colour reference (any size): the network's
        global prior is computed from it instead of from ``lightness`` (Iizuka et al. 2016,
        §5), so every page given the same reference shares one global "mood".
        ``ab_prior``: a distribution over the model's class bins (``(Q,)``, positive; a colour
        reference's ab histogram, ``archive_colorizer.imaging.reference.ab_prior``) relative
        to the page's own mean class distribution ``m`` (over the whole image, mixed with
        ``prior_floor`` uniform like the prior): the class distribution becomes
        ``p'(q) ∝ p(q) (ab_prior(q) / m(q)) ** prior_weight`` before the annealed mean, so
        colours the reference has more of than the page's prediction gain; ``prior_weight``
        0 leaves the output exactly as without it. It costs a second pass of the network.
        """
        array = np.ascontiguousarray(lightness, dtype=np.float32)
        if array.ndim != 2 or array.shape[0] < 1 or array.shape[1] < 1:
            raise InferenceError(f"lightness must be a non-empty 2-D array, got {array.shape}")
        image = torch.from_numpy(array)[None, None]
        prior_source = None
        if reference is not None:
            ref = np.ascontiguousarray(reference, dtype=np.float32)
            if ref.ndim != 2 or ref.shape[0] < 1 or ref.shape[1] < 1:
                raise InferenceError(
                    f"the reference must be a non-empty 2-D L* array, got {ref.shape}"
                )
            prior_source = torch.from_numpy(ref)[None, None]
        log_prior = self._class_prior(ab_prior, prior_weight, prior_floor)
        if hints is not None:
            if not self.network.hint_inputs:
                raise InferenceError(
                    f"model {self.model_name or '?'} takes no colour hints; use a model trained "
                    "with hints (`archcolor train --hints`) or leave the hints out"
                )
            maps = np.ascontiguousarray(hints, dtype=np.float32)
            if maps.shape != (3, *array.shape):
                raise InferenceError(
                    f"hint maps must be (3, {array.shape[0]}, {array.shape[1]}) like the "
                    f"working image, got {maps.shape}"
                )
            # one tensor: the sliding window cuts L* and the hints alike
            image = torch.cat((image, torch.from_numpy(maps)[None]), dim=1)
        try:
            decoding = self.card.decoding(render) if self.card is not None else {}
            with (
                torch.inference_mode(),
                deterministic(self.device),
                cpu_threads(self.threads),
                decoding_options(self.network, decoding),
            ):
                ab = self._predict(image, prior_source, log_prior)
        except RuntimeError as error:  # not out-of-memory: _predict turns that into DeviceError
            first = str(error).strip().splitlines()[0] if str(error).strip() else type(error)
            raise InferenceError(
                f"model {self.model_name or '?'} failed on {self.device} for a "
                f"{array.shape[1]}x{array.shape[0]} working image: {first}"
            ) from error
        result = ab[0].numpy()
        if not np.isfinite(result).all():
            raise InferenceError(
                f"model {self.model_name or '?'} produced non-finite chroma on {self.device}; "
                "try --device cpu or another model"
            )
        return np.ascontiguousarray(result, dtype=np.float32)

    def _class_prior(
        self, ab_prior: np.ndarray | None, weight: float, floor: float
    ) -> ClassPrior | None:
        """The checked prior (None without one or at weight 0)."""
        if ab_prior is None or weight == 0.0:
            return None
        bins = self.network.class_grid**2
        prior = np.asarray(ab_prior, dtype=np.float64)
        if not bins or prior.shape != (bins,) or not (prior > 0).all():
            raise InferenceError(
                f"model {self.model_name or '?'} takes a colour prior over {bins} ab classes "
                f"(all positive), got {prior.shape}"
                if bins
                else f"model {self.model_name or '?'} has no class head to take a colour prior"
            )
        if not np.isfinite(weight) or weight < 0:
            raise InferenceError(f"the colour prior's weight must be >= 0, got {weight}")
        if not 0.0 < floor <= 1.0:
            raise InferenceError(f"the colour prior's floor must lie in (0, 1], got {floor}")
        return ClassPrior(torch.from_numpy(np.log(prior / prior.sum())), float(weight), floor)

    def _relative_prior(
        self, image: Tensor, global_vec: Tensor, tiles: list[Tile], prior: ClassPrior
    ) -> Tensor:
        """``weight (log h - log m)`` on the device: ``m`` the page's mean class distribution
        over the tiles' cores (so tiled equals untiled), mixed with ``floor`` uniform."""
        scale = self.network.heads_scale
        total = torch.zeros(prior.log_h.shape, dtype=torch.float64)
        count = 0
        for tile in tiles:
            window = image[:, :, tile.window[0], tile.window[1]]
            hints = window[:, 1:] if window.shape[1] > 1 else None
            probs = self.network.class_probabilities(window[:, :1], global_vec, hints)
            rows, cols = tile.core_in_window
            core = probs[
                :, :,
                rows.start // scale : -(-rows.stop // scale),
                cols.start // scale : -(-cols.stop // scale),
            ]  # fmt: skip
            total += core.double().sum(dim=(0, 2, 3)).cpu()
            count += core.shape[2] * core.shape[3]
        mean = total / max(count, 1)
        page = (1.0 - prior.floor) * mean / mean.sum() + prior.floor / mean.numel()
        relative = prior.weight * (prior.log_h - torch.log(page))
        return relative.to(self.device, torch.float32)

    def _predict(
        self, image: Tensor, prior_source: Tensor | None = None, log_prior: ClassPrior | None = None
    ) -> Tensor:
        height, width = image.shape[-2:]
        reduced = network_input_size(height, width, self.max_side)
        if reduced == (height, width):
            return self._predict_at_size(image, prior_source, log_prior)
        small = functional.interpolate(image, size=reduced, mode="area")
        ab = self._predict_at_size(small, prior_source, log_prior)
        return functional.interpolate(
            ab, size=(height, width), mode="bilinear", align_corners=False
        )

    def _predict_at_size(
        self, image: Tensor, prior_source: Tensor | None = None, prior: ClassPrior | None = None
    ) -> Tensor:
        info = RunInfo()
        started = time.perf_counter()
        on_device = image.to(self.device, self.dtype)
        whole = image[:, :1] if prior_source is None else prior_source
        try:
            global_vec = self.network.global_features(
                resize_for_global(whole.to(self.device), self.network.global_size).to(self.dtype)
            )
        except RuntimeError as error:  # torch.OutOfMemoryError is one
            if not is_out_of_memory(error):
                raise
            release_cached_memory(self.device)
            raise DeviceError(
                f"{self.device} ran out of memory computing global features; use --device cpu"
            ) from None
        info.global_seconds = time.perf_counter() - started

        log_prior: list[Tensor] = []  # with a prior: its log relative to the page's classes

        def local(window: Tensor) -> Tensor:
            if log_prior:
                hints = window[:, 1:] if window.shape[1] > 1 else None
                return self.network.colorize_with_prior(
                    window[:, :1], global_vec, log_prior[0], hints
                )
            if window.shape[1] == 1:
                return self.network.colorize(window, global_vec)
            return self.network.colorize_hinted(window[:, :1], global_vec, window[:, 1:])

        height, width = image.shape[-2:]
        tile_size = self.tile_size
        if tile_size is None and max(height, width) > self.whole_cap:
            tile_size = self.default_tile
        started = time.perf_counter()
        while True:
            size = max(height, width) if tile_size is None else tile_size
            tiles = plan_tiles(height, width, size, self.halo, self.stride)
            try:
                if prior is not None:
                    log_prior[:] = [self._relative_prior(on_device, global_vec, tiles, prior)]
                output = sliding_window(on_device, local, tiles, 2)
                break
            except RuntimeError as error:  # torch.OutOfMemoryError is one
                if not is_out_of_memory(error):
                    raise
                release_cached_memory(self.device)
                if size <= self.floor:
                    raise DeviceError(
                        f"{self.device} ran out of memory even with {size} px tiles (the "
                        f"smallest for model {self.model_name or '?'}); use --device cpu or "
                        "a smaller --chroma-size"
                    ) from None
                tile_size = max(self.floor, size // 2)
                info.retries += 1
        info.local_seconds = time.perf_counter() - started
        info.tile_size = None if len(tiles) == 1 else size
        info.tiles = len(tiles)
        self.last_run = info
        return output
