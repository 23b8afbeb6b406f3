"""Stream one master page as normalised grey, band by band, in bounded memory.

:func:`open_master` opens a TIFF read-only and yields a :class:`MasterPage` that reads the page
strip by strip or tile-row by tile-row, decoding with tifffile's own segment decoder. The page is
the IFD at the byte offset recorded at ingest (read alone, O(1) in the number of pages), or, for
rows without one, the page_index-th image page by the definition shared with ingest and verify
(:mod:`archive_colorizer.imaging.page_rules`); the page rules (tag counts, tile geometry, pixel
limit, pixel data present, each compressed segment's own declared size) are checked before any
pixel is decoded. Each band
is *normalised grey*: uint8 (``bits == 8``) or uint16 (``bits == 16``) sRGB-encoded luminance,
0 = black, in the page's *displayed* orientation:

* bilevel 1-bit → 0/255; 2- and 4-bit grey are scaled to 8 bits, 9..15-bit grey to 16 bits;
* MinIsWhite is inverted; 16-bit samples keep 16-bit precision;
* RGB → luminance in linear light (Rec. 709 weights) re-encoded as sRGB grey; palette →
  luminance of each colormap entry; extra samples (alpha) are ignored;
* Orientation 1-8 is honoured: ``width``/``height`` are as displayed, so for 5-8 (the stored
  rows are displayed as columns) they are the stored height/width, and the X/Y resolutions are
  swapped with them. An Orientation value outside 1-8 is treated as 1 (top-left).

Memory: a band is ``rows x width`` samples plus one decoded tile row / strip of the master.
Orientations 1-4 stream directly (3 and 4 read the segments bottom-up). Orientations 5-8 first
spill the normalised grey once to a temporary raw file laid out as column blocks (written in
chunks of 256 stored rows), then read one block per displayed band and transpose it; that costs
one extra write and read of ``width * height`` samples on disk, and memory of about
``2 * long side * rows`` samples. Uncompressed striped pages (8/16-bit, or 1-bit grey) are read
as raw byte ranges of ~4 MB, whatever their RowsPerStrip, so the common single-strip
uncompressed master streams too. A *compressed* page whose single strip holds the whole page
must be decoded whole (the TIFF gives no smaller unit); that is the one case that is O(page).
"""

from __future__ import annotations

import contextlib
import os
import struct
import tempfile
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from archive_colorizer.config import DEFAULT_PIXEL_LIMIT
from archive_colorizer.errors import (
    CorruptTiffError,
    MasterError,
    NotATiffError,
    PathNotFoundError,
    PixelLimitError,
    UnsupportedTiffError,
)
from archive_colorizer.imaging import color, page_rules
from archive_colorizer.imaging import tiff_tags as tags
from archive_colorizer.imaging.geometry import bands
from archive_colorizer.imaging.resample import StreamingAreaReducer

__all__ = ["MasterPage", "open_master", "page_at"]

#: normalised grey: uint8 (8-bit pages) or uint16 (16-bit pages)
Grey = npt.NDArray[Any]
#: stored rows gathered before one spill write (orientations 5-8)
_SPILL_ROWS = 256
#: bytes of an uncompressed page read at a time
_RAW_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True)
class _Layout:
    """Where the stored page's segments are and how many rows each segment row holds."""

    tiled: bool
    segment_rows: int  # rows per strip or tile length
    segment_width: int  # tile width, or the page width for strips
    across: int  # segments per segment row
    down: int  # segment rows
    planes: tuple[int, ...]  # sample planes to read (planar-separate pages)
    per_plane: int  # segments per sample plane
    #: uncompressed strips are read as raw byte ranges of ``segment_rows`` rows, whatever
    #: the file's RowsPerStrip (a single-strip page then still streams in bounded memory)
    raw: bool = False
    strip_rows: int = 0  # the file's RowsPerStrip (raw reading)
    row_bytes: int = 0  # bytes per stored row of one plane (raw reading)


