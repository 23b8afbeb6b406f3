"""Stream an RGB TIFF (a colorized derivative) band by band, in bounded memory.

:func:`open_rgb` opens the first page of an 8- or 16-bit RGB TIFF read-only and gives its size,
resolution, ICC profile and XMP packet, and :meth:`RgbTiff.bands` yields consecutive full-width
bands of ``(rows, width, 3)`` pixels. Only one decoded tile row (or strip) plus one band is held
at a time; segments are decoded by tifffile on a few threads. The derivatives archcolor writes
(tiled, contiguous RGB) are the intended input; other RGB TIFFs work as long as their samples are
contiguous (PlanarConfiguration 1).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from archive_colorizer.errors import CorruptTiffError, PathNotFoundError, UnsupportedTiffError
from archive_colorizer.imaging.tiff_read import reband

__all__ = ["RgbTiff", "open_rgb"]

_UNITS = {1: None, 2: "inch", 3: "centimeter"}


class RgbTiff:
    """The first page of an RGB TIFF, opened read-only."""

    def __init__(self, path: Path, tiff: tifffile.TiffFile, workers: int) -> None:
        self.path = path
        self._tiff = tiff
        page = tiff.pages.first
        self._page = page
        if (
            int(page.photometric) != 2
            or int(page.samplesperpixel) < 3
            or page.dtype not in (np.dtype(np.uint8), np.dtype(np.uint16))
            or (int(page.planarconfig) != 1)
        ):
            raise UnsupportedTiffError(
                f"{path}: not an 8- or 16-bit contiguous RGB TIFF (photometric "
                f"{int(page.photometric)}, {page.samplesperpixel} samples, {page.dtype}); "
                "export reads the derivatives archcolor writes"
            )
        self.width = int(page.imagewidth)
        self.height = int(page.imagelength)
        self.dtype: np.dtype[Any] = np.dtype(page.dtype)
        self.tiled = bool(page.is_tiled)
        self.tile = (int(page.tilelength), int(page.tilewidth)) if self.tiled else None
        self.x_resolution = _rational(page, 282)
        self.y_resolution = _rational(page, 283)
        self.resolution_unit: str | None = _UNITS.get(int(page.tags.valueof(296, 2) or 2))
        icc = page.tags.valueof(34675)
        self.icc_profile: bytes | None = bytes(icc) if icc is not None else None
        xmp = page.tags.valueof(700)
        self.xmp: bytes | None = bytes(xmp) if xmp is not None else None
        self.software: str | None = page.tags.valueof(305)
        self.datetime: str | None = page.tags.valueof(306)
        self._workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None

    def bands(self, rows: int) -> Iterator[tuple[int, npt.NDArray[Any]]]:
        """Yield ``(y0, band)``: consecutive ``(rows, width, 3)`` bands, the last shorter."""
        if rows < 1:
            raise ValueError("rows must be positive")
        yield from reband(self._segment_rows(), rows, self.dtype)

    def _segment_rows(self) -> Iterator[npt.NDArray[Any]]:
        """Decoded rows of segments (a tile row, or a strip), top to bottom.

        The segments of the next row are decoded on the thread pool (imagecodecs releases the
        GIL) while the current one is used, so memory is about two segment rows.
        """
        page = self._page
        if self.tiled:
            assert self.tile is not None
            seg_h, seg_w = self.tile
        else:
            seg_h, seg_w = int(page.rowsperstrip or self.height), self.width
        seg_h = min(seg_h, self.height)
        across = -(-self.width // seg_w)
        down = -(-self.height // seg_h)
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="archcolor-rgb")
        previous: tuple[npt.NDArray[Any], list[Future[None]]] | None = None
        try:
            for k in range(down):
                current = self._submit_row(k, seg_h, across)
                if previous is not None:
                    yield self._finished(previous)
                previous = current
            if previous is not None:
                row = self._finished(previous)
                previous = None
                yield row
        finally:
            if previous is not None:
                for future in previous[1]:
                    future.cancel()

    @staticmethod
    def _finished(submitted: tuple[npt.NDArray[Any], list[Future[None]]]) -> npt.NDArray[Any]:
        row, futures = submitted
        for future in futures:
            future.result()
        return row

    def _submit_row(
        self, k: int, seg_h: int, across: int
    ) -> tuple[npt.NDArray[Any], list[Future[None]]]:
        """Read segment row ``k`` and queue its segments for decoding into a new row array."""
        page, pool = self._page, self._pool
        assert pool is not None
        height = min(seg_h, self.height - k * seg_h)
        row = np.zeros((height, self.width, 3), dtype=self.dtype)
        handle = self._tiff.filehandle
        futures = []
        for j in range(across):
            index = k * across + j
            offset, count = int(page.dataoffsets[index]), int(page.databytecounts[index])
            if not count:
                continue  # an empty segment reads as zeros
            handle.seek(offset)
            data = handle.read(count)
            if len(data) != count:
                raise CorruptTiffError(
                    f"{self.path}: truncated (tile/strip {index} ends beyond the end of the "
                    "file); re-create the derivative with `archcolor process --pending --repair`"
                )
            futures.append(pool.submit(self._decode_into, row, index, data))
        return row, futures

    def _decode_into(self, row: npt.NDArray[Any], index: int, data: bytes) -> None:
        try:
            segment, position, _shape = self._page.decode(data, index, _fullsize=self.tiled)
        except Exception as error:  # tifffile and imagecodecs raise many types
            raise CorruptTiffError(
                f"{self.path}: tile/strip {index} cannot be decoded ({error}); re-create the "
                "derivative with `archcolor process --pending --repair`"
            ) from error
        if segment is None:
            return
        x0 = int(position[3]) if self.tiled else 0
        width = min(segment.shape[2], self.width - x0)
        row[:, x0 : x0 + width] = segment[0, : row.shape[0], :width, :3]

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _rational(page: tifffile.TiffPage, code: int) -> float | None:
    value = page.tags.valueof(code)
    if value is None:
        return None
    if isinstance(value, tuple):
        return float(value[0]) / float(value[1]) if value[1] else None
    return float(value)


@contextlib.contextmanager
def open_rgb(path: Path, *, workers: int | None = None) -> Iterator[RgbTiff]:
    """Open the RGB TIFF at ``path`` read-only (see the module docstring)."""
    path = Path(path)
    if not path.is_file():
        raise PathNotFoundError(f"{path}: no such file")
    try:
        tiff = tifffile.TiffFile(path, mode="r")
    except (tifffile.TiffFileError, ValueError, OSError) as error:
        raise CorruptTiffError(f"{path}: the TIFF structure is unreadable ({error})") from error
    with tiff:
        count = workers if workers is not None else min(4, os.cpu_count() or 1)
        rgb = RgbTiff(path, tiff, count)
        try:
            yield rgb
        finally:
            rgb.close()
