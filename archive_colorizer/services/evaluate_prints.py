"""`archcolor evaluate --mode prints`: colour on real coloured prints, against the real colouring.

Every print is split into its ink layer and its wash (:func:`decompose_print`). The network sees
the ink layer's L* (what an uncoloured master of that plate looks like) and predicts a*, b*; the
candidate derivative is rendered from the ink layer as the master:

* ``wash``: ink x a transparent wash of the predicted a*, b*
  (:func:`~archive_colorizer.imaging.wash.render_wash_codes`, with the model's darkening);
* ``luminance``: the master's L* kept, a*, b* swapped in.

**Truth** is the print itself relative to its paper (``print / paper colour`` in linear light):
the real colouring on white paper. The paper's own tone (cream, yellowed) is not colouring and
no master of the plate carries it, so it is divided out for every candidate alike.

Baselines on the same images:

* ``grey``: the master (the ink layer) as it is;
* ``best-flat-tint``: the master's L* with the single a*, b* that is the set's mean truth
  chroma (an oracle);
* ``flat-wash``: the master multiplied by one flat wash, the set's mean wash colour in linear
  light (an oracle).

Metrics per image (:func:`print_metrics`), means over the set:

* ``ciede2000``: mean CIEDE2000 of candidate vs truth, both box-reduced to 1/4 scale;
* ``ab_rmse``: RMS of the a*, b* differences (over both channels) at 1/8 scale;
* ``cf_pred`` / ``cf_true``: Hasler-Süsstrunk colourfulness at 1/4 scale;
* ``chromatic_pred`` / ``chromatic_true``: share of 1/4-scale pixels with chroma > 6;
* ``hue_entropy_pred`` / ``hue_entropy_true``: entropy (bits) of the hue of those chromatic
  pixels in 12 bins of 30° (0 when there are none).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt
from PIL import Image

from archive_colorizer.errors import InputError
from archive_colorizer.imaging.color import (
    lab_to_srgb_codes,
    lightness_to_grey,
    linear_lut,
    linear_to_codes,
    srgb_codes_to_lab,
)
from archive_colorizer.imaging.datasets import ImageItem, load_rgb
from archive_colorizer.imaging.hints import truth_hints
from archive_colorizer.imaging.metrics import ciede2000, colourfulness
from archive_colorizer.imaging.prints import decompose_print
from archive_colorizer.imaging.reference import ab_prior, reference_colours
from archive_colorizer.imaging.wash import WASH_DARKENING, render_wash_codes
from archive_colorizer.services.colorize import predict_chroma
from archive_colorizer.services.evaluate import ChromaPredictor, hint_rng

PRINT_METHODS = ("model", "grey", "best-flat-tint", "flat-wash")
RENDERS = ("wash", "luminance")
CHROMATIC = 6.0
HUE_BINS = 12
U8 = npt.NDArray[np.uint8]
F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PrintTruth:
    """One print: the truth (print / paper, sRGB codes), the master (ink layer) and its L*."""

    item: ImageItem
    truth: U8
    master: U8
    master_lightness: F32
    mean_wash: F32
    #: the wash's a*, b* ``(2, H, W)``: what the network should predict
    wash_ab: F32 | None = None


def load_print_truth(item: ImageItem) -> PrintTruth:
    """Decompose ``item`` (see the module docstring)."""
    layers = decompose_print(load_rgb(item.path))
    truth = np.asarray(linear_to_codes(layers.print_linear, 8), dtype=np.uint8)
    master = np.asarray(lightness_to_grey(layers.ink_lightness, 8), dtype=np.uint8)
    mean_wash = layers.wash_linear.reshape(-1, 3).mean(axis=0).astype(np.float32)
    wash_ab = np.stack((layers.wash_a, layers.wash_b)).astype(np.float32)
    return PrintTruth(item, truth, master, layers.ink_lightness, mean_wash, wash_ab)


def render_candidate(
    master: U8, a: npt.ArrayLike, b: npt.ArrayLike, render: str, darkening: float
) -> U8:
    """The derivative of an 8-bit grey master for a*, b* (planes or flat values)."""
    a_plane = np.broadcast_to(np.asarray(a, dtype=np.float32), master.shape)
    b_plane = np.broadcast_to(np.asarray(b, dtype=np.float32), master.shape)
    if render == "wash":
        return np.asarray(
            render_wash_codes(master, 8, a_plane, b_plane, darkening=darkening), dtype=np.uint8
        )
    if render == "luminance":
        from archive_colorizer.imaging.color import grey_to_lightness

        lightness = grey_to_lightness(master, 8)
        return np.asarray(lab_to_srgb_codes(lightness, a_plane, b_plane, 8), dtype=np.uint8)
    raise ValueError(f"render must be one of {', '.join(RENDERS)}, not {render!r}")


def flat_wash(master: U8, wash_linear: npt.ArrayLike) -> U8:
    """The master multiplied by one flat linear-RGB wash colour."""
    layer = np.asarray(wash_linear, dtype=np.float32).reshape(1, 1, 3)
    return np.asarray(linear_to_codes(linear_lut(8)[master][..., None] * layer, 8), dtype=np.uint8)


def reduce(rgb: U8, factor: int) -> U8:
    """Box reduction by ``factor`` (at least 1 px)."""
    height, width = rgb.shape[:2]
    size = (max(1, width // factor), max(1, height // factor))
    return np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BOX), dtype=np.uint8)


def hue_entropy(a: npt.ArrayLike, b: npt.ArrayLike, threshold: float = CHROMATIC) -> float:
    """Entropy in bits of the hue histogram (12 x 30°) of pixels with chroma > ``threshold``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1)
    b = np.asarray(b, dtype=np.float64).reshape(-1)
    chromatic = np.hypot(a, b) > threshold
    if not chromatic.any():
        return 0.0
    hue = np.degrees(np.arctan2(b[chromatic], a[chromatic])) % 360.0
    counts = np.bincount(np.minimum((hue / (360.0 / HUE_BINS)).astype(int), HUE_BINS - 1))
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log2(p)).sum())