class MasterPage:
    """One page of a master TIFF, opened read-only; see the module docstring for conventions."""

    def __init__(
        self,
        path: Path,
        tiff: tifffile.TiffFile,
        page: tifffile.TiffPage,
        page_index: int,
        spill_dir: Path | None,
        workers: int = 1,
    ) -> None:
        self.path = path
        self.page_index = page_index
        self._tiff = tiff
        self._page = page
        self._spill_dir = spill_dir
        self._spill: _Spill | None = None
        self._workers = max(1, workers)
        self._pool: ThreadPoolExecutor | None = None
        self._io_lock = threading.Lock()
        self.stored_width = int(page.imagewidth)
        self.stored_height = int(page.imagelength)
        orientation = int(page.tags.valueof(tags.ORIENTATION, 1) or 1)
        # ingest refuses other values; a file that was never ingested is drawn as stored
        self.orientation = (
            orientation if orientation in tags.ORIENTATIONS else tags.DEFAULT_ORIENTATION
        )
        self.transposed = self.orientation >= 5
        self.width = self.stored_height if self.transposed else self.stored_width
        self.height = self.stored_width if self.transposed else self.stored_height
        x_res, y_res = _rational(page, tags.X_RESOLUTION), _rational(page, tags.Y_RESOLUTION)
        if self.transposed:
            x_res, y_res = y_res, x_res
        self.x_resolution: float | None = x_res
        self.y_resolution: float | None = y_res
        self.resolution_unit: str | None = tags.RESOLUTION_UNITS.get(
            int(page.tags.valueof(tags.RESOLUTION_UNIT, 2) or 2)
        )
        self.bits, self._normalise, sample_planes = _normaliser(path, page)
        #: a 1-bit grey master (read as 0/255): tone only as line and dot density
        self.bilevel = int(page.photometric) in (tags.MINISWHITE, tags.MINISBLACK) and (
            page.bitspersample == 1
        )
        self._layout = _layout(page, sample_planes)
        self._dtype = np.uint8 if self.bits == 8 else np.uint16

    # -- public -------------------------------------------------------------------------------

    def grey_bands(self, rows: int) -> Iterator[tuple[int, Grey]]:
        """Yield ``(y0, band)``: consecutive displayed bands of ``rows`` rows (the last shorter).

        Each band is a C-contiguous ``(rows, width)`` uint8/uint16 array of normalised grey.
        """
        if self.transposed:
            yield from self._transposed_bands(rows)
        else:
            yield from reband(self._upright_pieces(), rows, self._dtype)

    def lightness_bands(self, rows: int) -> Iterator[tuple[int, npt.NDArray[np.float32]]]:
        """Like :meth:`grey_bands`, converted to CIE L* (float32, 0..100)."""
        for y0, grey in self.grey_bands(rows):
            yield y0, color.grey_to_lightness(grey, self.bits)

    def reduce_lightness(
        self,
        out_width: int,
        out_height: int,
        rows: int = 256,
        timings: dict[str, float] | None = None,
    ) -> npt.NDArray[np.float32]:
        """Area-average L* to ``out_width`` x ``out_height`` in one streamed pass (float32).

        The average is taken over L* (the network's input), exactly (see ``resample``). When
        ``timings`` is given, seconds spent reading/decoding are added to ``timings["read"]``
        and seconds spent converting/reducing (on worker threads, summed over them) to
        ``timings["reduce"]``.
        """
        clock = timings if timings is not None else {}
        if (out_width, out_height) == (self.width, self.height):
            return self._full_lightness(rows, clock)
        reducer = StreamingAreaReducer(self.width, self.height, out_width, out_height)
        lock = threading.Lock()

        def column_sums(grey: Grey) -> list[npt.NDArray[np.float64]]:
            started = time.perf_counter()
            sums = reducer.column_sums(grey, lambda codes: color.grey_to_lightness(codes, bits))
            with lock:
                clock["reduce"] = clock.get("reduce", 0.0) + time.perf_counter() - started
            return sums

        bits = self.bits
        # the horizontal reduction of each band runs on worker threads (numpy releases the
        # GIL), the cheap vertical one in order here: the same arithmetic for any thread count
        window: deque[Future[list[npt.NDArray[np.float64]]]] = deque()
        source = self.grey_bands(rows)
        with ThreadPoolExecutor(self._workers, thread_name_prefix="archcolor-reduce") as pool:
            try:
                while True:
                    started = time.perf_counter()
                    item = next(source, None)
                    clock["read"] = clock.get("read", 0.0) + time.perf_counter() - started
                    if item is None:
                        break
                    window.append(pool.submit(column_sums, item[1]))
                    if len(window) > self._workers:
                        reducer.add_sums(window.popleft().result())
                while window:
                    reducer.add_sums(window.popleft().result())
            finally:
                for future in window:
                    future.cancel()
        started = time.perf_counter()
        result = reducer.result()
        clock["reduce"] = clock.get("reduce", 0.0) + time.perf_counter() - started
        return result

    def _full_lightness(self, rows: int, clock: dict[str, float]) -> npt.NDArray[np.float32]:
        """The whole page's L* (``chroma_size`` 0: the working image is the page)."""
        output = np.empty((self.height, self.width), dtype=np.float32)
        source = self.grey_bands(rows)
        while True:
            started = time.perf_counter()
            item = next(source, None)
            read_done = time.perf_counter()
            clock["read"] = clock.get("read", 0.0) + read_done - started
            if item is None:
                return output
            y0, grey = item
            output[y0 : y0 + grey.shape[0]] = color.grey_to_lightness(grey, self.bits)
            clock["reduce"] = clock.get("reduce", 0.0) + time.perf_counter() - read_done

    def _segment_rows(self, order: Iterable[int]) -> Iterator[Grey]:
        """Decoded, normalised segment rows in ``order``, decoded ahead on worker threads.

        At most ``workers + 1`` segment rows are in flight, so memory stays bounded; file reads
        are serialised by a lock, decoding (imagecodecs releases the GIL) runs in parallel.
        """
        if self._workers == 1:
            yield from map(self._segment_row, order)
            return
        if self._pool is None:
            self._pool = ThreadPoolExecutor(self._workers, thread_name_prefix="archcolor-read")
        window: deque[Future[Grey]] = deque()
        try:
            for k in order:
                window.append(self._pool.submit(self._segment_row, k))
                if len(window) > self._workers:
                    yield window.popleft().result()
            while window:
                yield window.popleft().result()
        finally:
            for future in window:
                future.cancel()
            for future in window:
                if not future.cancelled():
                    with contextlib.suppress(Exception):
                        future.result()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._spill is not None:
            self._spill.close()
            self._spill = None

    # -- stored segments ----------------------------------------------------------------------

    def _segment_row(self, k: int) -> Grey:
        """Decode stored segment row ``k`` (full stored width) and normalise it to grey."""
        layout, page = self._layout, self._page
        y0 = k * layout.segment_rows
        rows = min(layout.segment_rows, self.stored_height - y0)
        if layout.raw:
            return self._normalise(self._raw_rows(y0, y0 + rows))
        samples: npt.NDArray[Any] | None = None
        decode = page.decode
        decode_args: dict[str, Any] = {"_fullsize": layout.tiled}
        if page.compression in tags.ANY_JPEG_CODES:
            decode_args["jpegtables"] = page.jpegtables
            decode_args["jpegheader"] = page.jpegheader
        handle = self._tiff.filehandle
        for plane_number, plane in enumerate(layout.planes):
            for j in range(layout.across):
                index = plane * layout.per_plane + k * layout.across + j
                offset, count = page.dataoffsets[index], page.databytecounts[index]
                data: bytes | None = None
                if count:
                    with self._io_lock:
                        handle.seek(offset)
                        data = handle.read(count)
                    if len(data) != count:
                        raise CorruptTiffError(
                            f"{self.path}: page {self.page_index} is truncated (segment {index} "
                            "ends beyond the end of the file); re-copy the master from its source"
                        )
                    bomb = page_rules.segment_header_problem(
                        int(page.compression), data, layout.segment_width, layout.segment_rows
                    )
                    if bomb is not None:
                        raise PixelLimitError(
                            f"{self.path}: page {self.page_index}, segment {index}: {bomb}"
                        )
                try:
                    segment, position, _shape = decode(data, index, **decode_args)
                except Exception as error:  # tifffile and imagecodecs raise many types
                    raise _decode_error(self.path, self.page_index, index, error) from error
                if samples is None:
                    channels = len(layout.planes) if len(layout.planes) > 1 else None
                    last = channels or (segment.shape[-1] if segment is not None else 1)
                    dtype = segment.dtype if segment is not None else page.dtype
                    samples = np.zeros((rows, self.stored_width, last), dtype=dtype)
                if segment is None:
                    continue  # an empty segment reads as zeros
                x0 = int(position[3])
                width = min(segment.shape[2], self.stored_width - x0)
                block = segment[0, :rows, :width]
                if len(layout.planes) > 1:
                    samples[:, x0 : x0 + width, plane_number] = block[..., 0]
                else:
                    samples[:, x0 : x0 + width, :] = block
        if samples is None:  # every segment of this row is empty (sparse): zeros
            samples = np.zeros((rows, self.stored_width, 1), dtype=page.dtype)
        return self._normalise(samples)

    def _raw_rows(self, y0: int, y1: int) -> npt.NDArray[Any]:
        """Stored rows ``y0..y1`` of an uncompressed striped page, read as byte ranges."""
        layout, page = self._layout, self._page
        handle = self._tiff.filehandle
        bps = int(page.bitspersample)
        planes: list[npt.NDArray[Any]] = []
        for plane in layout.planes:
            buffer = bytearray((y1 - y0) * layout.row_bytes)
            y = y0
            while y < y1:
                strip, within = divmod(y, layout.strip_rows)
                count = min(y1 - y, layout.strip_rows - within)
                index = plane * layout.per_plane + strip
                start = (y - y0) * layout.row_bytes
                size = count * layout.row_bytes
                if within * layout.row_bytes + size > int(page.databytecounts[index]):
                    raise CorruptTiffError(
                        f"{self.path}: page {self.page_index}, strip {index} is shorter than "
                        "its rows need; re-copy the master from its source"
                    )
                with self._io_lock:
                    handle.seek(int(page.dataoffsets[index]) + within * layout.row_bytes)
                    data = handle.read(size)
                if len(data) != size:
                    raise CorruptTiffError(
                        f"{self.path}: page {self.page_index} is truncated (strip {index} ends "
                        "beyond the end of the file); re-copy the master from its source"
                    )
                buffer[start : start + size] = data
                y += count
            rows = np.frombuffer(buffer, dtype=np.uint8).reshape(y1 - y0, layout.row_bytes)
            if bps == 1:
                if int(page.fillorder or 1) == 1:
                    bits = np.unpackbits(rows, axis=1, bitorder="big")
                else:
                    bits = np.unpackbits(rows, axis=1, bitorder="little")
                bits = bits[:, : self.stored_width]
                planes.append(bits.reshape(y1 - y0, self.stored_width, 1))
                continue
            dtype = np.dtype(f"{self._tiff.byteorder}u{bps // 8}")
            values = rows.view(dtype).reshape(y1 - y0, self.stored_width, -1)
            planes.append(values.astype(dtype.newbyteorder("="), copy=False))
        if len(planes) == 1:
            return planes[0]
        return np.concatenate([p[..., :1] for p in planes], axis=2)

    def _upright_pieces(self) -> Iterator[Grey]:
        """Displayed rows top to bottom for orientations 1-4, one stored segment row at a time."""
        down = self._layout.down
        bottom_up = self.orientation in (3, 4)
        mirrored = self.orientation in (2, 3)
        order = range(down - 1, -1, -1) if bottom_up else range(down)
        for grey in self._segment_rows(order):
            if bottom_up:
                grey = grey[::-1]
            if mirrored:
                grey = grey[:, ::-1]
            yield grey

    # -- orientations 5-8 ---------------------------------------------------------------------

    def _transposed_bands(self, rows: int) -> Iterator[tuple[int, Grey]]:
        if self._spill is None or self._spill.rows != rows:
            self.close()
            self._spill = _Spill(self, rows)
        spill = self._spill
        for y0, y1 in bands(self.height, rows):
            block = spill.read_block(y0, y1)  # stored rows x stored columns of this band
            if self.orientation == 5:
                oriented = block.T
            elif self.orientation == 6:
                oriented = block[::-1].T
            elif self.orientation == 7:
                oriented = block[::-1, ::-1].T
            else:
                oriented = block[:, ::-1].T
            yield y0, np.ascontiguousarray(oriented)


