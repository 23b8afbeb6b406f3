"""`archcolor evaluate`: colorize grey versions of colour photos and measure against the truth.

For every image the ground truth is the photo's L*a*b*. The network sees its L* (or, with a
``simulate`` style, the L* of a simulated engraving of it) and predicts a*, b*. Every candidate
image — ours and the baselines — is then ``Lab(L*_truth, a*, b*)`` rendered to 8-bit sRGB, so the
metrics measure the chroma alone (the product keeps the master's own luminance anyway).

Baselines on the same images:

* ``grey``: a* = b* = 0.
* ``train-mean``: the mean a*, b* of the training set's pixels (flat).
* ``best-flat-tint``: the single flat a*, b* that minimises the squared ab error over the
  evaluated set, i.e. the set's own mean chroma (an oracle: it peeks at the truth).

With ``render="wash"`` the model's candidate (only) is rendered as the grey of the truth's L*
multiplied by a transparent wash of the predicted a*, b* (:mod:`archive_colorizer.imaging.wash`)
instead of keeping the truth's L*. Real coloured prints (``PRINT_SOURCES``) are left out of this
photo/painting evaluation: :mod:`archive_colorizer.services.evaluate_prints` measures them.

Metrics per image: PSNR and SSIM of sRGB, colourfulness of prediction and truth, |ΔCF|,
colour cast (mean a*/b* bias), mean CIEDE2000. Means over all images and per content type.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt
from PIL import Image

from archive_colorizer.errors import ConfigurationError, InputError
from archive_colorizer.imaging.color import (
    grey_to_lightness,
    lab_to_srgb_codes,
    lightness_to_grey,
    srgb_codes_to_lab,
)
from archive_colorizer.imaging.datasets import ImageItem, by_source, list_images, load_rgb, spread
from archive_colorizer.imaging.hints import truth_hints
from archive_colorizer.imaging.metrics import ciede2000, colour_cast, colourfulness, psnr, ssim
from archive_colorizer.imaging.simulate import simulate
from archive_colorizer.imaging.wash import WASH_DARKENING, render_wash_codes
from archive_colorizer.services.colorize import predict_chroma

METHODS = ("model", "grey", "train-mean", "best-flat-tint")
MEAN_CHROMA_SIDE = 64
U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


class ChromaPredictor(Protocol):
    """What evaluation needs from a model: a*, b* ``(2, h, w)`` for L* ``(h, w)``."""

    def predict_ab(self, lightness: np.ndarray) -> np.ndarray: ...


#: seed of the truth hints of `evaluate --hints K`
HINT_SEED = 2017


def hint_rng(index: int, count: int) -> np.random.Generator:
    """The generator of image ``index``'s ``count`` truth hints (fixed: reruns compare)."""
    return np.random.default_rng([HINT_SEED, count, index])


@dataclass(frozen=True)
class Truth:
    """One evaluation image: its ground-truth Lab and the L* the network is given."""

    item: ImageItem
    rgb: U8
    lightness: F32
    a: F32
    b: F32
    input_lightness: F32


def input_for(rgb: U8, lightness: F32, style: str | None, seed: int) -> F32:
    """The network input: the truth's L*, or the L* of a simulated engraving of the photo."""
    if style is None:
        return lightness
    rendered = simulate(rgb, style, seed)
    if rendered.ndim == 3:
        return srgb_codes_to_lab(rendered, 8)[0]
    return grey_to_lightness(rendered, 8)


def load_truth(item: ImageItem, style: str | None, seed: int) -> Truth:
    rgb = load_rgb(item.path)
    lightness, a, b = srgb_codes_to_lab(rgb, 8)
    return Truth(item, rgb, lightness, a, b, input_for(rgb, lightness, style, seed))


def render(lightness: F32, a: npt.ArrayLike, b: npt.ArrayLike) -> U8:
    """8-bit sRGB of ``Lab(lightness, a, b)`` (flat a, b broadcast)."""
    a_plane = np.broadcast_to(np.asarray(a, dtype=np.float32), lightness.shape)
    b_plane = np.broadcast_to(np.asarray(b, dtype=np.float32), lightness.shape)
    return np.asarray(lab_to_srgb_codes(lightness, a_plane, b_plane, 8), dtype=np.uint8)


def _reduce8(plane: npt.ArrayLike) -> npt.NDArray[np.float64]:
    """Box mean over 8 x 8 blocks (the incomplete edge blocks dropped; the plane itself when
    it is smaller than one block)."""
    values = np.asarray(plane, dtype=np.float64)
    height, width = values.shape[0] // 8, values.shape[1] // 8
    if height == 0 or width == 0:
        return values
    return values[: height * 8, : width * 8].reshape(height, 8, width, 8).mean(axis=(1, 3))