def chromatic_share(a: npt.ArrayLike, b: npt.ArrayLike, threshold: float = CHROMATIC) -> float:
    """Share of pixels with chroma > ``threshold``."""
    return float(np.mean(np.hypot(np.asarray(a), np.asarray(b)) > threshold))


def print_metrics(candidate: U8, truth: U8) -> dict[str, float]:
    """The metrics of one candidate derivative against the truth (see the module docstring)."""
    if candidate.shape != truth.shape:
        raise ValueError(f"candidate {candidate.shape} and truth {truth.shape} differ in shape")
    cand4, true4 = reduce(candidate, 4), reduce(truth, 4)
    lab_c = srgb_codes_to_lab(cand4, 8)
    lab_t = srgb_codes_to_lab(true4, 8)
    _, a8c, b8c = srgb_codes_to_lab(reduce(candidate, 8), 8)
    _, a8t, b8t = srgb_codes_to_lab(reduce(truth, 8), 8)
    squares = (a8c - a8t).astype(np.float64) ** 2 + (b8c - b8t).astype(np.float64) ** 2
    return {
        "ciede2000": float(np.mean(ciede2000(lab_c, lab_t))),
        "ab_rmse": math.sqrt(float(np.mean(squares)) / 2.0),
        "cf_pred": colourfulness(cand4),
        "cf_true": colourfulness(true4),
        "chromatic_pred": chromatic_share(lab_c[1], lab_c[2]),
        "chromatic_true": chromatic_share(lab_t[1], lab_t[2]),
        "hue_entropy_pred": hue_entropy(lab_c[1], lab_c[2]),
        "hue_entropy_true": hue_entropy(lab_t[1], lab_t[2]),
    }