class _Spill:
    """The normalised stored image in a temporary raw file, one column block per display band."""

    def __init__(self, master: MasterPage, rows: int) -> None:
        self.rows = rows
        self._master = master
        self._itemsize = np.dtype(master._dtype).itemsize
        self._directory = tempfile.TemporaryDirectory(
            prefix=".archcolor-spill-", dir=master._spill_dir
        )
        path = os.path.join(self._directory.name, "page.raw")
        self._fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            self._write()
        except BaseException:
            self.close()
            raise

    def _columns(self, y0: int, y1: int) -> tuple[int, int]:
        """Stored columns of displayed rows ``y0..y1``."""
        width = self._master.stored_width
        if self._master.orientation in (5, 6):
            return y0, y1
        return width - y1, width - y0

    def _write(self) -> None:
        master = self._master
        display_bands = list(bands(master.height, self.rows))
        pending: list[Grey] = []
        pending_rows = 0
        next_row = 0
        last = master._layout.down - 1
        for k, grey in enumerate(master._segment_rows(range(last + 1))):
            pending.append(grey)
            pending_rows += grey.shape[0]
            if pending_rows >= _SPILL_ROWS or k == last:
                chunk = np.concatenate(pending) if len(pending) > 1 else pending[0]
                for y0, y1 in display_bands:
                    c0, c1 = self._columns(y0, y1)
                    part = np.ascontiguousarray(chunk[:, c0:c1])
                    offset = (y0 * master.stored_height + next_row * (c1 - c0)) * self._itemsize
                    _pwrite_all(self._fd, memoryview(part.tobytes()), offset)
                next_row += chunk.shape[0]
                pending, pending_rows = [], 0

    def read_block(self, y0: int, y1: int) -> Grey:
        master = self._master
        count = (y1 - y0) * master.stored_height
        data = _pread_all(
            self._fd, count * self._itemsize, y0 * master.stored_height * self._itemsize
        )
        return np.frombuffer(data, dtype=master._dtype).reshape(master.stored_height, y1 - y0)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)
        self._directory.cleanup()


