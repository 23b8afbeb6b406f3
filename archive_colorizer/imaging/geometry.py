"""Pixel geometry: working (chroma) size, tile grids with halos, and resampling coordinates.

All coordinates are integer pixel indices with exclusive ends (``x0 <= x < x1``); pixel ``i``
covers the interval ``[i, i + 1)`` and has its centre at ``i + 0.5``. Whole-image coordinates
are used throughout, so that any tiling of an image computes exactly the same pixels.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

__all__ = [
    "Taps",
    "Tile",
    "bands",
    "linear_taps",
    "round_up",
    "tile_grid",
    "working_size",
]


def round_up(value: int, multiple: int) -> int:
    """Smallest multiple of ``multiple`` that is ``>= value`` (``multiple >= 1``)."""
    if multiple < 1:
        raise ValueError(f"multiple must be >= 1, not {multiple}")
    return -(-value // multiple) * multiple


def working_size(width: int, height: int, chroma_size: int) -> tuple[int, int]:
    """Size ``(w, h)`` of the working image whose long side is ``chroma_size``.

    ``chroma_size == 0`` or a page no larger than ``chroma_size`` gives the full size: the
    working image is never larger than the master. Otherwise both sides are scaled by
    ``chroma_size / long side`` and rounded half up (at least 1 px), so the long side is
    exactly ``chroma_size`` and the aspect ratio is kept within half a pixel.
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, not {width}x{height}")
    if chroma_size < 0:
        raise ValueError(f"chroma size must be >= 0, not {chroma_size}")
    long_side = max(width, height)
    if chroma_size == 0 or long_side <= chroma_size:
        return width, height
    w = max(1, (2 * width * chroma_size + long_side) // (2 * long_side))
    h = max(1, (2 * height * chroma_size + long_side) // (2 * long_side))
    return w, h


def bands(height: int, rows: int) -> Iterator[tuple[int, int]]:
    """Row ranges ``(y0, y1)`` of consecutive bands of at most ``rows`` rows covering ``height``."""
    if rows < 1:
        raise ValueError(f"band height must be >= 1, not {rows}")
    for y0 in range(0, height, rows):
        yield y0, min(height, y0 + rows)


@dataclass(frozen=True)
class Tile:
    """One tile of a grid: a core that the grid partitions, inside a halo that tiles share.

    ``core`` regions of a grid cover the image exactly once. The ``halo`` region is the core
    grown by the grid's halo on every side and clipped to the image; its origin lies on the
    grid's stride, so a strided network sees the same phase in every tile.
    """

    row: int
    column: int
    x0: int
    y0: int
    x1: int
    y1: int
    halo_x0: int
    halo_y0: int
    halo_x1: int
    halo_y1: int

    @property
    def core_in_halo(self) -> tuple[slice, slice]:
        """``(rows, columns)`` slices that cut the core out of an array of the halo region."""
        return (
            slice(self.y0 - self.halo_y0, self.y1 - self.halo_y0),
            slice(self.x0 - self.halo_x0, self.x1 - self.halo_x0),
        )


def tile_grid(width: int, height: int, tile: int, *, halo: int = 0, stride: int = 1) -> list[Tile]:
    """Tiles of (at most) ``tile`` px covering a ``width`` x ``height`` image, row-major.

    ``tile`` and ``halo`` are rounded UP to multiples of ``stride``, so every core and halo
    origin is a multiple of ``stride``. Edge tiles are clipped to the image (smaller cores);
    halos are clipped at the image border (the network pads there, as it would untiled).
    """
    if width < 1 or height < 1:
        raise ValueError(f"image size must be positive, not {width}x{height}")
    if tile < 1 or halo < 0 or stride < 1:
        raise ValueError(f"invalid tile grid: tile={tile}, halo={halo}, stride={stride}")
    size = round_up(tile, stride)
    margin = round_up(halo, stride)
    tiles: list[Tile] = []
    for row, y0 in enumerate(range(0, height, size)):
        y1 = min(height, y0 + size)
        for column, x0 in enumerate(range(0, width, size)):
            x1 = min(width, x0 + size)
            tiles.append(
                Tile(
                    row=row,
                    column=column,
                    x0=x0,
                    y0=y0,
                    x1=x1,
                    y1=y1,
                    halo_x0=max(0, x0 - margin),
                    halo_y0=max(0, y0 - margin),
                    halo_x1=min(width, x1 + margin),
                    halo_y1=min(height, y1 + margin),
                )
            )
    return tiles


@dataclass(frozen=True)
class Taps:
    """Two-tap linear interpolation along one axis: ``(1 - weight) * v[low] + weight * v[high]``."""

    low: npt.NDArray[np.intp]
    high: npt.NDArray[np.intp]
    weight: npt.NDArray[np.float32]


def linear_taps(full: int, working: int, start: int, stop: int) -> Taps:
    """Taps that resample a ``working``-px axis at the centres of full-res pixels ``start..stop``.

    Pixel centres map by ``x_w = (x + 0.5) * working / full - 0.5`` (the half-pixel convention,
    the same as OpenCV/Pillow bilinear resize), clamped to ``[0, working - 1]`` so the border
    holds the edge value. Computed in float64 from the whole-image index, so a pixel gets the
    same taps whichever tile asks for it.
    """
    if full < 1 or working < 1:
        raise ValueError(f"axis sizes must be positive, not {full} and {working}")
    if not 0 <= start <= stop <= full:
        raise ValueError(f"range {start}..{stop} is outside an axis of {full} px")
    x = np.arange(start, stop, dtype=np.float64)
    position = (x + 0.5) * (working / full) - 0.5
    np.clip(position, 0.0, working - 1, out=position)
    low = np.floor(position).astype(np.intp)
    np.minimum(low, max(working - 2, 0), out=low)
    weight = (position - low).astype(np.float32)
    high = np.minimum(low + 1, working - 1)
    return Taps(low=low, high=high, weight=weight)
