"""Training colorization networks: data, simulated-engraving augmentation, losses, checkpoints.

* Data: random ``size`` x ``size`` crops (images shorter than that are enlarged first) and
  horizontal flips; sampling by source (pick a source, uniformly or by ``source_shares``,
  then an image in it).
* Real coloured prints (:data:`~archive_colorizer.imaging.datasets.PRINT_SOURCES`) are split
  into ink and wash (:func:`~archive_colorizer.imaging.prints.decompose_print`, once per image,
  kept in memory as 8-bit planes): the INPUT is the ink layer's L*, the TARGET the wash's a*, b*;
  before cropping they are scaled by a random factor in ``PRINT_SCALE``; a ``bilevel_share``
  of them first have their ink layer thresholded (:func:`bilevel_ink`, the cut drawn from
  ``BILEVEL_CUT``) so the network learns to colour bilevel scans too (the scaling then leaves
  grey edges, as the page reduction does); no other augmentation.
  With probability ``augment_probability`` the network INPUT is replaced by a simulated
  engraving of the crop (:mod:`archive_colorizer.imaging.simulate`, a style drawn from
  ``augment``); the TARGET a*, b* always come from the clean photo.
* Every batch is drawn from a generator seeded with ``(seed, epoch, step)``, so a run resumed
  from a checkpoint sees exactly the batches the uninterrupted run would have seen.
* Losses: smooth-L1 on a*, b* (in units of 10) plus, for networks with a classification head,
  cross-entropy over quantised ab bins weighted by Zhang et al.'s class rebalancing (an empirical
  prior of the training data mixed half-and-half with uniform, inverted, normalised).
* ``iizuka-effl0``: stage 1 (the first ``freeze_encoder_epochs`` epochs) trains everything but
  the pretrained encoder, whose features are computed without gradients; stage 2 trains end to
  end with the encoder at ``lr / 10`` and the rest at ``lr / 3``. Encoder BatchNorm statistics
  stay frozen throughout (small batches). Other architectures train end to end at ``lr``.
* ``cache_features``: the frozen-encoder epochs train the decoder on the encoder features of a
  fixed set of samples computed once (:class:`FeatureCache`): on a CPU the encoder's forward pass
  is most of a step's cost, so the decoder sees many more samples per minute. With
  ``fresh_cache`` every frozen-encoder epoch caches a new draw (batches drawn under
  ``CACHE_EPOCH + epoch``) instead: distinct crops throughout, one checkpoint per draw.
* ``init_from``: start from an installed model's weights (fine-tuning it further).
* ``hints`` (Zhang et al. 2017): the network gets colour-hint inputs (``hint_inputs``; from an
  ``init_from`` model without them, their weights start at zero) and every step samples hints
  from each crop's ground truth at 1/4 (:func:`sample_hint_maps`: none for ~30 % of the crops,
  else a geometric count up to :data:`HINT_MAX` of points and short strokes coloured with the
  local mean, some with noise) from a generator of its own, so the image batches (and the
  feature cache) are exactly those of a run without hints.
* A checkpoint after every epoch (and when the time budget stops a run) holds everything needed
  for an exact resume. At the end the weights go to ``weights.safetensors`` with a model card.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import torch
from numpy.typing import NDArray
from PIL import Image
from safetensors.torch import save_file
from torch import Tensor, nn
from torch.nn import functional

from archive_colorizer.errors import ConfigurationError, ModelError
from archive_colorizer.imaging.atomic import file_mode
from archive_colorizer.imaging.color import grey_to_lightness, srgb_codes_to_lab
from archive_colorizer.imaging.datasets import ImageItem, by_source, load_rgb, spread
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.hints import Hint, rasterise_hints
from archive_colorizer.imaging.prints import decompose_print
from archive_colorizer.imaging.simulate import STYLES, simulate
from archive_colorizer.inference.cards import (
    MARKDOWN_FILE,
    WEIGHTS_FILE,
    ModelCard,
    now_utc,
    render_markdown,
    write_card,
)
from archive_colorizer.inference.networks import build_network
from archive_colorizer.inference.networks.base import ColorizationNet
from archive_colorizer.inference.networks.iizuka_effl0 import AB_RANGE
from archive_colorizer.inference.train_options import TrainOptions

__all__ = [
    "Reporter",
    "TrainConfig",
    "TrainResult",
    "average_checkpoints",
    "train",
]

CHECKPOINT_DIR = "checkpoints"
LAST_CHECKPOINT = "last.pt"
PRIOR_IMAGES = 400
PRIOR_SIDE = 64
#: random scale range of print planes before cropping (more plate per crop)
PRINT_SCALE = (0.6, 1.0)
#: range of the L* threshold that makes a print's ink layer bilevel (``bilevel_share``)
BILEVEL_CUT = (40.0, 70.0)
REBALANCE_LAMBDA = 0.5
#: hint sampling (at 1/4 of the crop): share of crops without hints, the most hints per crop,
#: the geometric distribution's p for the others, share of strokes (else points), radii (1/4
#: px), share of hints whose colour is off by normal noise of HINT_NOISE_AB in a* and b*
HINT_NONE_SHARE = 0.3
HINT_MAX = 30
HINT_GEOMETRIC_P = 0.125
HINT_STROKE_SHARE = 0.3
HINT_RADII = (0.0, 0.0, 1.0, 2.0)
HINT_NOISE_SHARE = 0.15
HINT_NOISE_AB = 6.0
#: a stroke whose pixels' true a* or b* spread more than this (std) becomes a point: a
#: curator's stroke stays inside one colour
HINT_STROKE_SPREAD = 6.0
#: the hint generator's stream tag (seeded with seed, epoch, step and this)
HINT_STREAM = 4243


@dataclass(kw_only=True)
class TrainConfig(TrainOptions):
    """Everything a training run depends on (recorded in the checkpoint and the model card):
    the :class:`TrainOptions`, the images and the output folder."""

    train_items: list[ImageItem]
    val_items: list[ImageItem]
    out: Path
    data_description: str = ""

    def validate(self) -> None:
        if self.size < 32 or self.size % 16:
            raise ConfigurationError(
                f"--size must be a multiple of 16, at least 32; got {self.size}"
            )
        if self.epochs < 1 or self.batch < 1:
            raise ConfigurationError("--epochs and --batch must be at least 1")
        if not 0 <= self.freeze_encoder_epochs <= self.epochs:
            raise ConfigurationError("--freeze-encoder-epochs must be between 0 and --epochs")
        if self.lr <= 0:
            raise ConfigurationError(f"--lr must be positive, got {self.lr}")
        if self.class_weight < 0:
            raise ConfigurationError(f"--class-weight must be >= 0, got {self.class_weight}")
        if not 0.0 <= self.bilevel_share <= 1.0:
            raise ConfigurationError(
                f"--bilevel-share must lie in [0, 1], got {self.bilevel_share}"
            )
        unknown = [style for style in self.augment if style not in STYLES]
        if unknown:
            raise ConfigurationError(
                f"--augment: unknown style(s) {', '.join(unknown)}; use none or {', '.join(STYLES)}"
            )
        if not self.train_items:
            raise ConfigurationError("no training images")
        source_weights(self.train_items, self.source_shares)
        shape = self.network_shape()
        if self.hints and (
            not shape.hint_inputs or self.network_config.get("hint_inputs", True) is False
        ):
            raise ConfigurationError(
                "--hints needs a network with hint inputs: --arch iizuka-effl0 (without "
                '"hint_inputs": false in --network-config)'
            )
        if self.cache_features is not None:
            if shape.frozen_part() is None:
                raise ConfigurationError(
                    f"--cache-features needs a pretrained encoder; a {self.arch!r} network "
                    "has none (--arch iizuka-effl0 has)"
                )
            if self.cache_features < self.batch:
                raise ConfigurationError(
                    f"--cache-features {self.cache_features} is smaller than one batch "
                    f"({self.batch})"
                )

    def network_options(self) -> dict[str, Any]:
        """The network's build options for this run (``--network-config``, hint inputs)."""
        options = dict(self.network_config)
        if self.hints:
            options["hint_inputs"] = True
        return options

    def network_shape(self) -> ColorizationNet:
        """The network this run trains, built without memory (on torch's meta device): what
        it can do, to check the options against before anything is loaded."""
        try:
            with torch.device("meta"):
                return build_network(self.arch, **self.network_options())
        except ModelError:
            if self.hints:
                raise ConfigurationError(
                    "--hints needs a network with hint inputs: --arch iizuka-effl0"
                ) from None
            raise

    @property
    def steps_per_epoch(self) -> int:
        samples = len(self.train_items)
        if self.max_samples is not None:
            samples = min(samples, self.max_samples)
        return max(1, math.ceil(samples / self.batch))

    def describe(self) -> dict[str, Any]:
        """The hyper-parameters, JSON-ready."""
        return {
            "arch": self.arch,
            "network_config": self.network_config,
            "size": self.size,
            "epochs": self.epochs,
            "batch": self.batch,
            "lr": self.lr,
            "seed": self.seed,
            "augment": list(self.augment),
            "augment_probability": self.augment_probability,
            "freeze_encoder_epochs": self.freeze_encoder_epochs,
            "class_weight": self.class_weight,
            "max_samples_per_epoch": self.max_samples,
            "steps_per_epoch": self.steps_per_epoch,
            "time_budget_s": self.time_budget_s,
            "threads": self.threads,
            "device": self.device,
            "init_from": str(self.init_from) if self.init_from else None,
            "cache_features": self.cache_features,
            # only when on: the runs (and golden fingerprints) from before it keep their record
            **({"fresh_cache": True} if self.fresh_cache else {}),
            "source_shares": self.source_shares,
            "bilevel_share": self.bilevel_share,
            "hints": self.hints,
        }


