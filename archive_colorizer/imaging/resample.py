"""Exact area-average reduction, streamed band by band, and a low-pass for screened originals.

Area averaging treats each pixel as a constant over its unit square; output pixel ``j`` of an
axis reduced from ``n`` to ``m`` px is the mean over ``[j * n / m, (j + 1) * n / m)``, with
fractional pixels weighted by their overlap (the definition of OpenCV's ``INTER_AREA`` when
shrinking). It is computed from running integrals in float64, so the result does not depend on
how the rows were split into bands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["StreamingAreaReducer", "area_reduce", "gaussian_lowpass"]

#: rows reduced at a time inside one band (bounds the temporaries)
_ROWS_PER_STEP = 128


class _Boundaries:
    """Output-interval boundaries along one axis as (integer part, fractional part)."""

    def __init__(self, full: int, reduced: int) -> None:
        if not 1 <= reduced <= full:
            raise ValueError(f"cannot area-reduce {full} px to {reduced} px")
        self.full, self.reduced = full, reduced
        # exact rationals: boundary j is numerator[j] / reduced = j * full / reduced
        self.numerator = np.arange(reduced + 1, dtype=np.int64) * full
        self.whole = self.numerator // reduced
        self.fraction = (self.numerator % reduced).astype(np.float64) / reduced


class _ColumnWeights:
    """Horizontal reduction: each full pixel splits its value between at most two outputs."""

    def __init__(self, full: int, reduced: int) -> None:
        if not 1 <= reduced <= full:
            raise ValueError(f"cannot area-reduce {full} px to {reduced} px")
        x = np.arange(full, dtype=np.int64)
        # in units of 1/reduced: pixel x covers [x * reduced, (x + 1) * reduced), output j
        # covers [j * full, (j + 1) * full)
        self.first = (x * reduced) // full
        inside = np.minimum((x + 1) * reduced, (self.first + 1) * full) - x * reduced
        self.weight_first = (inside / reduced).astype(np.float32)
        # every output interval is >= 1 px long, so it holds the start of some pixel
        self.starts = np.searchsorted(self.first, np.arange(reduced))
        self.straddling = np.nonzero(inside < reduced)[0]
        self.straddle_target = self.first[self.straddling] + 1
        self.weight_second = ((reduced - inside[self.straddling]) / reduced).astype(np.float32)

    def interval_sums(
        self, rows: npt.NDArray[np.floating], in_place: bool = False
    ) -> npt.NDArray[np.float32]:
        """Per row, the sum of pixel values over each output interval (float32).

        Only pixels straddling two outputs have a first weight below 1 (the others' is exactly
        1.0), so only those columns are weighted; ``in_place`` lets a float32 ``rows`` the
        caller no longer needs be weighted where it is instead of in a copy.
        """
        values = np.asarray(rows, dtype=np.float32)
        if not (in_place and values is rows and values.flags.writeable):
            values = values.copy()
        second = values[:, self.straddling] * self.weight_second
        values[:, self.straddling] *= self.weight_first[self.straddling]
        sums = np.add.reduceat(values, self.starts, axis=1)
        if self.straddling.size:
            sums[:, self.straddle_target] += second
        return sums


class StreamingAreaReducer:
    """Area-reduce a ``width`` x ``height`` float image to ``out_width`` x ``out_height``.

    Feed consecutive full-width row bands top to bottom with :meth:`add`; :meth:`result` gives
    the reduced image. Memory: one band plus ``(out_height + 1) * out_width`` float64 values.
    """

    def __init__(self, width: int, height: int, out_width: int, out_height: int) -> None:
        self.width, self.height = width, height
        self.out_width, self.out_height = out_width, out_height
        self._columns = _ColumnWeights(width, out_width)
        self._rows = _Boundaries(height, out_height)
        # integral of the horizontally reduced rows at every output row boundary
        self._at_boundary = np.zeros((out_height + 1, out_width), dtype=np.float64)
        self._running = np.zeros(out_width, dtype=np.float64)
        self._next_row = 0
        self._next_boundary = 1  # boundary 0 is the zero integral

    def add(self, band: npt.NDArray[np.floating]) -> None:
        """Add the next ``(rows, width)`` band."""
        self.add_sums(self.column_sums(band))

    def column_sums(
        self,
        band: npt.NDArray[Any],
        convert: Callable[[npt.NDArray[Any]], npt.NDArray[np.floating]] | None = None,
    ) -> list[npt.NDArray[np.float64]]:
        """The horizontal half of :meth:`add` for a ``(rows, width)`` band: a pure function, so
        bands can be reduced on several threads; pass the results to :meth:`add_sums` in order.
        ``convert`` (e.g. grey codes → L*) is applied per block of rows, keeping work buffers
        small."""
        if band.ndim != 2 or band.shape[1] != self.width:
            raise ValueError(f"band of shape {band.shape} does not have width {self.width}")
        blocks = []
        for start in range(0, band.shape[0], _ROWS_PER_STEP):
            rows = band[start : start + _ROWS_PER_STEP]
            values = rows if convert is None else convert(rows)
            owned = convert is not None and not np.shares_memory(values, band)
            blocks.append(self._columns.interval_sums(values, owned).astype(np.float64))
        return blocks

    def add_sums(self, blocks: list[npt.NDArray[np.float64]]) -> None:
        """Add the next band as :meth:`column_sums` gave it (the vertical half of :meth:`add`)."""
        if self._next_row + sum(block.shape[0] for block in blocks) > self.height:
            raise ValueError("more rows than the image height were added")
        for block in blocks:
            self._add_rows(block)

    def _add_rows(self, sums: npt.NDArray[np.float64]) -> None:
        """Add one block of horizontally reduced rows ``(count, out_width)``."""
        count = sums.shape[0]
        # vertical integral at the start of every row of this block, from the running total
        y0, y1 = self._next_row, self._next_row + count
        prefix = np.empty((count + 1, self.out_width), dtype=np.float64)
        prefix[0] = self._running
        np.cumsum(sums, axis=0, out=prefix[1:])
        prefix[1:] += self._running
        # boundaries at or before y1 can be completed now
        last = int(np.searchsorted(self._rows.numerator, y1 * self.out_height, side="right"))
        first = self._next_boundary
        if last > first:
            local = self._rows.whole[first:last] - y0
            fraction = self._rows.fraction[first:last, None]
            partial = sums[np.minimum(local, count - 1)] * fraction
            self._at_boundary[first:last] = prefix[local] + partial
            self._next_boundary = last
        self._running = prefix[count]
        self._next_row = y1

    def result(self) -> npt.NDArray[np.float32]:
        """The reduced ``(out_height, out_width)`` image (float32); needs every row added."""
        if self._next_row != self.height or self._next_boundary != self.out_height + 1:
            raise ValueError(f"only {self._next_row} of {self.height} rows were added")
        area = (self.width / self.out_width) * (self.height / self.out_height)
        return (np.diff(self._at_boundary, axis=0) / area).astype(np.float32)


def area_reduce(
    image: npt.NDArray[np.floating], out_width: int, out_height: int
) -> npt.NDArray[np.float32]:
    """Area-reduce an in-memory 2-D image (same arithmetic as the streamed reducer)."""
    height, width = image.shape
    reducer = StreamingAreaReducer(width, height, out_width, out_height)
    reducer.add(image)
    return reducer.result()


def gaussian_lowpass(
    image: npt.NDArray[np.float32], sigma_x: float, sigma_y: float
) -> npt.NDArray[np.float32]:
    """Gaussian blur with mirrored borders (sigmas in px of ``image``; 0 leaves an axis)."""
    if sigma_x <= 0 and sigma_y <= 0:
        return image
    # OpenCV treats a zero sigma as "derive from the kernel size"; use a negligible one instead
    sx = max(sigma_x, 1e-3)
    sy = max(sigma_y, 1e-3)
    kx = 2 * int(np.ceil(4 * sx)) + 1 if sigma_x > 0 else 1
    ky = 2 * int(np.ceil(4 * sy)) + 1 if sigma_y > 0 else 1
    blurred = cv2.GaussianBlur(
        np.ascontiguousarray(image, dtype=np.float32),
        (kx, ky),
        sigmaX=sx,
        sigmaY=sy,
        borderType=cv2.BORDER_REFLECT_101,
    )
    return np.asarray(blurred, dtype=np.float32)
