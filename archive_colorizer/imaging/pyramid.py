"""Pyramidal tiled TIFF for IIIF image servers, built in one streamed pass of the derivative.

Layout (the classic "pyramid TIFF" written by ``vips tiffsave --pyramid`` and read by iipsrv,
Cantaloupe, IIPImage, OpenSeadragon back ends and libvips): the full-resolution image is the
first IFD; each following IFD in the main chain is the previous level halved (ceil(n / 2) px,
exact area average), marked NewSubfileType = 1 (reduced-resolution image), until a level fits
in one tile. Every level is tiled (256 or 512 px) and compressed the same way: ``jpeg``
(YCbCr 4:2:0, 8-bit; what image servers serve fastest) or ``deflate`` (lossless, keeps 16-bit).
SubIFDs were not used: Cantaloupe's TIFF readers and older iipsrv releases only look at the
main IFD chain, while SubIFD-aware readers (libvips, Bio-Formats) read the chain layout too.
The first level keeps the derivative's resolution, sRGB ICC profile and XMP; reduced levels
carry their own (halved) resolution and the ICC profile.

Memory: the source is read in bands of one tile row; level 0 tiles are written as they come
while a cascade of :class:`~archive_colorizer.imaging.row_reducer.RowAreaReducer` makes each
reduced level from the one above it, row by row, into a temporary raw file (together 1/3 of
level 0's raw size, on disk beside the target); those levels are then written from disk one
tile row at a time. RAM is O(tile row x width), never O(page).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile

from archive_colorizer.errors import OutputError
from archive_colorizer.imaging.access_copy import retag_xmp, to_uint8
from archive_colorizer.imaging.atomic import atomic_path
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.rgb_read import RgbTiff, open_rgb
from archive_colorizer.imaging.row_reducer import RowAreaReducer
from archive_colorizer.imaging.tiff_write import TILE_SIZES, needs_bigtiff

__all__ = ["PYRAMID_COMPRESSIONS", "Pyramid", "pyramid_levels", "write_pyramid"]

#: compression option -> tifffile compression name
PYRAMID_COMPRESSIONS = {"jpeg": "jpeg", "deflate": "adobe_deflate"}
_UNITS = {None: "NONE", "inch": "INCH", "centimeter": "CENTIMETER"}
#: bytes of raw tiles tifffile gathers for its encoder threads (bounds the writer's memory)
_WRITE_BUFFER = 16 * 1024 * 1024


@dataclass(frozen=True)
class Pyramid:
    """What :func:`write_pyramid` wrote."""

    path: Path
    levels: tuple[tuple[int, int], ...]  # (width, height) of each level, full resolution first
    tile: int
    compression: str
    sha256: str
    bytes: int

    @property
    def width(self) -> int:
        return self.levels[0][0]

    @property
    def height(self) -> int:
        return self.levels[0][1]


def pyramid_levels(width: int, height: int, tile: int) -> list[tuple[int, int]]:
    """Level sizes: full size, then halved (rounding up) until one tile holds a level."""
    levels = [(width, height)]
    while max(levels[-1]) > tile:
        w, h = levels[-1]
        levels.append((-(-w // 2), -(-h // 2)))
    return levels


class _Level:
    """A reduced level being built: its reducer and the raw file its rows go to."""

    def __init__(self, folder: Path, index: int, above: tuple[int, int], size: tuple[int, int],
                 dtype: np.dtype[Any]) -> None:  # fmt: skip
        self.size = size
        self.dtype = dtype
        self.reducer = RowAreaReducer(above[0], above[1], size[0], size[1])
        self.path = folder / f"level-{index}.raw"
        self.stream = open(self.path, "wb")  # noqa: SIM115 - closed by finish()
        self.rows = 0

    def add(self, rows: npt.NDArray[Any]) -> npt.NDArray[Any]:
        peak = float(np.iinfo(self.dtype).max)
        done = self.reducer.add(rows)
        pixels = np.clip(np.rint(done), 0, peak).astype(self.dtype)
        if pixels.shape[0]:
            self.stream.write(np.ascontiguousarray(pixels).tobytes())
            self.rows += pixels.shape[0]
        return pixels

    def finish(self) -> None:
        self.stream.close()

    def bands(self, rows: int) -> Iterator[npt.NDArray[Any]]:
        width, height = self.size
        row_bytes = width * 3 * self.dtype.itemsize
        with open(self.path, "rb") as stream:
            for y0 in range(0, height, rows):
                count = min(rows, height - y0)
                data = stream.read(count * row_bytes)
                yield np.frombuffer(data, dtype=self.dtype).reshape(count, width, 3)


def _tiles(bands: Iterator[npt.NDArray[Any]], width: int, tile: int) -> Iterator[npt.NDArray[Any]]:
    for band in bands:
        for x0 in range(0, width, tile):
            yield band[:, x0 : x0 + tile]


def write_pyramid(
    source: Path,
    target: Path,
    *,
    tile: int = 256,
    compression: str = "jpeg",
    quality: int = 90,
    workers: int | None = None,
) -> Pyramid:
    """Write a pyramidal tiled TIFF of the RGB TIFF ``source`` at ``target`` (atomically).

    ``compression``: jpeg (8-bit, ``quality`` 1-100) or deflate (lossless, 8 or 16-bit as the
    source). Raises OutputError naming the target if it cannot be written.
    """
    if tile not in TILE_SIZES:
        raise ValueError(f"tile size must be one of {TILE_SIZES}, not {tile}")
    if compression not in PYRAMID_COMPRESSIONS:
        raise ValueError(
            f"compression must be one of {', '.join(PYRAMID_COMPRESSIONS)}, not {compression!r}"
        )
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be 1..100, not {quality}")
    count = workers or min(4, os.cpu_count() or 1)
    target = Path(target)
    scratch = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".levels", dir=target.parent))
    try:
        with open_rgb(source, workers=count) as rgb:
            levels = pyramid_levels(rgb.width, rgb.height, tile)
            dtype = np.dtype(np.uint8) if compression == "jpeg" else rgb.dtype
            with atomic_path(target) as temporary:
                _write(rgb, temporary, scratch, levels, dtype, tile, compression, quality, count)
    except OSError as error:
        raise OutputError(
            f"{target}: could not write the pyramid ({error.strerror or error}); check free "
            "space and permissions of the output folder"
        ) from error
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    digest, size = sha256_file(target)
    return Pyramid(target, tuple(levels), tile, compression, digest, size)


def _write(
    rgb: RgbTiff,
    path: Path,
    scratch: Path,
    levels: list[tuple[int, int]],
    dtype: np.dtype[Any],
    tile: int,
    compression: str,
    quality: int,
    workers: int,
) -> None:
    reduced = [_Level(scratch, k, levels[k - 1], levels[k], dtype) for k in range(1, len(levels))]

    def full_resolution() -> Iterator[npt.NDArray[Any]]:
        for _y0, band in rgb.bands(tile):
            pixels = to_uint8(band) if dtype == np.uint8 else band
            rows = pixels
            for level in reduced:  # the cascade: each level from the one above it
                rows = level.add(rows)
                if not rows.shape[0]:
                    break
            yield pixels

    width, height = levels[0]
    common: dict[str, Any] = {
        "dtype": dtype,
        "tile": (tile, tile),
        "photometric": "rgb",
        "planarconfig": "contig",
        "compression": PYRAMID_COMPRESSIONS[compression],
        "metadata": None,
        "maxworkers": workers,
        "buffersize": _WRITE_BUFFER,
    }
    if compression == "jpeg":
        common["compressionargs"] = {"level": quality}
    else:
        common["compressionargs"] = {"level": 6}
    resolution = None
    if rgb.x_resolution and rgb.y_resolution:
        resolution = (rgb.x_resolution, rgb.y_resolution)
    bigtiff = needs_bigtiff(width, height, 3, dtype.itemsize)
    xmp = retag_xmp(rgb.xmp, "image/tiff")
    try:
        with tifffile.TiffWriter(path, bigtiff=bigtiff) as writer:
            first: dict[str, Any] = {"iccprofile": rgb.icc_profile, "software": "archcolor"}
            if xmp:
                first["extratags"] = [(700, "B", len(xmp), xmp, True)]
            if rgb.datetime:
                first["datetime"] = rgb.datetime
            if resolution is not None:
                first["resolution"] = resolution
                first["resolutionunit"] = _UNITS.get(rgb.resolution_unit, "NONE")
            writer.write(
                _tiles(full_resolution(), width, tile),
                shape=(height, width, 3),
                subfiletype=0,
                **common,
                **first,
            )
            for level in reduced:
                level.finish()
                w, h = level.size
                extra: dict[str, Any] = {"iccprofile": rgb.icc_profile, "software": False}
                if resolution is not None:
                    extra["resolution"] = (resolution[0] * w / width, resolution[1] * h / height)
                    extra["resolutionunit"] = _UNITS.get(rgb.resolution_unit, "NONE")
                writer.write(
                    _tiles(level.bands(tile), w, tile),
                    shape=(h, w, 3),
                    subfiletype=1,
                    **common,
                    **extra,
                )
    finally:
        for level in reduced:
            level.finish()