@dataclass
class PrintEvaluation:
    """Per-image rows and the means of a prints evaluation."""

    render: str
    darkening: float
    flat_tint_ab: tuple[float, float] = (0.0, 0.0)
    flat_wash_linear: tuple[float, float, float] = (1.0, 1.0, 1.0)
    rows: list[dict[str, Any]] = field(default_factory=list)

    def means(self) -> dict[str, dict[str, float]]:
        result: dict[str, dict[str, float]] = {}
        for method in PRINT_METHODS:
            metrics = [row[method] for row in self.rows if method in row]
            if metrics:
                result[method] = {
                    key: float(np.mean([m[key] for m in metrics])) for key in metrics[0]
                }
                result[method]["images"] = float(len(metrics))
        return result

    def to_dict(self) -> dict[str, Any]:
        return {
            "mode": "prints",
            "render": self.render,
            "darkening": self.darkening,
            "images": len(self.rows),
            "best_flat_tint_ab": list(self.flat_tint_ab),
            "flat_wash_linear": list(self.flat_wash_linear),
            "mean": self.means(),
            "per_image": self.rows,
        }


def predict_with_reference(
    predictor: ChromaPredictor,
    lightness: F32,
    reference: ImageItem | None,
    hints: F32 | None = None,
    prior_weight: float = 0.0,
    reference_global: bool = True,
    render: str | None = None,
) -> F32:
    """a*, b* of ``lightness``; with ``reference`` its L* gives the global prior (when
    ``reference_global``) and, with ``prior_weight`` > 0, its wash's ab histogram a prior on the
    class head, as `colorize --reference` does; ``hints``: hint maps ``(3, h, w)`` spread over
    the prediction as a page's hints are
    (:func:`~archive_colorizer.services.colorize.predict_chroma`)."""
    reference_lightness = None
    prior = None
    if reference is not None:
        rgb = load_rgb(reference.path)
        if reference_global:
            reference_lightness = srgb_codes_to_lab(rgb, 8)[0]
        if prior_weight > 0:
            grid = int(getattr(predictor, "class_grid", 0) or 0)
            prior = ab_prior(reference_colours(rgb)[1], grid)
    return predict_chroma(
        predictor,
        lightness,
        reference=reference_lightness,
        ab_prior=prior,
        prior_weight=prior_weight,
        hints=hints,
        render=render,
    )


def evaluate_prints(
    predictor: ChromaPredictor | None,
    items: Sequence[ImageItem],
    render: str = "wash",
    darkening: float = WASH_DARKENING,
    on_image: Callable[[int, int], None] | None = None,
    references: Sequence[ImageItem | None] | None = None,
    hints: int = 0,
    reference_prior: float = 0.0,
    reference_global: bool = True,
) -> PrintEvaluation:
    """Measure ``predictor`` (None: baselines only) and the baselines on the prints ``items``
    (``references``: per item a colour reference for the global prior, or None, and with
    ``reference_prior`` > 0 for the class head's prior; ``hints``: that many point hints per
    print sampled from its true wash, :func:`truth_hints`)."""
    if render not in RENDERS:
        raise ValueError(f"render must be one of {', '.join(RENDERS)}, not {render!r}")
    if not items:
        raise InputError("no prints to evaluate")
    truths = [load_print_truth(item) for item in items]
    sums = np.zeros(2)
    for truth in truths:
        _, a, b = srgb_codes_to_lab(reduce(truth.truth, 8), 8)
        sums += (float(a.mean()), float(b.mean()))
    flat_ab = (float(sums[0] / len(truths)), float(sums[1] / len(truths)))
    wash = np.mean([truth.mean_wash for truth in truths], axis=0)
    evaluation = PrintEvaluation(
        render=render,
        darkening=darkening,
        flat_tint_ab=flat_ab,
        flat_wash_linear=(float(wash[0]), float(wash[1]), float(wash[2])),
    )
    for index, truth in enumerate(truths):
        row: dict[str, Any] = {"image": truth.item.path.name, "source": truth.item.source}
        if predictor is not None:
            reference = references[index] if references is not None else None
            maps = None
            if hints and truth.wash_ab is not None:
                maps = truth_hints(truth.wash_ab, hints, hint_rng(index, hints))
            ab = predict_with_reference(
                predictor, truth.master_lightness, reference, maps, reference_prior,
                reference_global, render,
            )  # fmt: skip
            candidate = render_candidate(truth.master, ab[0], ab[1], render, darkening)
            row["model"] = print_metrics(candidate, truth.truth)
            if references is not None:
                row["reference"] = reference.path.name if reference is not None else None
        grey = np.repeat(truth.master[..., None], 3, axis=2)
        row["grey"] = print_metrics(grey, truth.truth)
        tint = render_candidate(truth.master, *flat_ab, "luminance", darkening)
        row["best-flat-tint"] = print_metrics(tint, truth.truth)
        row["flat-wash"] = print_metrics(flat_wash(truth.master, wash), truth.truth)
        evaluation.rows.append(row)
        if on_image is not None:
            on_image(index + 1, len(truths))
    return evaluation