def _pwrite_all(fd: int, data: memoryview, offset: int) -> None:
    while len(data):
        written = os.pwrite(fd, data, offset)
        data = data[written:]
        offset += written


def _pread_all(fd: int, count: int, offset: int) -> bytearray:
    buffer = bytearray(count)
    view = memoryview(buffer)
    done = 0
    while done < count:
        n = os.preadv(fd, [view[done:]], offset + done)
        if n == 0:
            raise OSError("unexpected end of the temporary spill file")
        done += n
    return buffer


def reband(
    pieces: Iterator[npt.NDArray[Any]], rows: int, dtype: Any
) -> Iterator[tuple[int, npt.NDArray[Any]]]:
    """Re-cut consecutive row pieces (``(n, width, ...)`` arrays) into ``(y0, band)`` of exactly
    ``rows`` rows each (the last shorter)."""
    buffer: npt.NDArray[Any] | None = None
    filled = 0
    y0 = 0
    for piece in pieces:
        if buffer is None:
            buffer = np.empty((rows, *piece.shape[1:]), dtype=dtype)
        start = 0
        while start < piece.shape[0]:
            if filled == 0 and piece.shape[0] - start >= rows:
                yield y0, np.ascontiguousarray(piece[start : start + rows])
                start += rows
                y0 += rows
                continue
            take = min(rows - filled, piece.shape[0] - start)
            buffer[filled : filled + take] = piece[start : start + take]
            filled += take
            start += take
            if filled == rows:
                yield y0, buffer.copy()
                y0 += rows
                filled = 0
    if filled and buffer is not None:
        yield y0, buffer[:filled].copy()