def image_metrics(
    truth: Truth,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    rendering: str = "luminance",
    darkening: float = WASH_DARKENING,
) -> dict[str, float]:
    """The metrics of one candidate chroma against the truth."""
    a_plane = np.broadcast_to(np.asarray(a, dtype=np.float32), truth.lightness.shape)
    b_plane = np.broadcast_to(np.asarray(b, dtype=np.float32), truth.lightness.shape)
    if rendering == "wash":
        grey = np.asarray(lightness_to_grey(truth.lightness, 8), dtype=np.uint8)
        candidate = np.asarray(
            render_wash_codes(grey, 8, a_plane, b_plane, darkening=darkening), dtype=np.uint8
        )
    else:
        candidate = render(truth.lightness, a_plane, b_plane)
    cf_prediction = colourfulness(candidate)
    cf_truth = colourfulness(truth.rgb)
    cast_a, cast_b = colour_cast(a_plane, b_plane, truth.a, truth.b)
    delta_e = ciede2000((truth.lightness, a_plane, b_plane), (truth.lightness, truth.a, truth.b))
    squares = (_reduce8(a_plane) - _reduce8(truth.a)) ** 2 + (
        _reduce8(b_plane) - _reduce8(truth.b)
    ) ** 2
    return {
        "ab_rmse": math.sqrt(float(np.mean(squares)) / 2.0),
        "psnr": psnr(candidate, truth.rgb),
        "ssim": ssim(candidate, truth.rgb),
        "cf_pred": cf_prediction,
        "cf_true": cf_truth,
        "abs_dcf": abs(cf_prediction - cf_truth),
        "cast_a": cast_a,
        "cast_b": cast_b,
        "ciede2000": float(np.mean(delta_e)),
    }


def mean_chroma(items: Sequence[ImageItem]) -> tuple[float, float]:
    """Mean a*, b* over the pixels of ``items`` (each box-reduced to 64x64, equal weight)."""
    if not items:
        raise InputError("no training images to compute the mean-chroma baseline from")
    total_a = total_b = 0.0
    for item in items:
        rgb = load_rgb(item.path)
        small = np.asarray(
            Image.fromarray(rgb).resize((MEAN_CHROMA_SIDE, MEAN_CHROMA_SIDE), Image.Resampling.BOX)
        )
        _, a, b = srgb_codes_to_lab(small, 8)
        total_a += float(np.mean(a))
        total_b += float(np.mean(b))
    return total_a / len(items), total_b / len(items)


@dataclass
class Evaluation:
    """Per-image rows and the aggregates."""

    rows: list[dict[str, Any]] = field(default_factory=list)
    train_mean_ab: tuple[float, float] = (0.0, 0.0)
    flat_tint_ab: tuple[float, float] = (0.0, 0.0)
    simulate: str | None = None

    def means(self, content: str | None = None) -> dict[str, dict[str, float]]:
        """``{method: {metric: mean}}`` over all rows (or one content type)."""
        rows = [r for r in self.rows if content is None or r["content"] == content]
        result: dict[str, dict[str, float]] = {}
        for method in METHODS:
            metrics = [r[method] for r in rows if method in r]
            if not metrics:
                continue
            result[method] = {key: _finite_mean([m[key] for m in metrics]) for key in metrics[0]}
            result[method]["images"] = float(len(metrics))
        return result

    def contents(self) -> list[str]:
        return sorted({r["content"] for r in self.rows})

    def to_dict(self) -> dict[str, Any]:
        return {
            "simulate": self.simulate,
            "images": len(self.rows),
            "train_mean_ab": list(self.train_mean_ab),
            "best_flat_tint_ab": list(self.flat_tint_ab),
            "mean": self.means(),
            "by_content": {c: self.means(c) for c in self.contents()},
            "per_image": self.rows,
        }


def _finite_mean(values: list[float]) -> float:
    finite = [v for v in values if math.isfinite(v)]
    return float(np.mean(finite)) if finite else float("nan")