def print_contact_sheet(
    predictor: ChromaPredictor,
    items: Sequence[ImageItem],
    path: Any,
    render: str = "wash",
    darkening: float = WASH_DARKENING,
    cell: int = 192,
) -> Any:
    """PNG rows ``master (ink layer) | ours | truth`` for ``items``."""
    from archive_colorizer.services.evaluate import _cell

    rows = []
    for item in items:
        truth = load_print_truth(item)
        ab = predict_chroma(predictor, truth.master_lightness, render=render)
        ours = render_candidate(truth.master, ab[0], ab[1], render, darkening)
        grey = np.repeat(truth.master[..., None], 3, axis=2)
        rows.append(np.hstack([_cell(grey, cell), _cell(ours, cell), _cell(truth.truth, cell)]))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.vstack(rows)).save(path, optimize=True)
    return path


def decomposition_sheet(items: Sequence[ImageItem], path: Any, cell: int = 144) -> Any:
    """PNG rows ``input (ink layer) | target rendered as a wash on white paper | original``."""
    from archive_colorizer.services.evaluate import _cell

    rows = []
    for item in items:
        rgb = load_rgb(item.path)
        layers = decompose_print(rgb)
        master = np.asarray(lightness_to_grey(layers.ink_lightness, 8), dtype=np.uint8)
        target = np.asarray(linear_to_codes(layers.wash_linear, 8), dtype=np.uint8)
        grey = np.repeat(master[..., None], 3, axis=2)
        rows.append(np.hstack([_cell(grey, cell), _cell(target, cell), _cell(rgb, cell)]))
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.vstack(rows)).save(path, optimize=True)
    return path


def darkening_fit(items: Sequence[ImageItem], min_lightness: float = 0.0) -> dict[str, float]:
    """Fit ``k`` of ``L*_w = 100 - k · C*_w`` on the washes of ``items`` (least squares through
    the origin over wash pixels with chroma ≥ 6 and L* ≥ ``min_lightness``), and the median of
    the per-pixel ratio ``(100 - L*) / C*`` over the same pixels."""
    numerator = denominator = 0.0
    ratios: list[npt.NDArray[np.float32]] = []
    for item in items:
        layers = decompose_print(load_rgb(item.path))
        chroma = np.hypot(layers.wash_a, layers.wash_b)
        mask = (chroma >= CHROMATIC) & (layers.wash_lightness >= min_lightness)
        c = chroma[mask].astype(np.float64)
        drop = 100.0 - layers.wash_lightness[mask].astype(np.float64)
        numerator += float((drop * c).sum())
        denominator += float((c * c).sum())
        ratios.append((drop / c).astype(np.float32)[::16])
    if denominator <= 0:
        raise InputError("no chromatic wash pixels to fit the darkening on")
    return {
        "k_least_squares": numerator / denominator,
        "k_median_ratio": float(np.median(np.concatenate(ratios))),
        "prints": float(len(items)),
    }
