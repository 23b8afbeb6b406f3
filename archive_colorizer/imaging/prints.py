"""Print decomposition: a real hand-coloured print → its uncoloured plate (ink) and its wash.

A hand-coloured print is ``ink x wash x paper`` in linear light. An uncoloured master has white
paper between the lines, so a network trained on the print's own L* learns to read colour from
wash darkness it will never see. :func:`decompose_print` splits an RGB print (8-bit sRGB) into

* the **ink layer** (the network input): ``Y_ink = Y_print / Y_envelope`` clipped to 0..1, as
  L* — thin dark lines on white paper;
* the **wash** (the target): the envelope divided by the paper colour per channel, clipped to
  0..1, as CIE L*a*b* — so a cream or yellowed paper is white, not learned as colour.

The **envelope** is the smooth wash-and-paper field over the ink: per linear channel a grey
closing (max filter, then min filter, ``window`` px square) that bridges ink lines narrower
than the window, then a box blur of the same size, then never below the print itself. For
speed the closing and blur run at half resolution (after a 2 x 2 max, itself a dilation). The
**paper colour** is the median envelope colour of its brightest ``PAPER_SHARE`` of pixels (by
luminance).

:func:`fit_darkening` fits ``k`` of the wash lightness model ``L*_w = 100 - k · C*_w`` (see
:mod:`archive_colorizer.imaging.wash`) by least squares through the origin.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from archive_colorizer.imaging.color import linear_lut, linear_to_srgb, srgb_to_lab

__all__ = [
    "LUMA",
    "PrintLayers",
    "decompose_print",
    "default_window",
    "fit_darkening",
    "linear_to_lightness",
]

F32 = npt.NDArray[np.float32]
#: Rec. 709 / sRGB luminance weights of linear R, G, B
LUMA = np.array([0.2126, 0.7152, 0.0722], dtype=np.float32)
#: share of the brightest envelope pixels whose median colour is the paper
PAPER_SHARE = 0.02
#: wash pixels with at least this chroma count in the darkening fit
FIT_MIN_CHROMA = 6.0


@dataclass(frozen=True)
class PrintLayers:
    """The parts of one print (planes ``(H, W)`` float32)."""

    ink_lightness: F32
    wash_lightness: F32
    wash_a: F32
    wash_b: F32
    #: linear-sRGB colour of the paper (3,)
    paper: F32
    #: the wash relative to the paper, linear sRGB ``(H, W, 3)`` in 0..1 (1 = paper)
    wash_linear: F32
    #: the print relative to the paper, linear sRGB ``(H, W, 3)`` in 0..1 (ink x wash)
    print_linear: F32


def default_window(height: int, width: int) -> int:
    """Closing window for a print of this size: about 1/64 of the short side, odd, 5..15 px."""
    side = max(5, min(15, round(min(height, width) / 64)))
    return side | 1


def _filter_axis(plane: F32, size: int, axis: int, reducer: str) -> F32:
    pad = size // 2
    widths = [(0, 0), (0, 0)]
    widths[axis] = (pad, pad)
    padded = np.pad(plane, widths, mode="edge")
    windows = sliding_window_view(padded, size, axis=axis)
    if reducer == "max":
        return np.asarray(windows.max(axis=-1), dtype=np.float32)
    if reducer == "min":
        return np.asarray(windows.min(axis=-1), dtype=np.float32)
    return np.asarray(windows.mean(axis=-1), dtype=np.float32)


def _filter2d(plane: F32, size: int, reducer: str) -> F32:
    return _filter_axis(_filter_axis(plane, size, 0, reducer), size, 1, reducer)


def linear_to_lightness(y: npt.ArrayLike) -> F32:
    """Relative luminance 0..1 → CIE L* 0..100."""
    t = np.clip(np.asarray(y, dtype=np.float32), 0.0, None)
    epsilon = np.float32((6.0 / 29.0) ** 3)
    f = np.where(t > epsilon, np.cbrt(t), t / np.float32(3 * (6.0 / 29.0) ** 2) + 4.0 / 29.0)
    return np.asarray(np.float32(116.0) * f - np.float32(16.0), dtype=np.float32)


def envelope(linear: F32, window: int) -> F32:
    """The smooth upper envelope ``(H, W, 3)`` of a linear RGB print (see module docstring)."""
    height, width = linear.shape[:2]
    padded = np.pad(linear, ((0, height % 2), (0, width % 2), (0, 0)), mode="edge")
    half = padded.reshape(padded.shape[0] // 2, 2, padded.shape[1] // 2, 2, 3).max(axis=(1, 3))
    size = max(3, window // 2) | 1
    planes = []
    for channel in range(3):
        plane = np.ascontiguousarray(half[..., channel])
        closed = _filter2d(_filter2d(plane, size, "max"), size, "min")
        smooth = _filter2d(closed, size, "mean")
        full = np.repeat(np.repeat(smooth, 2, axis=0), 2, axis=1)[:height, :width]
        planes.append(np.maximum(full, linear[..., channel]))
    return np.stack(planes, axis=-1)


def decompose_print(rgb: npt.NDArray[np.uint8], window: int | None = None) -> PrintLayers:
    """Split an 8-bit sRGB print ``(H, W, 3)`` into ink and wash (see the module docstring)."""
    if rgb.ndim != 3 or rgb.shape[2] != 3 or rgb.dtype != np.uint8:
        raise ValueError(f"a print must be uint8 (H, W, 3), not {rgb.dtype} {rgb.shape}")
    height, width = rgb.shape[:2]
    size = window if window is not None else default_window(height, width)
    linear = linear_lut(8)[rgb]
    field = envelope(linear, size)
    field_y = field @ LUMA
    cutoff = np.quantile(field_y, 1.0 - PAPER_SHARE)
    paper = np.median(field[field_y >= cutoff], axis=0).astype(np.float32)
    paper = np.maximum(paper, np.float32(1e-3))
    wash = np.clip(field / paper, 0.0, 1.0).astype(np.float32)
    print_y = linear @ LUMA
    ink_y = np.clip(print_y / np.maximum(field_y, np.float32(1e-4)), 0.0, 1.0)
    wash_l, wash_a, wash_b = srgb_to_lab(linear_to_srgb(wash))
    return PrintLayers(
        ink_lightness=linear_to_lightness(ink_y),
        wash_lightness=wash_l,
        wash_a=wash_a,
        wash_b=wash_b,
        paper=paper,
        wash_linear=wash,
        print_linear=np.clip(linear / paper, 0.0, 1.0).astype(np.float32),
    )


def darkening_sums(layers: PrintLayers, min_chroma: float = FIT_MIN_CHROMA) -> tuple[float, float]:
    """``(Σ (100 - L*) C*, Σ C*²)`` over the wash pixels with chroma ≥ ``min_chroma``."""
    chroma = np.hypot(layers.wash_a, layers.wash_b)
    mask = chroma >= min_chroma
    c = chroma[mask].astype(np.float64)
    drop = 100.0 - layers.wash_lightness[mask].astype(np.float64)
    return float((drop * c).sum()), float((c * c).sum())


def fit_darkening(layers: list[PrintLayers], min_chroma: float = FIT_MIN_CHROMA) -> float:
    """Least-squares ``k`` of ``100 - L*_w = k · C*_w`` over chromatic wash pixels of ``layers``."""
    numerator = denominator = 0.0
    for item in layers:
        n, d = darkening_sums(item, min_chroma)
        numerator += n
        denominator += d
    if denominator <= 0:
        raise ValueError("no chromatic wash pixels to fit the darkening on")
    return numerator / denominator