# -- page analysis ----------------------------------------------------------------------------


def _rational(page: tifffile.TiffPage, code: int) -> float | None:
    value = page.tags.valueof(code)
    if value is None:
        return None
    if isinstance(value, tuple):
        numerator, denominator = value[0], value[1]
        return float(numerator) / float(denominator) if denominator else None
    return float(value)


def _layout(page: tifffile.TiffPage, sample_planes: int) -> _Layout:
    if int(page.imagedepth or 1) != 1:
        raise UnsupportedTiffError("volumetric (ImageDepth > 1) TIFF pages are not supported")
    separate = page.planarconfig == 2 and page.samplesperpixel > 1
    planes = tuple(range(sample_planes)) if separate else (0,)
    if page.is_tiled:
        rows, width = int(page.tilelength), int(page.tilewidth)
        across = -(-int(page.imagewidth) // width)
        down = -(-int(page.imagelength) // rows)
        return _Layout(True, rows, width, across, down, planes, across * down)
    height, width = int(page.imagelength), int(page.imagewidth)
    rows = min(int(page.rowsperstrip or height), height)
    strips = -(-height // rows)
    bps = page.bitspersample
    contig_samples = 1 if separate else int(page.samplesperpixel)
    if (
        int(page.compression) == 1
        and isinstance(bps, int)
        and (bps in (8, 16) or (bps == 1 and contig_samples == 1))
        and int(page.fillorder or 1) in (1, 2)
    ):
        row_bytes = -(-width * contig_samples * bps // 8)
        virtual = max(1, min(height, _RAW_BYTES // max(1, row_bytes)))
        down = -(-height // virtual)
        return _Layout(
            False,
            virtual,
            width,
            1,
            down,
            planes,
            strips,
            raw=True,
            strip_rows=rows,
            row_bytes=row_bytes,
        )
    return _Layout(False, rows, width, 1, strips, planes, strips)


Normaliser = Callable[[npt.NDArray[Any]], Grey]


def _normaliser(path: Path, page: tifffile.TiffPage) -> tuple[int, Normaliser, int]:
    """Return ``(bits, function samples -> grey, sample planes to read)`` for the page."""
    photometric = int(page.photometric)
    bps = page.bitspersample
    if isinstance(bps, tuple) or int(page.sampleformat) not in (1,):
        raise UnsupportedTiffError(
            f"{path}: samples are not unsigned integers of one size (SampleFormat "
            f"{int(page.sampleformat)}, BitsPerSample {bps}); convert the master to 8- or "
            "16-bit unsigned grey or RGB"
        )
    bps = int(bps)
    if photometric in (tags.MINISWHITE, tags.MINISBLACK):
        if not 1 <= bps <= 16:
            raise UnsupportedTiffError(f"{path}: {bps}-bit grey is not supported (1..16 bits)")
        return (8 if bps <= 8 else 16), _grey_normaliser(bps, photometric == tags.MINISWHITE), 1
    if photometric == tags.RGB or (
        photometric == tags.YCBCR and int(page.compression) in tags.ANY_JPEG_CODES
    ):
        if bps not in (8, 16) or page.samplesperpixel < 3:
            raise UnsupportedTiffError(
                f"{path}: RGB with {bps} bits and {page.samplesperpixel} samples is not "
                "supported (8- or 16-bit RGB only)"
            )

        def rgb(samples: npt.NDArray[Any], bits: int = bps) -> Grey:
            return color.rgb_codes_to_grey(samples[..., :3], bits)

        return bps, rgb, 3
    if photometric == tags.PALETTE:
        colormap = page.colormap
        if colormap is None or bps > 16:
            raise UnsupportedTiffError(f"{path}: palette page without a usable ColorMap")
        entries = np.asarray(colormap, dtype=np.uint32).T  # (n, 3)
        if entries.max(initial=0) <= 255:  # some writers store 8-bit maps
            entries = entries * 257
        table = color.rgb_codes_to_grey(np.rint(entries / 257).astype(np.uint8), 8).astype(np.uint8)

        def palette(samples: npt.NDArray[Any]) -> Grey:
            index = np.minimum(samples[..., 0], table.size - 1)
            return table[index]

        return 8, palette, 1
    raise UnsupportedTiffError(
        f"{path}: photometric interpretation {photometric} ({_photometric_name(photometric)}) is "
        "not supported; archcolor reads grey, bilevel, RGB and palette masters"
    )


def _photometric_name(code: int) -> str:
    try:
        return str(tifffile.PHOTOMETRIC(code).name).lower()
    except ValueError:
        return "unknown"


def _grey_normaliser(bps: int, inverted: bool) -> Normaliser:
    peak_in = (1 << bps) - 1
    if bps in (8, 16):
        peak = peak_in

        def native(samples: npt.NDArray[Any]) -> Grey:
            grey = samples[..., 0]
            if inverted:
                return (peak - grey).astype(samples.dtype)
            return np.ascontiguousarray(grey)

        return native
    out_dtype = np.uint8 if bps < 8 else np.uint16
    peak_out = 255 if bps < 8 else 65535
    values = np.arange(peak_in + 1, dtype=np.float64)
    if inverted:
        values = peak_in - values
    table = np.rint(values * peak_out / peak_in).astype(out_dtype)

    def scaled(samples: npt.NDArray[Any]) -> Grey:
        index = samples[..., 0]
        if index.dtype == np.bool_:  # tifffile unpacks bilevel samples as bool
            index = index.view(np.uint8)
        return table[index]

    return scaled


def _decode_error(path: Path, page_index: int, index: int, error: BaseException) -> Exception:
    text = str(error) or type(error).__name__
    if isinstance(error, MemoryError):
        return MasterError(
            f"{path}: page {page_index}, segment {index} needs more memory to decode than this "
            f"process may use ({text}); the file may be a decompression bomb"
        )
    if isinstance(error, NotImplementedError) or "not supported" in text.lower():
        return UnsupportedTiffError(
            f"{path}: page {page_index} cannot be decoded ({text}); re-save it with LZW, "
            "Deflate or no compression"
        )
    return CorruptTiffError(
        f"{path}: page {page_index}, segment {index} is corrupt ({text}); re-copy the master "
        "from its source"
    )


def _tag_problem(page: tifffile.TiffPage) -> str | None:
    """A tag with a malformed value count (see :data:`page_rules.SINGLE_VALUED`), or None."""
    for code, name in page_rules.SINGLE_VALUED.items():
        tag = page.tags.get(code)
        if tag is not None and tag.count != 1:
            return f"{name} has {tag.count} values (must have 1)"
    return None


def _kind(page: tifffile.TiffPage) -> str:
    values = []
    for code, default in (
        (tags.NEW_SUBFILE_TYPE, 0),
        (tags.SUBFILE_TYPE, 1),
        (tags.PHOTOMETRIC, -1),
    ):
        value = page.tags.valueof(code, default)
        values.append(value if isinstance(value, int) else -2)  # malformed: never "reduced"
    return page_rules.page_kind(*values)


def _main_pages(tiff: tifffile.TiffFile) -> list[tifffile.TiffPage]:
    """Image pages of the main IFD chain (:func:`page_rules.page_kind`), walking every IFD.

    Only for catalogue rows without a recorded IFD offset; :func:`page_at` is O(1).
    """
    tiff.pages.useframes = False
    pages: list[tifffile.TiffPage] = []
    for page in tiff.pages:
        if isinstance(page, tifffile.TiffPage) and _kind(page) == page_rules.IMAGE:
            pages.append(page)
    return pages


def page_at(tiff: tifffile.TiffFile, ifd_offset: int, index: int = 0) -> tifffile.TiffPage:
    """The IFD at byte ``ifd_offset`` of an open TIFF, read alone (no other IFD is parsed).

    Raises tifffile.TiffFileError (or ValueError/TypeError...) for a corrupt IFD.
    """
    size = tiff.filehandle.size
    if not 0 < ifd_offset < size:
        raise tifffile.TiffFileError(f"IFD offset {ifd_offset} lies outside the file ({size} B)")
    tiff.filehandle.seek(ifd_offset)
    return tifffile.TiffPage(tiff, index=index)


def _check_page(path: Path, page: tifffile.TiffPage, page_index: int, pixel_limit: int) -> None:
    """The shared page rules, on the page the worker is about to decode."""
    where = f"{path}: page {page_index}"
    problem = _tag_problem(page)
    if problem is not None:
        raise CorruptTiffError(f"{where}: corrupt IFD: {problem}; re-copy the master")
    if _kind(page) != page_rules.IMAGE:
        raise CorruptTiffError(
            f"{where}: the IFD recorded at ingest is not an image page (the file changed?); "
            "run `archcolor ingest` on its volume again"
        )
    width, height = int(page.imagewidth), int(page.imagelength)
    if width * height > pixel_limit:
        raise PixelLimitError(
            f"{where} declares {width}x{height} = {width * height:,} pixels, above the limit of "
            f"{pixel_limit:,} (decompression-bomb guard; raise --pixel-limit to accept)"
        )
    if page.is_tiled:
        geometry = page_rules.segment_geometry_problem(
            width,
            height,
            tile_width=int(page.tilewidth),
            tile_length=int(page.tilelength),
            pixel_limit=pixel_limit,
        )
        if geometry is not None:
            raise PixelLimitError(f"{where} {geometry}")
    empty = page_rules.no_pixel_data_problem(
        tuple(page.databytecounts), "tile" if page.is_tiled else "strip"
    )
    if empty is not None:
        raise CorruptTiffError(f"{where} {empty}; re-copy the master from its source")


#: what tifffile and our own page analysis raise for a malformed IFD (not a bug of ours)
_PARSE_ERRORS = (
    tifffile.TiffFileError,
    ValueError,
    TypeError,
    IndexError,
    KeyError,
    OverflowError,
    struct.error,
)


@contextlib.contextmanager
def open_master(
    path: Path,
    page_index: int = 0,
    *,
    ifd_offset: int | None = None,
    pixel_limit: int = DEFAULT_PIXEL_LIMIT,
    spill_dir: Path | None = None,
    workers: int | None = None,
) -> Iterator[MasterPage]:
    """Open page ``page_index`` of the master at ``path`` read-only.

    ``ifd_offset`` (recorded at ingest) opens that IFD directly, without reading any other
    (O(1) in the number of pages); without it the IFD chain is walked and page ``page_index``
    is the page_index-th image page (:func:`page_rules.page_kind`). The page is checked against
    the shared page rules (tag counts, tile geometry, ``pixel_limit``, pixel data present) before
    anything is decoded, and each compressed segment's own declared size before it is decoded.
    ``spill_dir`` is where orientations 5-8 put their temporary transposition file (default:
    the system temporary directory); it is removed on exit. ``workers`` threads decode
    segments ahead (default: the CPU count, at most 4; 1 decodes inline). Raises PathNotFoundError,
    NotATiffError, CorruptTiffError, PixelLimitError or UnsupportedTiffError naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise PathNotFoundError(f"{path}: no such master file; check the path")
    try:
        tiff = tifffile.TiffFile(path, mode="r")  # read-only
    except tifffile.TiffFileError as error:
        text = str(error)
        if "not a TIFF" in text or "invalid TIFF" in text.lower():
            raise NotATiffError(f"{path}: not a TIFF ({text})") from error
        raise CorruptTiffError(f"{path}: the TIFF structure is unreadable ({text})") from error
    except (*_PARSE_ERRORS, OSError) as error:
        raise CorruptTiffError(f"{path}: the TIFF structure is unreadable ({error})") from error
    with tiff:
        try:
            if ifd_offset is not None:
                page = page_at(tiff, ifd_offset, page_index)
            else:
                pages = _main_pages(tiff)
                if not 0 <= page_index < len(pages):
                    raise UnsupportedTiffError(
                        f"{path}: has {len(pages)} image page(s); page {page_index} does not exist"
                    )
                page = pages[page_index]
        except _PARSE_ERRORS as error:
            raise CorruptTiffError(
                f"{path}: the TIFF page directory is corrupt ({error})"
            ) from error
        count = workers if workers is not None else min(4, os.cpu_count() or 1)
        try:
            _check_page(path, page, page_index, pixel_limit)
            master = MasterPage(path, tiff, page, page_index, spill_dir, count)
        except MasterError:
            raise
        except _PARSE_ERRORS as error:
            raise CorruptTiffError(
                f"{path}: page {page_index} has malformed tags ({type(error).__name__}: "
                f"{error}); re-copy the master from its source"
            ) from error
        try:
            yield master
        finally:
            master.close()