@dataclass
class StepInfo:
    """What the reporter hears after each step."""

    epoch: int
    step: int
    steps: int
    stage: str
    loss: float
    images_per_s: float
    elapsed_s: float


@dataclass
class TrainResult:
    """The outcome of :func:`train`."""

    model_dir: Path
    card: ModelCard | None
    history: list[dict[str, Any]]
    samples_seen: int
    elapsed_s: float
    stopped_by_budget: bool
    checkpoint: Path


class Reporter(Protocol):
    """Progress sink (the CLI's shows a rich progress bar)."""

    def stage(self, name: str, epoch: int, steps: int) -> None:
        """A new epoch of ``steps`` steps begins in stage ``name``."""

    def step(self, info: StepInfo) -> None:
        """One optimisation step finished."""

    def epoch(self, summary: dict[str, Any]) -> None:
        """An epoch finished (``summary`` as stored in the history)."""


class SilentReporter:
    """A :class:`Reporter` that reports nothing."""

    def stage(self, name: str, epoch: int, steps: int) -> None:
        pass

    def step(self, info: StepInfo) -> None:
        pass

    def epoch(self, summary: dict[str, Any]) -> None:
        pass


# ---------------------------------------------------------------- data


def _at_least(rgb: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """``rgb`` enlarged (bicubic) so that its short side is at least ``size``."""
    height, width = rgb.shape[:2]
    if min(height, width) >= size:
        return rgb
    scale = size / min(height, width)
    new = (max(size, round(width * scale)), max(size, round(height * scale)))
    return np.asarray(Image.fromarray(rgb).resize(new, Image.Resampling.BICUBIC))


def _random_square(array: NDArray[Any], size: int, rng: np.random.Generator) -> NDArray[Any]:
    """A random ``size`` square of ``(H, W, ...)``, flipped horizontally half of the time."""
    height, width = array.shape[:2]
    top = int(rng.integers(0, height - size + 1))
    left = int(rng.integers(0, width - size + 1))
    crop = array[top : top + size, left : left + size]
    if rng.random() < 0.5:
        crop = crop[:, ::-1]
    return np.ascontiguousarray(crop)


def _crop(rgb: NDArray[np.uint8], size: int, rng: np.random.Generator) -> NDArray[np.uint8]:
    return _random_square(_at_least(rgb, size), size, rng)


def centre_crop(rgb: NDArray[np.uint8], size: int) -> NDArray[np.uint8]:
    """The central ``size`` x ``size`` square (enlarging small images first)."""
    rgb = _at_least(rgb, size)
    height, width = rgb.shape[:2]
    top, left = (height - size) // 2, (width - size) // 2
    return np.ascontiguousarray(rgb[top : top + size, left : left + size])


def input_lightness(rgb: NDArray[np.uint8], style: str | None, seed: int) -> NDArray[np.float32]:
    """The network input L* of an RGB crop: its own L*, or that of a simulated engraving."""
    if style is None:
        return srgb_codes_to_lab(rgb, 8)[0]
    rendered = simulate(rgb, style, seed)
    if rendered.ndim == 3:
        return srgb_codes_to_lab(rendered, 8)[0]
    return grey_to_lightness(rendered, 8)


def source_weights(items: list[ImageItem], shares: dict[str, float]) -> NDArray[np.float64]:
    """Sampling probability of each source of ``items`` (sorted as :func:`by_source`)."""
    sources = list(by_source(items))
    unknown = sorted(set(shares) - set(sources))
    if unknown:
        raise ConfigurationError(
            f"--source-share names source(s) {', '.join(unknown)} not in the training images "
            f"(sources: {', '.join(sources)})"
        )
    if any(not 0 < share < 1 for share in shares.values()) or sum(shares.values()) > 1:
        raise ConfigurationError(
            f"--source-share {shares}: each share must lie in (0, 1) and they must sum to <= 1"
        )
    rest = [source for source in sources if source not in shares]
    left = 1.0 - sum(shares.values())
    if not rest and left > 1e-9:
        raise ConfigurationError(
            f"--source-share {shares}: the shares of all sources must sum to 1"
        )
    weights = [shares.get(source, left / max(len(rest), 1)) for source in sources]
    return np.asarray(weights, dtype=np.float64) / float(sum(weights))


def print_planes(item: ImageItem) -> NDArray[np.float32]:
    """A print's ``(H, W, 3)`` planes: ink L*, wash a*, wash b* (float32)."""
    layers = decompose_print(load_rgb(item.path))
    return np.stack((layers.ink_lightness, layers.wash_a, layers.wash_b), axis=-1)


def bilevel_ink(lightness: NDArray[np.float32], threshold: float) -> NDArray[np.float32]:
    """The ink layer as a bilevel scan would record it: L* 0 below ``threshold``, else 100."""
    return np.where(lightness < threshold, np.float32(0.0), np.float32(100.0)).astype(np.float32)


def _pack(planes: NDArray[np.float32]) -> NDArray[np.int16]:
    """Planes as int16 in tenths (L* 0..1000, a*/b* ±1280): exact enough, half the memory."""
    return np.clip(np.rint(planes * 10.0), -32768, 32767).astype(np.int16)


def _resize_planes(planes: NDArray[np.float32], width: int, height: int) -> NDArray[np.float32]:
    return np.stack(
        [
            np.asarray(
                Image.fromarray(np.ascontiguousarray(planes[..., i]), mode="F").resize(
                    (width, height), Image.Resampling.BILINEAR
                )
            )
            for i in range(planes.shape[2])
        ],
        axis=-1,
    ).astype(np.float32)


def crop_planes(
    planes: NDArray[np.float32], size: int, rng: np.random.Generator, scale: float = 1.0
) -> NDArray[np.float32]:
    """A random ``size`` square of float planes ``(H, W, C)`` after scaling them (and enlarging
    them when shorter than ``size``), flipped horizontally half of the time."""
    height, width = planes.shape[:2]
    scale = max(scale, size / min(height, width))
    if abs(scale - 1.0) > 1e-6:
        width, height = max(size, round(width * scale)), max(size, round(height * scale))
        planes = _resize_planes(planes, width, height)
    return _random_square(planes, size, rng)


class BatchSource:
    """Deterministic batches: ``batch(epoch, step)`` depends only on the config and its args."""

    def __init__(self, config: TrainConfig) -> None:
        self.config = config
        self.groups = list(by_source(config.train_items).values())
        self.weights = source_weights(config.train_items, config.source_shares)
        self._prints: dict[Path, NDArray[np.int16]] = {}

    def release(self) -> None:
        """Forget the decomposed prints (after the feature cache is built)."""
        self._prints.clear()

    def planes(self, item: ImageItem) -> NDArray[np.float32]:
        """A print's planes (decomposed once, then kept)."""
        packed = self._prints.get(item.path)
        if packed is None:
            packed = self._prints[item.path] = _pack(print_planes(item))
        return packed.astype(np.float32) / np.float32(10.0)

    def sample(self, item: ImageItem, rng: np.random.Generator) -> tuple[NDArray, NDArray]:
        """``(input L* (S,S), target ab (2,S,S))`` of one random crop of ``item``."""
        config = self.config
        if item.is_print:
            scale = float(rng.uniform(*PRINT_SCALE))
            planes = self.planes(item)
            # draw only when enabled, so runs without it keep their exact batches
            if config.bilevel_share > 0 and rng.random() < config.bilevel_share:
                planes[..., 0] = bilevel_ink(planes[..., 0], float(rng.uniform(*BILEVEL_CUT)))
            crop = crop_planes(planes, config.size, rng, scale)
            return crop[..., 0], np.stack((crop[..., 1], crop[..., 2]))
        rgb = _crop(load_rgb(item.path), config.size, rng)
        _, a, b = srgb_codes_to_lab(rgb, 8)
        style = None
        if config.augment and rng.random() < config.augment_probability:
            style = config.augment[int(rng.integers(len(config.augment)))]
        sim_seed = int(rng.integers(2**31))
        return input_lightness(rgb, style, sim_seed), np.stack((a, b))

    def batch(self, epoch: int, step: int) -> tuple[Tensor, Tensor]:
        """``(input L* (B,1,S,S), target ab (B,2,S,S))`` float32."""
        config = self.config
        rng = np.random.default_rng([config.seed, epoch, step])
        inputs, targets = [], []
        for _ in range(config.batch):
            group = self.groups[int(rng.choice(len(self.groups), p=self.weights))]
            item = group[int(rng.integers(len(group)))]
            lightness, ab = self.sample(item, rng)
            inputs.append(lightness)
            targets.append(ab)
        return (
            torch.from_numpy(np.stack(inputs)[:, None].astype(np.float32)),
            torch.from_numpy(np.stack(targets).astype(np.float32)),
        )


def ab_prior(items: list[ImageItem], grid: int, seed: int, count: int = PRIOR_IMAGES) -> Tensor:
    """Empirical distribution of quantised ab over a source-balanced sample of ``items``."""
    groups = list(by_source(items).values())
    rng = np.random.default_rng([seed, 7919])
    histogram = np.zeros(grid * grid, dtype=np.float64)
    for _ in range(min(count, max(len(items), 1))):
        group = groups[int(rng.integers(len(groups)))]
        item = group[int(rng.integers(len(group)))]
        if item.is_print:
            planes = _resize_planes(print_planes(item), PRIOR_SIDE, PRIOR_SIDE)
            a, b = planes[..., 1], planes[..., 2]
        else:
            rgb = load_rgb(item.path)
            small = np.asarray(
                Image.fromarray(rgb).resize((PRIOR_SIDE, PRIOR_SIDE), Image.Resampling.BOX)
            )
            _, a, b = srgb_codes_to_lab(small, 8)
        index = ab_to_bins(torch.from_numpy(np.stack((a, b))), grid).numpy()
        histogram += np.bincount(index.reshape(-1), minlength=grid * grid)
    return torch.from_numpy(histogram / max(histogram.sum(), 1.0)).float()


def rebalancing_weights(prior: Tensor, grid: int) -> Tensor:
    """Zhang et al. 2016 class weights: ``1 / ((1-λ) p~ + λ/Q)``, with E_p[w] = 1."""
    smooth = prior.reshape(1, 1, grid, grid)
    kernel = torch.tensor([0.25, 0.5, 0.25])
    kernel2 = (kernel[:, None] * kernel[None, :]).reshape(1, 1, 3, 3)
    smooth = functional.conv2d(smooth, kernel2, padding=1).reshape(-1)
    smooth = smooth / smooth.sum().clamp_min(1e-12)
    observed = int((prior > 0).sum().item()) or 1
    weights = 1.0 / ((1.0 - REBALANCE_LAMBDA) * smooth + REBALANCE_LAMBDA / observed)
    weights = weights / (prior * weights).sum().clamp_min(1e-12)
    return weights.float()


def ab_to_bins(ab: Tensor, grid: int) -> Tensor:
    """Bin index of each ab pair: ``(..., 2, H, W)`` → ``(..., H, W)`` int64 (a-major)."""
    step = 2 * AB_RANGE / grid
    index = torch.floor((ab + AB_RANGE) / step).long().clamp(0, grid - 1)
    return index.select(-3, 0) * grid + index.select(-3, 1)


# ---------------------------------------------------------------- hints


def _covered(
    points: list[tuple[float, float]], radius: float, width: int, height: int
) -> NDArray[np.bool_]:
    shape = rasterise_hints([Hint(tuple(points), radius, (0.0, 0.0, 0.0))], (width, height),
                            (width, height))  # fmt: skip
    return np.asarray(shape.mask > 0)


def sample_hint_maps(target: NDArray[np.float32], rng: np.random.Generator) -> NDArray[np.float32]:
    """Hint maps ``(3, h, w)`` (a*, b* where hinted, else 0; mask) sampled from the true a*, b*
    ``(2, h, w)`` of a crop at 1/4: see the module docstring and the ``HINT_*`` constants."""
    _, height, width = target.shape
    maps = np.zeros((3, height, width), dtype=np.float32)
    if rng.random() < HINT_NONE_SHARE:
        return maps
    count = min(HINT_MAX, int(rng.geometric(HINT_GEOMETRIC_P)))
    for _ in range(count):
        x, y = float(rng.uniform(0, width - 1)), float(rng.uniform(0, height - 1))
        radius = float(HINT_RADII[int(rng.integers(len(HINT_RADII)))])
        points = [(x, y)]
        if rng.random() < HINT_STROKE_SHARE:
            for _ in range(int(rng.integers(1, 4))):
                angle, length = float(rng.uniform(0, 2 * math.pi)), float(rng.uniform(2, 6))
                x = min(max(x + length * math.cos(angle), 0.0), width - 1.0)
                y = min(max(y + length * math.sin(angle), 0.0), height - 1.0)
                points.append((x, y))
        covered = _covered(points, radius, width, height)
        if len(points) > 1 and float(target[:, covered].std(axis=1).max()) > HINT_STROKE_SPREAD:
            covered = _covered(points[:1], radius, width, height)  # crosses an edge: a point
        a, b = float(target[0][covered].mean()), float(target[1][covered].mean())
        if rng.random() < HINT_NOISE_SHARE:
            a += float(rng.normal(0, HINT_NOISE_AB))
            b += float(rng.normal(0, HINT_NOISE_AB))
        maps[0][covered], maps[1][covered], maps[2][covered] = a, b, 1.0
    return maps


def hint_batch(target_quarter: Tensor, seed: int, epoch: int, step: int) -> Tensor:
    """Hint maps ``(B, 3, h, w)`` for a batch's true a*, b* at 1/4 ``(B, 2, h, w)`` (CPU), from
    a generator seeded by ``(seed, epoch, step)`` of its own (:data:`HINT_STREAM`)."""
    rng = np.random.default_rng([seed, epoch, step, HINT_STREAM])
    truth = target_quarter.detach().float().cpu().numpy()
    return torch.from_numpy(np.stack([sample_hint_maps(sample, rng) for sample in truth]))


# ---------------------------------------------------------------- model steps


def forward_train(
    network: ColorizationNet, lightness: Tensor, frozen_encoder: bool, hints: Tensor | None = None
) -> tuple[Tensor, Tensor | None, int]:
    """``(ab prediction, class logits or None, downscale of both)`` for training crops (with
    hint maps at 1/4 of the crops, for a network with hint inputs)."""
    regression, logits = network.training_heads(lightness, frozen_encoder, hints)
    return regression, logits, network.heads_scale


def compute_loss(
    network: ColorizationNet,
    lightness: Tensor,
    target_ab: Tensor,
    frozen_encoder: bool,
    class_weights: Tensor | None,
    class_weight: float,
    hints: Tensor | None = None,
) -> Tensor:
    """Smooth-L1 on ab (units of 10) + ``class_weight`` x rebalanced cross-entropy."""
    prediction, logits, scale = forward_train(network, lightness, frozen_encoder, hints)
    target = functional.avg_pool2d(target_ab, scale) if scale > 1 else target_ab
    return heads_loss(network, prediction, logits, target, class_weights, class_weight)


def heads_loss(
    network: ColorizationNet,
    prediction: Tensor,
    logits: Tensor | None,
    target: Tensor,
    class_weights: Tensor | None,
    class_weight: float,
) -> Tensor:
    """The loss of heads' outputs against ``target`` a*, b* at the heads' resolution."""
    loss = functional.smooth_l1_loss(prediction / 10.0, target / 10.0)
    if logits is not None and class_weights is not None and network.class_grid:
        bins = ab_to_bins(target, network.class_grid)
        per_pixel = functional.cross_entropy(logits, bins, reduction="none")
        loss = loss + class_weight * (per_pixel * class_weights[bins]).mean()
    return loss


#: BatchSource "epoch" numbers of the feature cache's chunks (never reached by real epochs)
CACHE_EPOCH = 1_000_000


class FeatureCache:
    """The frozen part's features of ``count`` training samples, computed once.

    Samples are ``BatchSource`` batches drawn under :data:`CACHE_EPOCH` (crops, flips and the
    simulated-engraving augmentation included), so the cache is a function of the config and
    the frozen part's weights, and a resumed run rebuilds exactly the same one. It keeps what the
    network's :meth:`~ColorizationNet.cache_features` returns, and the target a*, b* at the
    heads' resolution in float32.
    """

    def __init__(
        self,
        network: ColorizationNet,
        source: BatchSource,
        count: int,
        device: torch.device,
        reporter: Reporter,
        draw: int = CACHE_EPOCH,
    ) -> None:
        self.draw = draw
        chunks = math.ceil(count / source.config.batch)
        features: dict[str, list[Tensor]] = {}
        targets: list[Tensor] = []
        frozen = network.frozen_part()
        if frozen is not None:
            frozen.eval()
        reporter.stage("caching encoder features", draw, chunks)
        started = time.monotonic()
        with torch.no_grad():
            for chunk in range(chunks):
                lightness, target = source.batch(draw, chunk)
                for key, value in network.cache_features(lightness.to(device)).items():
                    features.setdefault(key, []).append(value.cpu())
                targets.append(functional.avg_pool2d(target, network.heads_scale))
                done = (chunk + 1) * source.config.batch
                spent = time.monotonic() - started
                rate = done / max(spent, 1e-9)
                reporter.step(StepInfo(draw, chunk + 1, chunks, "cache", math.nan, rate, spent))
        self.features = {key: torch.cat(values)[:count] for key, values in features.items()}
        self.targets = torch.cat(targets)[:count]

    def __len__(self) -> int:
        return int(self.targets.shape[0])

    def steps(self, max_samples: int | None, batch: int) -> int:
        """Steps in one cached epoch: a pass over the cache (or ``max_samples`` of it)."""
        samples = len(self) if max_samples is None else min(len(self), max_samples)
        return max(1, math.ceil(samples / batch))

    def order(self, seed: int, epoch: int) -> Tensor:
        """The epoch's sample order (a seeded permutation)."""
        rng = np.random.default_rng([seed, epoch, CACHE_EPOCH])
        return torch.from_numpy(rng.permutation(len(self)))

    def loss(
        self,
        network: ColorizationNet,
        indices: Tensor,
        device: torch.device,
        class_weights: Tensor | None,
        class_weight: float,
        hints: Tensor | None = None,
    ) -> Tensor:
        """The training loss of the decoder on the cached samples ``indices`` (with hint maps
        at 1/4, e.g. sampled from ``self.targets[indices]``)."""
        features = {key: value[indices].to(device) for key, value in self.features.items()}
        if hints is not None:
            hints = hints.to(device)
        regression, logits = network.decode_cached(features, hints)
        target = self.targets[indices].to(device)
        return heads_loss(network, regression, logits, target, class_weights, class_weight)


def set_stage(network: ColorizationNet, frozen: bool) -> None:
    """Train mode for the decoder; the encoder (if any) keeps BatchNorm statistics frozen."""
    network.train()
    part = network.frozen_part()
    if part is not None:
        part.eval()
        for parameter in part.parameters():
            parameter.requires_grad_(not frozen)


def make_optimizer(network: ColorizationNet, lr: float, frozen: bool) -> torch.optim.Optimizer:
    """Adam over the trainable parameters for the stage (see the module docstring)."""
    part = network.frozen_part()
    if part is None:
        return torch.optim.Adam(network.parameters(), lr=lr)
    in_part = {id(parameter) for parameter in part.parameters()}
    decoder = [p for p in network.parameters() if id(p) not in in_part]
    if frozen:
        return torch.optim.Adam(decoder, lr=lr)
    return torch.optim.Adam(
        [
            {"params": list(part.parameters()), "lr": lr / 10.0},
            {"params": decoder, "lr": lr / 3.0},
        ]
    )


def centre_sample(item: ImageItem, size: int) -> tuple[NDArray[np.float32], NDArray[np.float32]]:
    """``(input L* (S,S), target ab (2,S,S))`` of the central crop (prints: ink and wash)."""
    if item.is_print:
        planes = print_planes(item)
        height, width = planes.shape[:2]
        if min(height, width) < size:
            scale = size / min(height, width)
            width, height = max(size, round(width * scale)), max(size, round(height * scale))
            planes = _resize_planes(planes, width, height)
        top, left = (height - size) // 2, (width - size) // 2
        crop = planes[top : top + size, left : left + size]
        return np.ascontiguousarray(crop[..., 0]), np.stack((crop[..., 1], crop[..., 2]))
    lightness, a, b = srgb_codes_to_lab(centre_crop(load_rgb(item.path), size), 8)
    return lightness, np.stack((a, b))


@torch.no_grad()
def validate(network: ColorizationNet, items: list[ImageItem], size: int) -> dict[str, float]:
    """Mean |Δab| and ab RMSE of the network on centre crops of ``items`` (plain input; prints:
    ink layer in, wash out), overall and per content type (``val_<content>_ab_rmse``)."""
    if not items:
        return {}
    network.eval()
    errors, squares = [], []
    per_content: dict[str, list[float]] = {}
    for item in items:
        lightness, truth = centre_sample(item, size)
        prediction = network(torch.from_numpy(lightness)[None, None])[0].numpy()
        delta = prediction - truth
        errors.append(float(np.abs(delta).mean()))
        squares.append(float((delta**2).mean()))
        per_content.setdefault(item.content, []).append(squares[-1])
    result = {
        "val_ab_mae": float(np.mean(errors)),
        "val_ab_rmse": math.sqrt(float(np.mean(squares))),
    }
    for content, values in sorted(per_content.items()):
        result[f"val_{content}_ab_rmse"] = math.sqrt(float(np.mean(values)))
    return result


# ---------------------------------------------------------------- the loop


def build_for_training(config: TrainConfig) -> ColorizationNet:
    """A fresh network (with its :attr:`~ColorizationNet.training_build_options`: e.g.
    ``iizuka-effl0`` starts from the ImageNet encoder weights), or ``init_from``'s."""
    network_config = config.network_options()
    if config.init_from is not None:
        return network_from_model(config.init_from, config.arch, network_config)
    extra = config.network_shape().training_build_options
    return build_network(config.arch, **network_config, **extra)


def network_from_model(directory: Path, arch: str, overrides: dict[str, Any]) -> ColorizationNet:
    """The network of the installed model in ``directory`` (weights verified against its card),
    rebuilt with ``overrides`` of its config (decoding options; shapes must not change)."""
    from archive_colorizer.inference.cards import read_card
    from archive_colorizer.inference.registry import InstalledModel, load_network

    card = read_card(directory)
    if card.arch != arch:
        raise ConfigurationError(
            f"--init-from {directory}: that model is a {card.arch!r} network, not --arch {arch!r}"
        )
    network = load_network(InstalledModel(card=card, directory=directory))
    if not overrides:
        return network
    rebuilt = build_network(arch, **{**card.config, **overrides})
    try:
        rebuilt.adopt_weights(network)
    except RuntimeError as error:
        raise ConfigurationError(
            f"--network-config {overrides!r} changes the shape of {card.name}'s network "
            f"({str(error).splitlines()[0]}); only decoding options can differ from the model"
        ) from None
    return rebuilt


def _checkpoint_state(
    network: nn.Module,
    optimizer: torch.optim.Optimizer,
    epoch: int,
    step: int,
    samples: int,
    elapsed: float,
    history: list[dict[str, Any]],
    class_weights: Tensor | None,
    optimizer_frozen: bool,
) -> dict[str, Any]:
    return {
        "model": network.state_dict(),
        "optimizer": optimizer.state_dict(),
        "optimizer_frozen": optimizer_frozen,
        "epoch": epoch,
        "step": step,
        "samples": samples,
        "elapsed": elapsed,
        "history": history,
        "class_weights": class_weights,
    }


def _save(state: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_suffix(".tmp")
    torch.save(state, temporary)
    temporary.replace(path)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """A checkpoint written by :func:`train` (tensors and plain data only; no code is run)."""
    try:
        state: dict[str, Any] = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise ConfigurationError(f"--resume {path}: no such checkpoint") from None
    except (RuntimeError, OSError, EOFError) as error:
        raise ConfigurationError(f"--resume {path}: not a readable checkpoint ({error})") from None
    return state


def average_checkpoints(paths: Sequence[Path]) -> dict[str, Any]:
    """The last of ``paths`` with its model weights replaced by the mean over all of them
    (floating-point tensors; others, e.g. BatchNorm's batch counts, are the last's): a
    checkpoint to ``--resume`` from, so ``train`` writes the averaged weights as a model
    (weight averaging of one run's epochs, Izmailov et al. 2018)."""
    if not paths:
        raise ConfigurationError("no checkpoints to average")
    states = [load_checkpoint(Path(path)) for path in paths]
    last = states[-1]
    averaged: dict[str, Tensor] = {}
    for key, value in last["model"].items():
        if value.is_floating_point():
            stacked = torch.stack([state["model"][key].double() for state in states])
            averaged[key] = stacked.mean(dim=0).to(value.dtype)
        else:
            averaged[key] = value
    return {**last, "model": averaged, "averaged_from": [str(path) for path in paths]}


def train(
    config: TrainConfig,
    resume: Path | None = None,
    reporter: Reporter | None = None,
    clock: Callable[[], float] = time.monotonic,
    write_model: bool = True,
) -> TrainResult:
    """Run (or resume) training; see the module docstring. Returns where the results went."""
    config.validate()
    reporter = reporter or SilentReporter()
    if config.threads:
        torch.set_num_threads(config.threads)
    torch.manual_seed(config.seed)
    device = torch.device(config.device)
    network = build_for_training(config).to(device)
    state = load_checkpoint(resume) if resume is not None else None
    class_weights = _class_weights(network, config, state, device)
    run = _Run(config, network, device, reporter, clock, class_weights, state, resume)
    run.loop()
    card = None
    if write_model:
        card = write_model_files(network, config, run.history, run.samples, run.elapsed())
    return TrainResult(
        model_dir=config.out,
        card=card,
        history=run.history,
        samples_seen=run.samples,
        elapsed_s=run.elapsed(),
        stopped_by_budget=run.stopped,
        checkpoint=run.checkpoints / LAST_CHECKPOINT,
    )


def _class_weights(
    network: ColorizationNet, config: TrainConfig, state: dict[str, Any] | None, device: Any
) -> Tensor | None:
    """The class-rebalancing weights of a network with a class head: the checkpoint's, or
    computed from the training images."""
    if not network.class_grid:
        return None
    if state is not None and state.get("class_weights") is not None:
        weights: Tensor = state["class_weights"]
    else:
        prior = ab_prior(config.train_items, network.class_grid, config.seed)
        weights = rebalancing_weights(prior, network.class_grid)
    return weights.to(device)


class _Run:
    """The loop of one training run: epochs of steps, the stages, checkpoints and history."""

    def __init__(
        self,
        config: TrainConfig,
        network: ColorizationNet,
        device: torch.device,
        reporter: Reporter,
        clock: Callable[[], float],
        class_weights: Tensor | None,
        state: dict[str, Any] | None,
        resume: Path | None,
    ) -> None:
        self.config, self.network, self.device = config, network, device
        self.reporter, self.clock, self.class_weights = reporter, clock, class_weights
        self.freeze_epochs = config.freeze_encoder_epochs if network.frozen_part() else 0
        self.state = state
        self.epoch, self.step, self.samples, self.elapsed_before = 0, 0, 0, 0.0
        self.history: list[dict[str, Any]] = []
        if state is not None:
            try:
                network.load_state_dict(state["model"], strict=True)
            except RuntimeError as error:
                raise ConfigurationError(
                    f"--resume {resume}: the checkpoint does not fit a {config.arch!r} network "
                    f"({str(error).splitlines()[0]})"
                ) from None
            self.epoch, self.step = int(state["epoch"]), int(state["step"])
            self.samples, self.elapsed_before = int(state["samples"]), float(state["elapsed"])
            self.history = list(state["history"])
        self.source = BatchSource(config)
        self.started = clock()
        self.checkpoints = config.out / CHECKPOINT_DIR
        self.stopped = False
        self.optimizer: torch.optim.Optimizer | None = None
        self.optimizer_frozen: bool | None = None
        self.cache: FeatureCache | None = None
        budget = config.time_budget_s
        self.stage1_budget = (
            budget * self.freeze_epochs / config.epochs if budget and self.freeze_epochs else None
        )

    def elapsed(self) -> float:
        return self.elapsed_before + (self.clock() - self.started)

    def loop(self) -> None:
        """Train until the last epoch, or until the time budget stops the run."""
        while self.epoch < self.config.epochs and not self.stopped:
            frozen = self.epoch < self.freeze_epochs
            optimizer = self._enter_stage(frozen)
            stage, steps, order = self._plan_epoch(frozen)
            self.reporter.stage(stage, self.epoch, steps)
            losses: list[float] = []
            epoch_started = self.clock()
            epoch_samples = 0
            cut_short = False
            for step in range(self.step, steps):
                self.step = step  # a resume continues mid-epoch
                budget = self.config.time_budget_s
                if budget is not None and self.elapsed() >= budget:
                    self.stopped = True
                    break
                stage1 = self.stage1_budget
                if frozen and stage1 is not None and self.elapsed() >= stage1:
                    cut_short = True
                    break
                loss, count = self._loss(frozen, order, step)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(float(loss.item()))
                self.samples += count
                epoch_samples += count
                rate = epoch_samples / max(self.clock() - epoch_started, 1e-9)
                self.reporter.step(
                    StepInfo(self.epoch, step + 1, steps, stage, losses[-1], rate, self.elapsed())
                )
            else:
                self.step = steps
            if self.stopped:
                self._save(frozen, self.step, LAST_CHECKPOINT)
                break
            self._end_epoch(frozen, stage, losses, epoch_samples, epoch_started, cut_short)

    def _enter_stage(self, frozen: bool) -> torch.optim.Optimizer:
        """The optimiser of the stage (a new one when the stage changes, with the checkpoint's
        state when it was saved in this stage), the network in the stage's training mode."""
        if self.optimizer is None or self.optimizer_frozen != frozen:
            set_stage(self.network, frozen)
            self.optimizer = make_optimizer(self.network, self.config.lr, frozen)
            self.optimizer_frozen = frozen
            if self.state is not None and bool(self.state["optimizer_frozen"]) == frozen:
                self.optimizer.load_state_dict(self.state["optimizer"])
        set_stage(self.network, frozen)
        return self.optimizer

    def _plan_epoch(self, frozen: bool) -> tuple[str, int, Tensor | None]:
        """``(stage name, steps, cached sample order or None)``; builds the feature cache when
        the frozen stage trains on cached features, lets it go after that stage."""
        config = self.config
        stage = "frozen encoder" if frozen else "end to end"
        # the first draw is CACHE_EPOCH (so runs without --fresh-cache keep their samples)
        draw = CACHE_EPOCH + (self.epoch if config.fresh_cache else 0)
        if (
            frozen
            and config.cache_features is not None
            and (self.cache is None or self.cache.draw != draw)
        ):
            self.cache = None  # let the previous draw go before the next is built
            self.cache = FeatureCache(
                self.network, self.source, config.cache_features, self.device, self.reporter, draw
            )
            if not config.fresh_cache:  # a fresh draw every epoch decomposes the prints again
                self.source.release()
        if not frozen:
            self.cache = None  # stage 2 reads images again; let the cache go
        if self.cache is None:
            return stage, config.steps_per_epoch, None
        steps = self.cache.steps(config.max_samples, config.batch)
        return "frozen encoder, cached features", steps, self.cache.order(config.seed, self.epoch)

    def _loss(self, frozen: bool, order: Tensor | None, step: int) -> tuple[Tensor, int]:
        """The loss of one step and the samples it saw (cached features or images)."""
        config, epoch = self.config, self.epoch
        if self.cache is not None and order is not None:
            indices = order[step * config.batch : (step + 1) * config.batch]
            hints = None
            if config.hints:
                hints = hint_batch(self.cache.targets[indices], config.seed, epoch, step)
            loss = self.cache.loss(
                self.network, indices, self.device, self.class_weights, config.class_weight, hints
            )
            return loss, len(indices)
        lightness, target = self.source.batch(epoch, step)
        hints = None
        if config.hints:
            quarter = functional.avg_pool2d(target, 4)
            hints = hint_batch(quarter, config.seed, epoch, step).to(self.device)
        loss = compute_loss(
            self.network,
            lightness.to(self.device),
            target.to(self.device),
            frozen,
            self.class_weights,
            config.class_weight,
            hints,
        )
        return loss, config.batch

    def _end_epoch(
        self,
        frozen: bool,
        stage: str,
        losses: list[float],
        epoch_samples: int,
        epoch_started: float,
        cut_short: bool,
    ) -> None:
        """Validate, record the epoch in the history, move on, checkpoint."""
        summary: dict[str, Any] = {
            "epoch": self.epoch,
            "stage": stage,
            "steps": len(losses),
            "train_loss": float(np.mean(losses)) if losses else float("nan"),
            "images_per_s": epoch_samples / max(self.clock() - epoch_started, 1e-9),
            "elapsed_s": self.elapsed(),
            "cut_short": cut_short,
        }
        config = self.config
        summary.update(
            validate(self.network, spread(config.val_items, config.val_images), config.size)
        )
        self.history.append(summary)
        self.reporter.epoch(summary)
        self.epoch = self.freeze_epochs if cut_short else self.epoch + 1
        self.step = 0
        self.state = None
        self._save(frozen, 0, f"epoch-{self.epoch:04d}.pt", LAST_CHECKPOINT)

    def _save(self, frozen: bool, step: int, *names: str) -> None:
        """A checkpoint of where the run is, under each of ``names``."""
        assert self.optimizer is not None
        state = _checkpoint_state(
            self.network,
            self.optimizer,
            self.epoch,
            step,
            self.samples,
            self.elapsed(),
            self.history,
            self.class_weights,
            frozen,
        )
        for name in names:
            _save(state, self.checkpoints / name)


def write_model_files(
    network: ColorizationNet,
    config: TrainConfig,
    history: list[dict[str, Any]],
    samples: int,
    elapsed: float,
) -> ModelCard:
    """``weights.safetensors``, ``card.json`` and ``MODEL_CARD.md`` into ``config.out``."""
    out = config.out
    name = out.name
    if name.partition(".")[0] != config.arch or not name.partition(".")[2]:
        raise ModelError(f"--out {out}: the folder name must be {config.arch}.<tag>")
    out.mkdir(parents=True, exist_ok=True)
    network.eval()
    tensors = {
        key: value.detach().cpu().contiguous() for key, value in network.state_dict().items()
    }
    weights = out / WEIGHTS_FILE
    save_file(tensors, str(weights))
    os.chmod(weights, file_mode())  # safetensors writes 0600 whatever the umask
    digest, size = sha256_file(weights)
    counts: dict[str, int] = {}
    for item in config.train_items:
        counts[item.source] = counts.get(item.source, 0) + 1
    data = config.data_description or "training images"
    data += " — train images by source: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))
    last = history[-1] if history else {}
    card = ModelCard(
        name=name,
        arch=config.arch,
        config=network.config(),
        weights_sha256=digest,
        weights_bytes=size,
        parameters=sum(p.numel() for p in network.parameters()),
        description=(
            f"{config.arch} trained by `archcolor train` "
            f"({samples} samples seen in {elapsed / 60:.1f} min)."
        ),
        training_data=data,
        metrics={k: v for k, v in last.items() if k.startswith("val_")},
        created=now_utc(),
    )
    write_card(card, out)
    body = "## Training\n\n```json\n" + _json(config.describe()) + "\n```\n"
    (out / MARKDOWN_FILE).write_text(render_markdown(card, body), encoding="utf-8")
    return card


def _json(data: Any) -> str:
    import json

    return json.dumps(data, indent=2, sort_keys=True, default=str)
