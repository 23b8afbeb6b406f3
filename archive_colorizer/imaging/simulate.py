"""Engraving simulator: turn a photo into something that looks like a printed gravure.

Used as a training augmentation of the network INPUT (targets come from the clean photo) and by
``archcolor simulate``. Four styles:

``color-gravure``
    The 2018 report's filter, step by step (sections 3.1/3.2): Gaussian pyramid down twice,
    seven small bilateral filters, pyramid up twice and back to the ORIGINAL size (the report's
    code lost the odd rows/columns here; we resize to the exact input dims); grey + median blur;
    adaptive-threshold edges converted back to RGB; bitwise AND of the two. RGB out.
``gravure``
    The same filter's result reduced to grey (what a monochrome print of it looks like).
``hatching``
    Parallel engraved lines whose width follows darkness (cross-hatching in the shadows), slightly
    wavy, on toned paper, with scanner noise and blur. Grey out.
``halftone``
    A rotated dot screen whose dot area follows darkness, on toned paper, noise and blur. Grey out.

Everything is deterministic for a given seed (``gravure``/``color-gravure`` do not use it).
numpy + OpenCV only.
"""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np
from numpy.typing import NDArray

from archive_colorizer.errors import ConfigurationError

__all__ = [
    "STYLES",
    "simulate",
]

STYLES: Final[tuple[str, ...]] = ("gravure", "color-gravure", "hatching", "halftone")

#: the report's parameters (the classic OpenCV "cartoon" recipe it describes)
PYRAMID_LEVELS: Final = 2
BILATERAL_PASSES: Final = 7
BILATERAL_DIAMETER: Final = 9
BILATERAL_SIGMA_COLOR: Final = 9
BILATERAL_SIGMA_SPACE: Final = 7
MEDIAN_KERNEL: Final = 7
THRESHOLD_BLOCK: Final = 9
THRESHOLD_C: Final = 2

U8 = NDArray[np.uint8]
F32 = NDArray[np.float32]


def _as_rgb(image: NDArray[np.generic]) -> U8:
    array = np.asarray(image)
    if array.dtype != np.uint8:
        raise ConfigurationError(f"simulate expects an 8-bit image, got dtype {array.dtype}")
    if array.ndim == 2:
        return np.ascontiguousarray(np.repeat(array[:, :, None], 3, axis=2))
    if array.ndim == 3 and array.shape[2] == 3:
        return np.ascontiguousarray(array)
    if array.ndim == 3 and array.shape[2] == 4:
        return np.ascontiguousarray(array[:, :, :3])
    raise ConfigurationError(f"simulate expects a grey or RGB image, got shape {array.shape}")


def _grey(rgb: U8) -> U8:
    return np.asarray(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), dtype=np.uint8)


def report_color_gravure(image: NDArray[np.generic]) -> U8:
    """The report's colour-gravure filter; output has exactly the input's height and width."""
    rgb = _as_rgb(image)
    height, width = rgb.shape[:2]
    colour: np.ndarray = rgb
    for _ in range(PYRAMID_LEVELS):
        if min(colour.shape[:2]) < 2:
            break
        colour = cv2.pyrDown(colour)
    for _ in range(BILATERAL_PASSES):
        colour = cv2.bilateralFilter(
            colour, BILATERAL_DIAMETER, BILATERAL_SIGMA_COLOR, BILATERAL_SIGMA_SPACE
        )
    for _ in range(PYRAMID_LEVELS):
        colour = cv2.pyrUp(colour)
    if colour.shape[:2] != (height, width):
        colour = cv2.resize(colour, (width, height), interpolation=cv2.INTER_LINEAR)
    blurred = cv2.medianBlur(_grey(rgb), MEDIAN_KERNEL)
    edges = cv2.adaptiveThreshold(
        blurred,
        255,
        cv2.ADAPTIVE_THRESH_MEAN_C,
        cv2.THRESH_BINARY,
        THRESHOLD_BLOCK,
        THRESHOLD_C,
    )
    edges_rgb = cv2.cvtColor(edges, cv2.COLOR_GRAY2RGB)
    return np.asarray(cv2.bitwise_and(colour, edges_rgb), dtype=np.uint8)


def report_gravure(image: NDArray[np.generic]) -> U8:
    """The report's filter reduced to grey."""
    return _grey(report_color_gravure(image))


def _darkness(rgb: U8, rng: np.random.Generator) -> F32:
    """Ink coverage wanted per pixel (0 paper .. 1 solid ink), lightly smoothed and contrasted."""
    grey = np.asarray(
        cv2.GaussianBlur(
            _grey(rgb).astype(np.float32) / 255.0, (0, 0), float(rng.uniform(0.6, 1.2))
        ),
        dtype=np.float32,
    )
    gamma = float(rng.uniform(0.8, 1.25))
    return np.asarray(1.0 - np.clip(grey, 0.0, 1.0) ** gamma, dtype=np.float32)


