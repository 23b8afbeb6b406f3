"""Exact area-average reduction of multi-channel images that emits output rows as it goes.

:class:`RowAreaReducer` has the same arithmetic as :mod:`archive_colorizer.imaging.resample`
(each pixel a constant over its unit square, output pixel ``j`` the mean over
``[j * n / m, (j + 1) * n / m)``, fractional overlaps weighted), but returns every output row as
soon as the input rows it covers have arrived. Its memory is one input step plus one output row
— O(width), never O(output image) — so pyramid levels and access copies of gigapixel pages are
made in bounded memory. Integrals run in float64 relative to the current output row, so the
result does not depend on how the input was cut into bands.
"""

from __future__ import annotations

from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

__all__ = ["RowAreaReducer", "reduced_size"]

#: input rows integrated at a time (bounds the float64 temporaries)
_STEP = 64


def reduced_size(width: int, height: int, max_side: int) -> tuple[int, int]:
    """(width, height) scaled so the long side is at most ``max_side`` (aspect kept, >= 1 px)."""
    if max_side < 1:
        raise ValueError("max_side must be positive")
    long_side = max(width, height)
    if long_side <= max_side:
        return width, height
    scale = max_side / long_side
    return max(1, min(max_side, round(width * scale))), max(1, min(max_side, round(height * scale)))


class _Axis:
    """Boundaries of ``reduced`` output intervals over ``full`` input pixels (exact rationals)."""

    def __init__(self, full: int, reduced: int) -> None:
        if not 1 <= reduced <= full:
            raise ValueError(f"cannot area-reduce {full} px to {reduced} px")
        numerator = np.arange(reduced + 1, dtype=np.int64) * full
        self.whole = numerator // reduced  # integer part of each boundary
        self.fraction = (numerator % reduced).astype(np.float64) / reduced
        self.scale = full / reduced


class RowAreaReducer:
    """Area-reduce ``width`` x ``height`` x ``channels`` to ``out_width`` x ``out_height``.

    Feed consecutive bands of shape ``(rows, width, channels)`` (or ``(rows, width)``) top to
    bottom with :meth:`add`; each call returns the output rows completed so far, as float32
    ``(n, out_width, channels)`` (n may be 0). After the last row every output row was returned.
    """

    def __init__(
        self, width: int, height: int, out_width: int, out_height: int, channels: int = 3
    ) -> None:
        self.width, self.height, self.channels = width, height, channels
        self.out_width, self.out_height = out_width, out_height
        self._x = _Axis(width, out_width)
        self._y = _Axis(height, out_height)
        self._row = 0  # next input row
        self._out = 0  # next output row
        # integral (over rows) of horizontally reduced sums since the current output row's start
        self._partial = np.zeros((out_width, channels), dtype=np.float64)
        # the current output row starts ``_lead`` of input row ``_y.whole[_out]`` late
        self._area = self._x.scale * self._y.scale

    @property
    def done(self) -> bool:
        """True once every input row was added."""
        return self._row == self.height

    def _horizontal(self, rows: npt.NDArray[np.float32]) -> npt.NDArray[np.float64]:
        """Per row, the integral over each output column interval: (n, out_width, channels).

        OpenCV's INTER_AREA, when shrinking one axis only, is exactly this area average (the
        overlap-weighted mean); it runs multi-threaded in float32.
        """
        n = rows.shape[0]
        means: npt.NDArray[Any]
        if self.out_width == self.width:
            means = rows
        else:
            planes = (
                [
                    cv2.resize(
                        np.ascontiguousarray(rows[..., c]),
                        (self.out_width, n),
                        interpolation=cv2.INTER_AREA,
                    )
                    for c in range(self.channels)
                ]
                if self.channels > 4
                else None
            )
            if planes is not None:
                means = np.stack(planes, axis=-1)
            else:
                means = cv2.resize(rows, (self.out_width, n), interpolation=cv2.INTER_AREA)
                means = means.reshape(n, self.out_width, self.channels)
        return means.astype(np.float64) * self._x.scale

    def add(self, band: npt.NDArray[np.generic]) -> npt.NDArray[np.float32]:
        """Add the next band; return the output rows it completed."""
        data = band if band.ndim == 3 else band[:, :, None]
        if data.shape[1:] != (self.width, self.channels):
            raise ValueError(
                f"band of shape {band.shape} does not match {self.width} x {self.channels}"
            )
        if self._row + data.shape[0] > self.height:
            raise ValueError("more rows than the image height were added")
        finished: list[npt.NDArray[np.float64]] = []
        for start in range(0, data.shape[0], _STEP):
            chunk = np.ascontiguousarray(data[start : start + _STEP], dtype=np.float32)
            finished.extend(self._add_rows(chunk))
        if not finished:
            return np.zeros((0, self.out_width, self.channels), dtype=np.float32)
        return np.concatenate(finished).astype(np.float32)

    def _add_rows(self, chunk: npt.NDArray[np.float32]) -> list[npt.NDArray[np.float64]]:
        sums = self._horizontal(chunk)  # (n, out_width, channels)
        y0, n = self._row, chunk.shape[0]
        y1 = y0 + n
        whole, fraction = self._y.whole, self._y.fraction
        out: list[npt.NDArray[np.float64]] = []
        position = y0  # integrated up to here (within the current output row)
        while self._out < self.out_height:
            end_whole, end_fraction = int(whole[self._out + 1]), float(fraction[self._out + 1])
            if end_whole >= y1 and not (end_whole == y1 and end_fraction == 0.0):
                break
            # this output row ends inside the chunk, at row end_whole + end_fraction
            self._partial += sums[position - y0 : end_whole - y0].sum(axis=0)
            if end_fraction:
                self._partial += end_fraction * sums[end_whole - y0]
            out.append(self._partial / self._area)
            self._out += 1
            self._partial = np.zeros_like(self._partial)
            if end_fraction:
                self._partial += (1.0 - end_fraction) * sums[end_whole - y0]
                position = end_whole + 1
            else:
                position = end_whole
        if position < y1:
            self._partial += sums[position - y0 :].sum(axis=0)
        self._row = y1
        return [row[None] for row in out]
