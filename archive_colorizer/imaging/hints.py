"""Colour hints rasterised at the chroma working resolution: a*, b* maps and a hint mask.

Hints come in the master's *displayed* pixel coordinates (after its TIFF Orientation): a
position ``(x, y)`` names pixel ``(x, y)``, whose centre is the continuous point
``(x + 0.5, y + 0.5)`` (the convention of :mod:`archive_colorizer.imaging.geometry`; fractional
positions are allowed). On a working image of ``w x h`` for a page of ``W x H`` that centre is
at ``((x + 0.5) * w / W, (y + 0.5) * h / H)`` in working pixels, and working pixel ``(i, j)``
covers ``[i, i + 1) x [j, j + 1)``.

A hint covers the working pixels whose centres lie within ``radius`` (displayed px, scaled to
working px by the mean of the two axis scales) of its point or polyline, and always the pixels
its point or polyline passes through, so a hint is never lost however small it is. Hints are
painted in order: a later hint overwrites an earlier one where they overlap. The maps hold the
hint's a*, b* where the mask is 1 and 0 elsewhere.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Hint",
    "HintMaps",
    "rasterise_hints",
    "truth_hints",
    "working_position",
]

FloatArray = npt.NDArray[np.float32]
#: spacing (working px) of the samples that mark the pixels a stroke passes through
_TRACE_STEP = 0.25


@dataclass(frozen=True)
class Hint:
    """One point (one position) or stroke (a polyline) with a radius and a CIE Lab colour."""

    points: tuple[tuple[float, float], ...]  # displayed pixel positions (x, y)
    radius: float  # displayed pixels
    lab: tuple[float, float, float]


@dataclass(frozen=True)
class HintMaps:
    """Hint a*, b* and mask ``float32 (h, w)`` at the working resolution."""

    a: FloatArray
    b: FloatArray
    mask: FloatArray

    @property
    def count(self) -> int:
        """Number of working pixels carrying a hint."""
        return int(np.count_nonzero(self.mask))

    def stacked(self) -> FloatArray:
        """``(3, h, w)``: a*, b*, mask."""
        return np.stack((self.a, self.b, self.mask)).astype(np.float32)


def working_position(x: float, full: int, working: int) -> float:
    """Continuous working-image coordinate of the centre of displayed pixel ``x``."""
    return (x + 0.5) * (working / full)


def _segment_distance2(
    px: npt.NDArray[np.float64],
    py: npt.NDArray[np.float64],
    start: tuple[float, float],
    end: tuple[float, float],
) -> npt.NDArray[np.float64]:
    dx, dy = end[0] - start[0], end[1] - start[1]
    length2 = dx * dx + dy * dy
    if length2 == 0.0:
        t = np.zeros_like(px)
    else:
        t = np.clip(((px - start[0]) * dx + (py - start[1]) * dy) / length2, 0.0, 1.0)
    ex = px - (start[0] + t * dx)
    ey = py - (start[1] + t * dy)
    return np.asarray(ex * ex + ey * ey, dtype=np.float64)


def _traced(
    vertices: Sequence[tuple[float, float]], width: int, height: int
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Working pixels ``(columns, rows)`` that the polyline (or the point) passes through."""
    xs: list[npt.NDArray[np.float64]] = [np.asarray([vertices[0][0]])]
    ys: list[npt.NDArray[np.float64]] = [np.asarray([vertices[0][1]])]
    for start, end in itertools.pairwise(vertices):
        steps = max(1, math.ceil(math.hypot(end[0] - start[0], end[1] - start[1]) / _TRACE_STEP))
        t = np.linspace(0.0, 1.0, steps + 1)
        xs.append(start[0] + t * (end[0] - start[0]))
        ys.append(start[1] + t * (end[1] - start[1]))
    columns = np.clip(np.floor(np.concatenate(xs)), 0, width - 1).astype(np.intp)
    rows = np.clip(np.floor(np.concatenate(ys)), 0, height - 1).astype(np.intp)
    return columns, rows


def rasterise_hints(
    hints: Sequence[Hint], page_size: tuple[int, int], working_size: tuple[int, int]
) -> HintMaps:
    """Hint maps at ``working_size`` ``(w, h)`` for hints on a page of ``page_size`` ``(W, H)``.

    See the module docstring for the coordinate mapping and the coverage rule.
    """
    page_w, page_h = page_size
    width, height = working_size
    if min(page_w, page_h, width, height) < 1:
        raise ValueError(f"sizes must be positive, got page {page_size}, working {working_size}")
    a = np.zeros((height, width), dtype=np.float32)
    b = np.zeros((height, width), dtype=np.float32)
    mask = np.zeros((height, width), dtype=np.float32)
    scale_x, scale_y = width / page_w, height / page_h
    scale = (scale_x + scale_y) / 2.0
    for hint in hints:
        if not hint.points:
            raise ValueError("a hint needs at least one point")
        vertices = [((x + 0.5) * scale_x, (y + 0.5) * scale_y) for x, y in hint.points]
        radius = max(0.0, hint.radius) * scale
        xs = [v[0] for v in vertices]
        ys = [v[1] for v in vertices]
        # the box holding every pixel the hint can cover (its traced pixels are clamped into it)
        x0 = min(width - 1, max(0, math.floor(min(xs) - radius - 1)))
        x1 = max(x0 + 1, min(width, math.ceil(max(xs) + radius + 1)))
        y0 = min(height - 1, max(0, math.floor(min(ys) - radius - 1)))
        y1 = max(y0 + 1, min(height, math.ceil(max(ys) + radius + 1)))
        covered = np.zeros((y1 - y0, x1 - x0), dtype=bool)
        columns, rows = _traced(vertices, width, height)
        covered[rows - y0, columns - x0] = True
        if radius > 0:
            py, px = np.mgrid[y0:y1, x0:x1].astype(np.float64) + 0.5
            nearest = np.full(px.shape, np.inf)
            pairs = list(itertools.pairwise(vertices)) or [(vertices[0], vertices[0])]
            for start, end in pairs:
                np.minimum(nearest, _segment_distance2(px, py, start, end), out=nearest)
            covered |= nearest <= radius * radius
        window = (slice(y0, y1), slice(x0, x1))
        a[window][covered] = hint.lab[1]
        b[window][covered] = hint.lab[2]
        mask[window][covered] = 1.0
    return HintMaps(a=a, b=b, mask=mask)


def truth_hints(
    ab: npt.ArrayLike, count: int, rng: np.random.Generator, radius: float = 3.0
) -> FloatArray:
    """Hint maps ``(3, h, w)`` of ``count`` point hints at random positions of an image whose
    true a*, b* ``(2, h, w)`` are known, each coloured with the mean truth under its disc of
    ``radius`` px (how `archcolor evaluate --hints K` stands in for a curator)."""
    truth = np.asarray(ab, dtype=np.float32)
    _, height, width = truth.shape
    hints = []
    for _ in range(count):
        x, y = float(rng.uniform(0, width)), float(rng.uniform(0, height))
        disc = rasterise_hints([Hint(((x, y),), radius, (0.0, 0.0, 0.0))], (width, height),
                               (width, height)).mask > 0  # fmt: skip
        colour = (50.0, float(truth[0][disc].mean()), float(truth[1][disc].mean()))
        hints.append(Hint(((x, y),), radius, colour))
    return rasterise_hints(hints, (width, height), (width, height)).stacked()
