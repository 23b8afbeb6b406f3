"""``iizuka-effl0``: Iizuka-style fusion colorizer on a pretrained EfficientNet-Lite0 encoder.

Layout (channels; scale relative to the working image)::

    L* → sRGB grey, replicated to 3 channels, TF-Lite normalisation
    encoder (EfficientNet-Lite0, ImageNet weights)   1/2:16  1/4:24  1/8:40  1/16:112  1/32:1280
    global prior   whole image at 224x224 → 1/32 head features → mean pool → 1280-vector
                   (computed once per image) → fc 256 + ReLU
    mid-level      3x3 conv 112 → 128 at 1/16
    fusion         prior broadcast + concatenated with mid-level → 1x1 conv 128 + ReLU
    decoder        bilinear x2, concat 1/8 skip → 3x3 conv 96; bilinear x2, concat 1/4 skip and
                   the 1/2 skip average-pooled to 1/4 → 3x3 conv 64
    heads at 1/4   regression: 1x1 conv → a*, b*;  classification (optional): 1x1 conv → logits
                   over ``ab_grid`` x ``ab_grid`` quantised ab bins (Zhang et al. 2016), decoded by
                   the annealed mean at ``temperature``
    output         a*, b* = (1 - mix) * regression + mix * annealed mean, bilinear x4 to input size
    confidence     (``confidence_gain`` > 0, decoding only) the quarter-resolution a*, b* are
                   multiplied by ``1 + confidence_gain * c``, c in 0..1 the class distribution's
                   confidence (:func:`class_confidence`, average-pooled over
                   ``confidence_pool`` px at 1/4, then ``(c - confidence_floor) / (1 -
                   confidence_floor)`` clamped to 0..1): colour is spent where the class head is
                   sure
    hints          (``hint_inputs``, Zhang et al. 2017) hint a*/110, b*/110 and mask, average-pooled
                   to 1/16, 1/8 and 1/4, concatenated to the inputs of the mid-level conv and the
                   two decoder convs; their weights start at zero, so a network built from a
                   model without hints computes exactly that model's output until it is trained

The local path stops at the 1/16 stage, so ``stride`` is 16; the 1/32 stages and the head run
only for the global prior.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

import torch
from torch import Tensor, nn
from torch.nn import functional

from archive_colorizer.inference.networks.base import (
    ColorizationNet,
    check_lightness,
    pad_to_multiple,
    receptive_reach,
)
from archive_colorizer.inference.networks.effnet_lite import (
    HEAD_CHANNELS,
    SCALE_CHANNELS,
    EfficientNetLite0,
    load_pretrained_lite0,
)

ARCH = "iizuka-effl0"
AB_RANGE = 110.0
#: hint channels: a*, b* (0 where no hint) and the mask
HINT_CHANNELS = 3
#: the convolutions that read the hints (state-dict prefixes) at scales 16, 8, 4
HINT_CONVS = {16: "mid.0", 8: "up8.0", 4: "up4.0"}
#: the class distribution's confidence measures (see :func:`class_confidence`)
CONFIDENCE_MEASURES = ("entropy", "maxprob", "chromatic", "hue", "agreement")


def lightness_to_grey(lightness: Tensor) -> Tensor:
    """CIE L* (0..100) → the sRGB-encoded grey (0..1) of the same lightness."""
    f = (lightness + 16.0) / 116.0
    linear = torch.where(f > 6.0 / 29.0, f**3, (f - 4.0 / 29.0) * (3.0 * (6.0 / 29.0) ** 2))
    linear = linear.clamp(0.0, 1.0)
    return torch.where(
        linear <= 0.0031308, 12.92 * linear, 1.055 * linear.clamp_min(1e-12) ** (1 / 2.4) - 0.055
    )


def ab_bin_centres(grid: int) -> Tensor:
    """``(grid * grid, 2)`` centres of the quantised ab bins covering -110..110 (a-major)."""
    step = 2 * AB_RANGE / grid
    axis = -AB_RANGE + step * (torch.arange(grid, dtype=torch.float32) + 0.5)
    a, b = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack((a.reshape(-1), b.reshape(-1)), dim=1)


def class_confidence(logits: Tensor, centres: Tensor, measure: str) -> Tensor:
    """The confidence ``(N,1,h,w)`` in 0..1 of the class distribution (softmax at temperature 1
    of ``logits`` ``(N,Q,h,w)``; ``centres`` ``(Q,2)`` the bins' a*, b*): ``entropy`` 1 - entropy /
    log Q; ``maxprob`` the largest class probability; ``chromatic`` the probability of all but the
    central classes, those nearest grey (that the pixel is coloured at all; on a 22-grid the
    central four span |a*|, |b*| < 10); ``hue`` the length of the mean hue vector (the classes'
    unit ab directions weighted by their probabilities: 1 when all of the mass has one hue).
    ``agreement`` (of the regression and class heads) is :meth:`IizukaEffL0.confidence_map`'s."""
    log_p = torch.log_softmax(logits.float(), dim=1)
    if measure == "entropy":
        entropy = -(log_p.exp() * log_p).sum(dim=1, keepdim=True)
        return (1.0 - entropy / math.log(logits.shape[1])).clamp(0.0, 1.0)
    if measure == "maxprob":
        return log_p.amax(dim=1, keepdim=True).exp()
    if measure == "chromatic":
        chroma = centres.float().norm(dim=1)
        chromatic = (chroma > chroma.min() + 1e-3).to(log_p.dtype)
        return torch.einsum("nqhw,q->nhw", log_p.exp(), chromatic)[:, None].clamp(0.0, 1.0)
    if measure == "hue":
        units = centres.float() / centres.float().norm(dim=1, keepdim=True).clamp_min(1e-6)
        resultant = torch.einsum("nqhw,qc->nchw", log_p.exp(), units)
        return resultant.norm(dim=1, keepdim=True).clamp(0.0, 1.0)
    raise ValueError(f"confidence must be one of {', '.join(CONFIDENCE_MEASURES)}, not {measure!r}")


class ConvBNReLU(nn.Sequential):
    """3x3 conv (zero padding 1) + BatchNorm + ReLU."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__(
            nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()
        )


def hint_pyramid(hints_quarter: Tensor) -> dict[int, Tensor]:
    """Hint maps (a*, b* in Lab units, mask) at 1/4 → the network's normalised hint inputs at
    1/4, 1/8 and 1/16 (average pooling, so a pooled pixel holds the hints' mean a*, b* weighted
    by their coverage, and the covered fraction)."""
    scale = torch.tensor(
        [1.0 / AB_RANGE, 1.0 / AB_RANGE, 1.0],
        dtype=hints_quarter.dtype,
        device=hints_quarter.device,
    )
    quarter = hints_quarter * scale[None, :, None, None]
    eighth = functional.avg_pool2d(quarter, 2)
    return {4: quarter, 8: eighth, 16: functional.avg_pool2d(eighth, 2)}


def decoder_skips(features: dict[int, Tensor]) -> dict[int, Tensor]:
    """The encoder features the decoder reads: 1/16, 1/8, 1/4 as they are and the 1/2 features
    average-pooled to 1/4 (the smallest form, so a training cache can hold many samples)."""
    return {
        16: features[16],
        8: features[8],
        4: features[4],
        2: functional.avg_pool2d(features[2], 2),
    }


class IizukaEffL0(ColorizationNet):
    """Fusion colorizer on EfficientNet-Lite0 (see the module docstring)."""

    arch = ARCH
    stride = 16
    global_dim = HEAD_CHANNELS

    def __init__(
        self,
        pretrained: bool = False,
        ab_grid: int = 22,
        mix: float = 0.5,
        temperature: float = 0.38,
        prior_dim: int = 256,
        mid_channels: int = 128,
        decoder_channels: tuple[int, int] | list[int] = (96, 64),
        hint_inputs: bool = False,
        confidence_gain: float = 0.0,
        confidence: str = "entropy",
        confidence_pool: int = 1,
        confidence_floor: float = 0.0,
    ) -> None:
        super().__init__()
        if ab_grid < 0:
            raise ValueError(f"ab_grid must be >= 0, got {ab_grid}")
        if not 0.0 <= mix <= 1.0:
            raise ValueError(f"mix must be in [0, 1], got {mix}")
        if ab_grid == 0 and mix != 0.0:
            raise ValueError("mix > 0 needs the classification head (ab_grid > 0)")
        if temperature <= 0:
            raise ValueError(f"temperature must be > 0, got {temperature}")
        self._check_confidence(ab_grid, confidence_gain, confidence, confidence_pool)
        if not 0.0 <= confidence_floor < 1.0:
            raise ValueError(f"confidence_floor must be in [0, 1), got {confidence_floor}")
        self.confidence_floor = float(confidence_floor)
        self.confidence_gain = float(confidence_gain)
        self.confidence = str(confidence)
        self.confidence_pool = int(confidence_pool)
        self.ab_grid = int(ab_grid)
        self.mix = float(mix)
        self.temperature = float(temperature)
        self.prior_dim = int(prior_dim)
        self.mid_channels = int(mid_channels)
        self.decoder_channels = (int(decoder_channels[0]), int(decoder_channels[1]))
        self.hint_inputs = bool(hint_inputs)
        extra = HINT_CHANNELS if self.hint_inputs else 0
        self.encoder = load_pretrained_lite0() if pretrained else EfficientNetLite0()
        self.encoder.drop_classifier()
        self.global_fc = nn.Sequential(nn.Linear(HEAD_CHANNELS, self.prior_dim), nn.ReLU())
        self.mid = ConvBNReLU(SCALE_CHANNELS[16] + extra, self.mid_channels)
        self.fusion = nn.Sequential(
            nn.Conv2d(self.mid_channels + self.prior_dim, self.mid_channels, 1), nn.ReLU()
        )
        c8, c4 = self.decoder_channels
        self.up8 = ConvBNReLU(self.mid_channels + SCALE_CHANNELS[8] + extra, c8)
        self.up4 = ConvBNReLU(c8 + SCALE_CHANNELS[4] + SCALE_CHANNELS[2] + extra, c4)
        if self.hint_inputs:
            with torch.no_grad():
                for conv in self.hint_convs():
                    conv.weight[:, -HINT_CHANNELS:].zero_()
        self.regression = nn.Conv2d(c4, 2, 1)
        self.classifier: nn.Conv2d | None = None
        if self.ab_grid:
            self.classifier = nn.Conv2d(c4, self.ab_grid * self.ab_grid, 1)
            self.register_buffer("ab_centres", ab_bin_centres(self.ab_grid), persistent=False)
        self.receptive_margin = receptive_reach(self.spatial_ops()) + self.stride

    @staticmethod
    def spatial_ops() -> list[tuple[str, int, int]]:
        """The deepest local path's spatial operations, for :func:`receptive_reach`."""
        ops: list[tuple[str, int, int]] = [("conv", 3, 2), ("conv", 3, 1)]  # stem, block 0
        ops += [("conv", 3, 2), ("conv", 3, 1)]  # 1/4
        ops += [("conv", 5, 2), ("conv", 5, 1)]  # 1/8
        ops += [("conv", 3, 2), ("conv", 3, 1), ("conv", 3, 1)]  # 1/16
        ops += [("conv", 5, 1)] * 3  # 1/16, 112 channels
        ops += [("conv", 3, 1)]  # mid-level
        ops += [("bilinear", 2, 0), ("conv", 3, 1), ("bilinear", 2, 0), ("conv", 3, 1)]
        ops += [("bilinear", 4, 0)]
        return ops

    def config(self) -> dict[str, Any]:
        config: dict[str, Any] = {
            "ab_grid": self.ab_grid,
            "mix": self.mix,
            "temperature": self.temperature,
            "prior_dim": self.prior_dim,
            "mid_channels": self.mid_channels,
            "decoder_channels": list(self.decoder_channels),
        }
        if self.hint_inputs:  # absent otherwise: cards of models without hints stay as they were
            config["hint_inputs"] = True
        if self.confidence_gain > 0:  # likewise
            config["confidence_gain"] = self.confidence_gain
            config["confidence"] = self.confidence
            config["confidence_pool"] = self.confidence_pool
            config["confidence_floor"] = self.confidence_floor
        return config

    @staticmethod
    def _check_confidence(ab_grid: int, gain: float, measure: str, pool: int) -> None:
        if not math.isfinite(gain) or gain < 0:
            raise ValueError(f"confidence_gain must be >= 0, got {gain}")
        if gain > 0 and ab_grid == 0:
            raise ValueError("confidence_gain > 0 needs the classification head (ab_grid > 0)")
        if measure not in CONFIDENCE_MEASURES:
            raise ValueError(
                f"confidence must be one of {', '.join(CONFIDENCE_MEASURES)}, not {measure!r}"
            )
        if pool < 1 or pool % 2 == 0:
            raise ValueError(f"confidence_pool must be an odd number >= 1, got {pool}")

    def hint_convs(self) -> list[nn.Conv2d]:
        """The convolutions whose last HINT_CHANNELS inputs are the hints (1/16, 1/8, 1/4)."""
        convs = [self.mid[0], self.up8[0], self.up4[0]]
        return [conv for conv in convs if isinstance(conv, nn.Conv2d)]

    def load_without_hints(self, state: dict[str, Tensor]) -> None:
        """Load the state dict of the same network without ``hint_inputs`` (strict otherwise):
        its weights fill the non-hint input channels, the hint channels' weights are zero."""
        if not self.hint_inputs:
            self.load_state_dict(state, strict=True)
            return
        own = self.state_dict()
        merged = dict(state)
        for prefix in HINT_CONVS.values():
            key = f"{prefix}.weight"
            old, new = state[key], own[key]
            if old.shape[1] + HINT_CHANNELS != new.shape[1] or old.shape[0] != new.shape[0]:
                raise ValueError(
                    f"{key}: {tuple(old.shape)} does not fit {tuple(new.shape)} less the hints"
                )
            weight = torch.zeros_like(new)
            weight[:, : old.shape[1]] = old
            merged[key] = weight
        self.load_state_dict(merged, strict=True)

    def encoder_input(self, lightness: Tensor) -> Tensor:
        """L* ``(N,1,H,W)`` → the encoder's normalised 3-channel input."""
        grey = lightness_to_grey(lightness)
        return EfficientNetLite0.normalise(grey.expand(-1, 3, -1, -1))

    def pooled_prior(self, head_features: Tensor) -> Tensor:
        """The 1280-vector from 1/32 head features (mean over space)."""
        return head_features.mean(dim=(2, 3))

    def global_features(self, lightness_224: Tensor) -> Tensor:
        check_lightness(lightness_224)
        head = self.encoder.features(self.encoder_input(lightness_224), depth=32)[32]
        return self.pooled_prior(head)

    def decode_heads(
        self, features: dict[int, Tensor], global_vec: Tensor, hints: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """Regression a*, b* and class logits (or None) at 1/4 from encoder features (and the
        hint maps at 1/4, ``(N, 3, h, w)``: a*, b* in Lab units, 0 where no hint, and mask)."""
        return self.decode_skips(decoder_skips(features), global_vec, hints)

    def _hint_inputs(self, hints: Tensor | None, skips: dict[int, Tensor]) -> dict[int, Tensor]:
        quarter = skips[4]
        if hints is None:
            hints = quarter.new_zeros((quarter.shape[0], HINT_CHANNELS, *quarter.shape[-2:]))
        elif hints.shape[-2:] != quarter.shape[-2:] or hints.shape[1] != HINT_CHANNELS:
            raise ValueError(
                f"hints must be (N, {HINT_CHANNELS}, {quarter.shape[-2]}, {quarter.shape[-1]}) "
                f"at 1/4, got {tuple(hints.shape)}"
            )
        return hint_pyramid(hints.to(quarter.dtype))

    def decode_skips(
        self, skips: dict[int, Tensor], global_vec: Tensor, hints: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        """:meth:`decode_heads` from :func:`decoder_skips` (what a feature cache stores)."""
        if hints is not None and not self.hint_inputs:
            raise ValueError("this network has no hint inputs (hint_inputs=False)")
        # without hints the hint channels (zero inputs) are left out of the convolutions, so a
        # network built from a model without hints computes its output bit for bit
        pyramid = self._hint_inputs(hints, skips) if hints is not None else None

        def block(layer: nn.Sequential, scale: int, *tensors: Tensor) -> Tensor:
            x = torch.cat(tensors, dim=1) if len(tensors) > 1 else tensors[0]
            if pyramid is not None:
                return layer(torch.cat((x, pyramid[scale]), dim=1))
            if not self.hint_inputs:
                return layer(x)
            conv, *rest = list(layer)
            if not isinstance(conv, nn.Conv2d):  # pragma: no cover - ConvBNReLU starts so
                raise TypeError("a hint block starts with a convolution")
            x = functional.conv2d(x, conv.weight[:, : x.shape[1]], None, conv.stride, conv.padding)
            for module in rest:  # BatchNorm, ReLU
                x = module(x)
            return x

        mid = block(self.mid, 16, skips[16])
        prior = self.global_fc(global_vec.to(mid.dtype))
        prior_map = prior[:, :, None, None].expand(-1, -1, *mid.shape[-2:])
        fused = self.fusion(torch.cat((mid, prior_map), dim=1))
        x = functional.interpolate(fused, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = block(self.up8, 8, x, skips[8])
        x = functional.interpolate(x, scale_factor=2.0, mode="bilinear", align_corners=False)
        x = block(self.up4, 4, x, skips[4], skips[2])
        regression = self.regression(x)
        logits = self.classifier(x) if self.classifier is not None else None
        return regression, logits

    def annealed_mean(self, logits: Tensor, log_prior: Tensor | None = None) -> Tensor:
        """Zhang et al.'s annealed-mean decoding of class logits → a*, b* ``(N,2,h,w)``;
        ``log_prior`` ``(Q,)`` is added to the logits first (``p'(q) ∝ p(q) h(q)^beta``)."""
        if log_prior is not None:
            logits = logits + log_prior.to(logits.dtype)[None, :, None, None]
        weights = torch.softmax(logits / self.temperature, dim=1)
        centres = self.get_buffer("ab_centres").to(weights.dtype)
        return torch.einsum("nqhw,qc->nchw", weights, centres)

    def combine(
        self, regression: Tensor, logits: Tensor | None, log_prior: Tensor | None = None
    ) -> Tensor:
        """The quarter-resolution a*, b* the network outputs (``log_prior``: see
        :meth:`colorize_with_prior`), with the confidence gain when ``confidence_gain`` > 0."""
        ab = self._mixed(regression, logits, log_prior)
        if logits is None or self.confidence_gain == 0.0:
            return ab
        return self.confidence_scale(ab, logits, log_prior, regression)

    def _mixed(self, regression: Tensor, logits: Tensor | None, log_prior: Tensor | None) -> Tensor:
        if log_prior is not None and logits is not None:
            return (1.0 - self.mix) * regression + self.mix * self.annealed_mean(logits, log_prior)
        if logits is None or self.mix == 0.0:
            return regression
        return (1.0 - self.mix) * regression + self.mix * self.annealed_mean(logits)

    def confidence_map(
        self, logits: Tensor, log_prior: Tensor | None = None, regression: Tensor | None = None
    ) -> Tensor:
        """The class distribution's confidence ``(N,1,h,w)`` in 0..1 (``confidence``, pooled over
        ``confidence_pool`` px, rescaled above ``confidence_floor``) of ``logits`` (plus
        ``log_prior``) at 1/4; ``agreement``: the cosine (negative: 0) of the angle between
        ``regression`` and the annealed mean, how far the two heads agree on the hue."""
        if self.confidence == "agreement":
            if regression is None:
                raise ValueError("the agreement confidence needs the regression head's a*, b*")
            mean = self.annealed_mean(logits, log_prior).float()
            confidence = functional.cosine_similarity(regression.float(), mean, dim=1, eps=1e-6)
            confidence = confidence[:, None].clamp(0.0, 1.0)
        else:
            if log_prior is not None:
                logits = logits + log_prior.to(logits.dtype)[None, :, None, None]
            confidence = class_confidence(logits, self.get_buffer("ab_centres"), self.confidence)
        if self.confidence_pool > 1:
            confidence = functional.avg_pool2d(
                confidence,
                self.confidence_pool,
                stride=1,
                padding=self.confidence_pool // 2,
                count_include_pad=False,
            )
        if self.confidence_floor > 0:
            floor = self.confidence_floor
            confidence = ((confidence - floor) / (1.0 - floor)).clamp_min(0.0)
        return confidence

    def confidence_scale(
        self,
        ab: Tensor,
        logits: Tensor,
        log_prior: Tensor | None = None,
        regression: Tensor | None = None,
    ) -> Tensor:
        """``ab`` x (1 + ``confidence_gain`` x confidence), within ±AB_RANGE."""
        confidence = self.confidence_map(logits, log_prior, regression)
        gain = 1.0 + self.confidence_gain * confidence
        return (ab * gain.to(ab.dtype)).clamp(-AB_RANGE, AB_RANGE)

    def colorize(
        self,
        lightness: Tensor,
        global_vec: Tensor,
        hints: Tensor | None = None,
        log_prior: Tensor | None = None,
    ) -> Tensor:
        """a*, b* for ``lightness``; ``hints`` ``(N, 3, H, W)`` at the same size (a*, b* in Lab
        units, 0 where no hint, and the mask), only for a network with ``hint_inputs``;
        ``log_prior``: see :meth:`colorize_with_prior`."""
        check_lightness(lightness)
        height, width = lightness.shape[-2:]
        padded = pad_to_multiple(lightness, self.stride)
        features = self.encoder.features(self.encoder_input(padded), depth=16)
        quarter_hints = None
        if hints is not None:
            if hints.shape[-2:] != lightness.shape[-2:]:
                raise ValueError(
                    f"hints {tuple(hints.shape)} do not match lightness {tuple(lightness.shape)}"
                )
            quarter_hints = functional.avg_pool2d(pad_to_multiple(hints, self.stride), 4)
        quarter = self.combine(*self.decode_heads(features, global_vec, quarter_hints), log_prior)
        full = functional.interpolate(
            quarter, scale_factor=4.0, mode="bilinear", align_corners=False
        )
        return full[:, :, :height, :width]

    def colorize_hinted(self, lightness: Tensor, global_vec: Tensor, hints: Tensor) -> Tensor:
        if not self.hint_inputs:
            return super().colorize_hinted(lightness, global_vec, hints)
        return self.colorize(lightness, global_vec, hints)

    def colorize_with_prior(
        self, lightness: Tensor, global_vec: Tensor, log_prior: Tensor, hints: Tensor | None = None
    ) -> Tensor:
        """:meth:`colorize` with ``log_prior`` ``(ab_grid²,)`` added to the class logits before
        the annealed mean (a colour reference's ab histogram as a prior on the classes)."""
        if self.classifier is None:
            raise ValueError("this network has no class head (ab_grid=0) to take a colour prior")
        if log_prior.shape != (self.ab_grid * self.ab_grid,):
            raise ValueError(
                f"the colour prior must have {self.ab_grid * self.ab_grid} bins, got "
                f"{tuple(log_prior.shape)}"
            )
        return self.colorize(lightness, global_vec, hints, log_prior)

    def class_probabilities(
        self, lightness: Tensor, global_vec: Tensor, hints: Tensor | None = None
    ) -> Tensor:
        """softmax of the class logits (temperature 1) at 1/4 of the stride-padded input."""
        padded = pad_to_multiple(lightness, self.stride)
        features = self.encoder.features(self.encoder_input(padded), depth=16)
        quarter_hints = None
        if hints is not None:
            quarter_hints = functional.avg_pool2d(pad_to_multiple(hints, self.stride), 4)
        _, logits = self.decode_heads(features, global_vec, quarter_hints)
        if logits is None:
            raise ValueError("this network has no class head (ab_grid=0)")
        return torch.softmax(logits.float(), dim=1)

    # --- training hooks: the encoder is pretrained, frozen in stage 1 and cacheable ---------

    training_build_options: ClassVar[dict[str, Any]] = {"pretrained": True}
    heads_scale = 4

    @property
    def class_grid(self) -> int:
        return self.ab_grid

    def frozen_part(self) -> nn.Module:
        return self.encoder

    def training_heads(
        self, lightness: Tensor, frozen: bool, hints: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        encoder_input = self.encoder_input(lightness)
        if frozen:
            with torch.no_grad():
                features = self.encoder.features(encoder_input, depth=32)
        else:
            features = self.encoder.features(encoder_input, depth=32)
        return self.decode_heads(features, self.pooled_prior(features[32]), hints)

    def cache_features(self, lightness: Tensor) -> dict[str, Tensor]:
        """The decoder's skips (:func:`decoder_skips`) in float16 and the pooled global prior
        in float32: about 125 KB per 128 px sample."""
        features = self.encoder.features(self.encoder_input(lightness), depth=32)
        cached = {f"skip{scale}": value.half() for scale, value in decoder_skips(features).items()}
        cached["prior"] = self.pooled_prior(features[32]).float()
        return cached

    def decode_cached(
        self, features: dict[str, Tensor], hints: Tensor | None = None
    ) -> tuple[Tensor, Tensor | None]:
        skips = {scale: features[f"skip{scale}"].float() for scale in (16, 8, 4, 2)}
        return self.decode_skips(skips, features["prior"], hints)

    def adopt_weights(self, trained: ColorizationNet) -> None:
        """Also from the same network without hint inputs (the hint weights start at zero)."""
        if self.hint_inputs == trained.hint_inputs:
            super().adopt_weights(trained)
        elif not self.hint_inputs:
            raise RuntimeError("hint inputs cannot be removed")
        else:
            self.load_without_hints(trained.state_dict())


def build_iizuka_effl0(**config: Any) -> IizukaEffL0:
    """Builder registered as ``"iizuka-effl0"``; see :class:`IizukaEffL0` for the options."""
    return IizukaEffL0(**config)