def evaluate(
    predictor: ChromaPredictor | None,
    items: Sequence[ImageItem],
    train_mean_ab: tuple[float, float],
    simulate_style: str | None = None,
    seed: int = 0,
    on_image: Callable[[int, int], None] | None = None,
    rendering: str = "luminance",
    darkening: float = WASH_DARKENING,
    hints: int = 0,
) -> Evaluation:
    """Measure ``predictor`` (None: baselines only) and the baselines on ``items``; the model's
    candidate is rendered by ``rendering`` (``luminance`` or ``wash``); ``hints``: that many
    point hints per image sampled from its true a*, b*, spread over the prediction as a page's
    hints are (:func:`~archive_colorizer.services.colorize.predict_chroma`)."""
    if not items:
        raise InputError("no images to evaluate")
    truths: list[Truth] = []
    sum_a = sum_b = 0.0
    pixels = 0
    for index, item in enumerate(items):
        truth = load_truth(item, simulate_style, seed + index)
        truths.append(truth)
        sum_a += float(truth.a.astype(np.float64).sum())
        sum_b += float(truth.b.astype(np.float64).sum())
        pixels += truth.a.size
    flat = (sum_a / pixels, sum_b / pixels)
    evaluation = Evaluation(train_mean_ab=train_mean_ab, flat_tint_ab=flat, simulate=simulate_style)
    for index, truth in enumerate(truths):
        row: dict[str, Any] = {
            "image": str(truth.item.path.name),
            "source": truth.item.source,
            "content": truth.item.content,
        }
        if predictor is not None:
            maps = None
            if hints:
                maps = truth_hints(np.stack((truth.a, truth.b)), hints, hint_rng(index, hints))
            ab = predict_chroma(predictor, truth.input_lightness, hints=maps, render=rendering)
            row["model"] = image_metrics(truth, ab[0], ab[1], rendering, darkening)
        row["grey"] = image_metrics(truth, 0.0, 0.0)
        row["train-mean"] = image_metrics(truth, *train_mean_ab)
        row["best-flat-tint"] = image_metrics(truth, *flat)
        evaluation.rows.append(row)
        if on_image is not None:
            on_image(index + 1, len(truths))
    return evaluation


def contact_sheet(
    predictor: ChromaPredictor,
    items: Sequence[ImageItem],
    path: Path,
    plain: int = 16,
    simulated: int = 4,
    style: str = "hatching",
    seed: int = 0,
    cell: int = 192,
) -> Path:
    """PNG rows ``input | ours | truth``: ``plain`` grey inputs then ``simulated`` engravings."""
    chosen = spread(list(items), plain)
    engraved = spread(list(items)[1:] + list(items)[:1], simulated)
    rows = []
    for index, item in enumerate([*chosen, *engraved]):
        style_used = None if index < len(chosen) else style
        truth = load_truth(item, style_used, seed + index)
        ab = predict_chroma(predictor, truth.input_lightness, render="luminance")
        grey = render(truth.input_lightness, 0.0, 0.0)
        ours = render(truth.input_lightness, ab[0], ab[1])
        rows.append(np.hstack([_cell(grey, cell), _cell(ours, cell), _cell(truth.rgb, cell)]))
    sheet = np.vstack(rows)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(sheet).save(path, optimize=True)
    return path


def _cell(rgb: U8, side: int) -> U8:
    height, width = rgb.shape[:2]
    scale = side / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    resized = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.LANCZOS))
    canvas = np.full((side, side, 3), 255, dtype=np.uint8)
    top, left = (side - size[1]) // 2, (side - size[0]) // 2
    canvas[top : top + size[1], left : left + size[0]] = resized
    return canvas


#: ``--half``: images at even (A) or odd (B) positions within each source, in listing order
HALVES = {"A": 0, "B": 1}


def half_of(items: list[ImageItem], half: str) -> list[ImageItem]:
    """Half ``A`` or ``B`` of ``items``: a split of each source by position (for selecting on
    one half and reporting the other untouched)."""
    if half not in HALVES:
        raise ConfigurationError(f"--half {half!r}: choose A or B")
    chosen = [
        item
        for group in by_source(items).values()
        for position, item in enumerate(group)
        if position % 2 == HALVES[half]
    ]
    return chosen


def resolve_items(
    data: Path,
    split: str | None,
    limit: int | None,
    half: str | None = None,
    mode: str | None = "photos",
) -> list[ImageItem]:
    """The evaluation images of ``mode`` (``photos``: all but the real coloured prints,
    ``prints``: only those, None: all): half ``half`` of the split (when given), then ``limit``
    of them evenly spread (when given)."""
    items = list_images(data, split)
    if mode == "photos":
        items = [item for item in items if not item.is_print]
    elif mode == "prints":
        items = [item for item in items if item.is_print]
    if not items:
        raise InputError(f"{data}: no {mode} in split {split!r}")
    if half is not None:
        items = half_of(items, half)
    return spread(items, limit) if limit else items