def _coordinates(height: int, width: int, angle: float) -> tuple[F32, F32]:
    ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
    cos, sin = np.float32(np.cos(angle)), np.float32(np.sin(angle))
    return xs * cos + ys * sin, -xs * sin + ys * cos


def _soft(distance_inside: F32) -> F32:
    """Anti-aliased coverage from a signed distance (positive = inside the ink)."""
    return np.asarray(np.clip(distance_inside + 0.5, 0.0, 1.0), dtype=np.float32)


def _line_ink(
    darkness: F32, angle: float, period: float, wave: float, rng: np.random.Generator
) -> F32:
    height, width = darkness.shape
    u, v = _coordinates(height, width, angle)
    wavelength = float(rng.uniform(40.0, 120.0))
    phase = float(rng.uniform(0.0, 2 * np.pi))
    v = v + wave * np.sin(u * (2 * np.pi / wavelength) + phase).astype(np.float32)
    offset = np.abs(((v / period) % 1.0) - 0.5) * period  # distance from the line centre
    half_width = darkness * period / 2.0
    return _soft(np.asarray(half_width - (period / 2.0 - offset), dtype=np.float32))


def _finish(ink: F32, rng: np.random.Generator) -> U8:
    """Paper tone, ink tone, scan blur and noise; grey uint8."""
    paper = float(rng.uniform(0.86, 0.98))
    ink_tone = float(rng.uniform(0.04, 0.2))
    inked = (paper + (ink_tone - paper) * np.clip(ink, 0.0, 1.0)).astype(np.float32)
    image = np.asarray(
        cv2.GaussianBlur(inked, (0, 0), float(rng.uniform(0.4, 1.1))), dtype=np.float32
    )
    noise = rng.normal(0.0, float(rng.uniform(0.005, 0.025)), size=image.shape)
    image = image + noise.astype(np.float32)
    return np.asarray(np.clip(np.rint(image * 255.0), 0, 255), dtype=np.uint8)


def hatching(image: NDArray[np.generic], seed: int = 0) -> U8:
    """Line engraving: line width follows darkness, cross-hatched shadows, paper, noise, blur."""
    rng = np.random.default_rng(seed)
    darkness = _darkness(_as_rgb(image), rng)
    period = float(rng.uniform(3.0, 6.0))
    angle = float(rng.uniform(0.0, np.pi))
    wave = float(rng.uniform(0.0, 1.5))
    first = _line_ink(np.clip(darkness * 1.1, 0.0, 1.0), angle, period, wave, rng)
    cross_angle = angle + float(rng.uniform(np.pi / 4, np.pi / 2))
    shadow = np.clip((darkness - 0.55) * 2.2, 0.0, 1.0)
    second = _line_ink(shadow, cross_angle, period, wave, rng) * (shadow > 0)
    ink = np.maximum(first, second)
    return _finish(np.asarray(ink, dtype=np.float32), rng)


def halftone(image: NDArray[np.generic], seed: int = 0) -> U8:
    """Rotated dot screen: dot area follows darkness; paper, noise, blur."""
    rng = np.random.default_rng(seed)
    darkness = _darkness(_as_rgb(image), rng)
    height, width = darkness.shape
    period = float(rng.uniform(3.0, 7.0))
    angle = float(rng.choice([np.pi / 4, np.pi / 12, rng.uniform(0.0, np.pi / 2)]))
    u, v = _coordinates(height, width, angle)
    du = ((u / period) % 1.0 - 0.5) * period
    dv = ((v / period) % 1.0 - 0.5) * period
    distance = np.sqrt(du * du + dv * dv)
    radius = period * np.sqrt(darkness / np.pi)
    ink = _soft(np.asarray(radius - distance, dtype=np.float32))
    ink = np.maximum(ink, (darkness > 0.92).astype(np.float32))
    return _finish(ink, rng)


def simulate(image: NDArray[np.generic], style: str, seed: int = 0) -> U8:
    """Render ``image`` (uint8 grey or RGB) in ``style``; same height and width as the input.

    ``color-gravure`` returns RGB (H,W,3); the other styles return grey (H,W).
    """
    if style == "color-gravure":
        return report_color_gravure(image)
    if style == "gravure":
        return report_gravure(image)
    if style == "hatching":
        return hatching(image, seed)
    if style == "halftone":
        return halftone(image, seed)
    raise ConfigurationError(
        f"unknown simulation style {style!r}; choose one of {', '.join(STYLES)}"
    )