def engraved_page(
    rgb: U8, style: str, seed: int, margin: float = 0.25
) -> tuple[F32, npt.NDArray[np.bool_]]:
    """L* of a generated page: a simulated engraving of ``rgb`` on paper with blank margins.

    Returns the page's L* and a mask of its margin (paper at least 8 px away from the plate).
    """
    engraving = simulate(rgb, style, seed)
    if engraving.ndim == 3:
        engraving = np.asarray(Image.fromarray(engraving).convert("L"), dtype=np.uint8)
    height, width = engraving.shape
    top, left = round(height * margin), round(width * margin)
    rng = np.random.default_rng(seed)
    paper_tone = float(np.percentile(engraving, 95))
    page = paper_tone + rng.normal(0.0, 1.5, size=(height + 2 * top, width + 2 * left))
    page[top : top + height, left : left + width] = engraving
    grey = np.clip(np.rint(page), 0, 255).astype(np.uint8)
    margin_mask = np.ones(grey.shape, dtype=bool)
    margin_mask[max(0, top - 8) : top + height + 8, max(0, left - 8) : left + width + 8] = False
    return grey_to_lightness(grey, 8), margin_mask


def margin_neutrality(
    predictor: ChromaPredictor,
    items: Sequence[ImageItem],
    style: str = "hatching",
    seed: int = 0,
) -> dict[str, float]:
    """Mean chroma of page margins and of the plate, raw and after the paper mask."""
    from archive_colorizer.imaging.paper import mean_chroma, neutralise_paper

    raw_margin, masked_margin, raw_plate, masked_plate = [], [], [], []
    for index, item in enumerate(items):
        lightness, margin = engraved_page(load_rgb(item.path), style, seed + index)
        ab = np.asarray(predictor.predict_ab(lightness), dtype=np.float32)
        neutral = neutralise_paper(lightness, ab)
        plate = ~margin
        raw_margin.append(mean_chroma(ab, margin))
        masked_margin.append(mean_chroma(neutral, margin))
        raw_plate.append(mean_chroma(ab, plate))
        masked_plate.append(mean_chroma(neutral, plate))
    return {
        "pages": float(len(raw_margin)),
        "margin_chroma_raw": float(np.mean(raw_margin)),
        "margin_chroma_masked": float(np.mean(masked_margin)),
        "plate_chroma_raw": float(np.mean(raw_plate)),
        "plate_chroma_masked": float(np.mean(masked_plate)),
    }


def mosaic_lightness(items: Sequence[ImageItem], side: int, cell: int = 512) -> F32:
    """L* of a ``side`` x ``side`` working image tiled from ``items`` (each resized to a cell)."""
    cells = -(-side // cell)
    rows = []
    chosen = list(items)
    for row in range(cells):
        planes = []
        for column in range(cells):
            item = chosen[(row * cells + column) % len(chosen)]
            rgb = np.asarray(
                Image.fromarray(load_rgb(item.path)).resize((cell, cell), Image.Resampling.BICUBIC)
            )
            planes.append(srgb_codes_to_lab(rgb, 8)[0])
        rows.append(np.hstack(planes))
    return np.ascontiguousarray(np.vstack(rows)[:side, :side], dtype=np.float32)


def tiling_report(
    whole: ChromaPredictor,
    tiled: ChromaPredictor,
    items: Sequence[ImageItem],
    side: int = 1536,
    timing_side: int = 1024,
    timed: ChromaPredictor | None = None,
) -> dict[str, float]:
    """Seam error of tiled vs whole prediction, and the network time of ``timed`` (default:
    ``whole``) on a ``timing_side`` working image."""
    import time

    lightness = mosaic_lightness(items, side)
    reference = np.asarray(whole.predict_ab(lightness), dtype=np.float32)
    pieces = np.asarray(tiled.predict_ab(lightness), dtype=np.float32)
    delta = np.abs(reference - pieces)
    page = np.ascontiguousarray(lightness[:timing_side, :timing_side])
    timed = timed or whole
    timed.predict_ab(page)  # warm-up
    started = time.perf_counter()
    timed.predict_ab(page)
    seconds = time.perf_counter() - started
    return {
        "side": float(side),
        "seam_max_abs_dab": float(delta.max()),
        "seam_p99_abs_dab": float(np.percentile(delta, 99)),
        "seam_mean_abs_dab": float(delta.mean()),
        "network_seconds_at_timing_side": seconds,
        "timing_side": float(timing_side),
    }
