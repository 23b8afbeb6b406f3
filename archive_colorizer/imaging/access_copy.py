"""Access copies (JPEG, PNG, WebP) of a derivative, made from streamed band reads.

The derivative is read band by band (:mod:`archive_colorizer.imaging.rgb_read`) and, with a
``max_size``, area-reduced on the fly (:mod:`archive_colorizer.imaging.row_reducer`) so the long
side is at most ``max_size`` px. Each copy carries the derivative's sRGB ICC profile, its XMP
provenance packet (``dc:format`` set to the copy's own type) and its resolution.

Memory per format:

* **JPEG** — bounded: bands of 16 x k rows are encoded one at a time by libjpeg-turbo
  (imagecodecs, baseline, 4:2:0, standard Huffman tables) and their entropy-coded data joined
  with restart markers (``DRI`` + ``RSTn``). A restart resets the DC predictors exactly as a
  new image does, so the result is one valid baseline JPEG whose pixels decode identically to a
  whole-image encoding, while only one band exists at a time. JPEG's limit is 65535 px a side.
* **PNG** — bounded: rows are filtered (Sub) and deflated incrementally into IDAT chunks; 16-bit
  derivatives give 16-bit PNGs. ``iCCP``, ``pHYs`` and an ``iTXt`` XMP chunk carry the metadata.
* **WebP** — the format holds at most 16383 px a side, so larger pages are reduced to fit (the
  result says so). libwebp has no strip or incremental encoder: it needs the whole picture and
  holds about 13 bytes a pixel while encoding (peak RSS measured with Pillow 13: 0.59 GiB for a
  35 MP copy, 1.49 GiB for 100 MP). Copies above :data:`WEBP_MAX_PIXELS` are therefore
  refused with an OutputError that names the ``--max-size`` that fits (or use JPEG, which is
  encoded in bands).
"""

from __future__ import annotations

import math
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import imagecodecs
import numpy as np
import numpy.typing as npt

from archive_colorizer.errors import OutputError
from archive_colorizer.imaging.atomic import atomic_path
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.rgb_read import RgbTiff, open_rgb
from archive_colorizer.imaging.row_reducer import RowAreaReducer, reduced_size

__all__ = [
    "ACCESS_FORMATS",
    "JPEG_MAX_SIDE",
    "WEBP_MAX_PIXELS",
    "WEBP_MAX_SIDE",
    "WEB_LONG_SIDE",
    "AccessCopy",
    "output_bands",
    "retag_xmp",
    "to_uint8",
    "write_access_copy",
]

#: format name -> (file suffix, media type)
ACCESS_FORMATS: dict[str, tuple[str, str]] = {
    "jpeg": ("jpg", "image/jpeg"),
    "png": ("png", "image/png"),
    "webp": ("webp", "image/webp"),
}
JPEG_MAX_SIDE = 65535
WEBP_MAX_SIDE = 16383
#: largest WebP copy made (pixels): libwebp's ~13 bytes a pixel keep it under ~1.4 GiB
WEBP_MAX_PIXELS = 90_000_000
#: long side in px of the web-sized JPEGs a viewer loads whole (IIIF static images, the report's
#: full-size views): enough to read an engraving's hatching at 2-3x screen zoom, ~1 MB each
WEB_LONG_SIDE = 2400
#: rows read from the derivative at a time
_BAND_ROWS = 256
_XMP_APP1 = b"http://ns.adobe.com/xap/1.0/\x00"
_ICC_APP2 = b"ICC_PROFILE\x00"
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_IDAT_BYTES = 1 << 20


@dataclass(frozen=True)
class AccessCopy:
    """What :func:`write_access_copy` wrote."""

    path: Path
    format: str
    width: int
    height: int
    sha256: str
    bytes: int
    notes: tuple[str, ...] = field(default_factory=tuple)


def to_uint8(pixels: npt.NDArray[Any]) -> npt.NDArray[np.uint8]:
    """8-bit samples from uint8 (unchanged) or uint16 (rounded v * 255 / 65535)."""
    if pixels.dtype == np.uint8:
        return pixels
    wide = pixels.astype(np.uint32) * 255 + 32767
    return (wide // 65535).astype(np.uint8)


def retag_xmp(packet: bytes | None, media_type: str) -> bytes | None:
    """The derivative's XMP packet with ``dc:format`` naming the copy's media type."""
    if packet is None:
        return None
    return packet.replace(b'dc:format="image/tiff"', f'dc:format="{media_type}"'.encode())


def output_bands(
    source: RgbTiff, width: int, height: int, rows: int = _BAND_ROWS
) -> Iterator[npt.NDArray[Any]]:
    """Consecutive ``(rows, width, 3)`` bands of ``source`` area-reduced to ``width`` x
    ``height`` (the source itself when the size is the same), in the source's dtype."""
    if (width, height) == (source.width, source.height):
        for _y0, band in source.bands(rows):
            yield band
        return
    peak = float(np.iinfo(source.dtype).max)
    reducer = RowAreaReducer(source.width, source.height, width, height)
    pending: list[npt.NDArray[Any]] = []
    count = 0
    for _y0, band in source.bands(rows):
        done = reducer.add(band)
        if done.shape[0]:
            pending.append(np.clip(np.rint(done), 0, peak).astype(source.dtype))
            count += done.shape[0]
        while count >= rows:
            joined = np.concatenate(pending)
            yield joined[:rows]
            rest = joined[rows:]
            pending, count = ([rest] if rest.shape[0] else []), rest.shape[0]
    if count:
        yield np.concatenate(pending)


def write_access_copy(
    source: Path,
    target: Path,
    *,
    format: str,
    quality: int = 90,
    max_size: int | None = None,
    workers: int | None = None,
) -> AccessCopy:
    """Write an access copy of the RGB TIFF ``source`` at ``target`` (atomically).

    ``format``: jpeg | png | webp; ``quality``: 1-100 (JPEG, WebP); ``max_size``: the long side
    in px at most (None: the derivative's size, WebP capped at 16383). Raises OutputError naming
    the target when the file cannot be written or the size is beyond the format.
    """
    if format not in ACCESS_FORMATS:
        raise ValueError(f"format must be one of {', '.join(ACCESS_FORMATS)}, not {format!r}")
    if not 1 <= quality <= 100:
        raise ValueError(f"quality must be 1..100, not {quality}")
    notes: list[str] = []
    with open_rgb(source, workers=workers) as rgb:
        width, height = rgb.width, rgb.height
        if max_size is not None:
            width, height = reduced_size(width, height, max_size)
        if format == "webp" and max(width, height) > WEBP_MAX_SIDE:
            width, height = reduced_size(width, height, WEBP_MAX_SIDE)
            notes.append(
                f"WebP holds at most {WEBP_MAX_SIDE} px a side: reduced to {width}x{height}"
            )
        if format == "webp" and width * height > WEBP_MAX_PIXELS:
            raise OutputError(
                f"{target}: a WebP copy of {width}x{height} px ({width * height / 1e6:.0f} MP) "
                f"would need about {width * height * _WEBP_BYTES_PER_PIXEL / 1e9:.1f} GB of "
                "memory (libwebp encodes a whole page at once); WebP copies are made up to "
                f"{WEBP_MAX_PIXELS / 1e6:.0f} MP: use --max-size "
                f"{_long_side_within(width, height, WEBP_MAX_PIXELS)} or less, or --format jpeg"
            )
        if format == "jpeg" and max(width, height) > JPEG_MAX_SIDE:
            raise OutputError(
                f"{target}: {width}x{height} px is beyond JPEG's {JPEG_MAX_SIDE} px a side; "
                "use --max-size or another format"
            )
        media_type = ACCESS_FORMATS[format][1]
        xmp = retag_xmp(rgb.xmp, media_type)
        try:
            with atomic_path(target) as temporary, open(temporary, "wb") as stream:
                if format == "jpeg":
                    _write_jpeg(stream, rgb, width, height, quality, xmp)
                elif format == "png":
                    _write_png(stream, rgb, width, height, xmp)
                else:
                    _write_webp(stream, rgb, width, height, quality, xmp)
        except OSError as error:
            raise OutputError(
                f"{target}: could not write the {format} copy ({error.strerror or error}); check "
                "free space and permissions of the output folder"
            ) from error
    digest, size = sha256_file(target)
    return AccessCopy(target, format, width, height, digest, size, tuple(notes))


#: libwebp's (via Pillow) peak memory per pixel of the encoded picture, measured
_WEBP_BYTES_PER_PIXEL = 13


def _long_side_within(width: int, height: int, pixels: int) -> int:
    """The largest ``max_size`` whose reduced copy of ``width`` x ``height`` has <= ``pixels``."""
    side = max(1, int(max(width, height) * (pixels / (width * height)) ** 0.5))
    while side > 1 and math.prod(reduced_size(width, height, side)) > pixels:
        side -= 1
    return side


# -- JPEG -------------------------------------------------------------------------------------


def _segments(data: bytes) -> tuple[list[tuple[int, bytes]], int]:
    """The marker segments before the scan, and the offset where entropy-coded data begins."""
    if data[:2] != b"\xff\xd8":
        raise ValueError("not a JPEG stream")
    found: list[tuple[int, bytes]] = []
    i = 2
    while i < len(data):
        if data[i] != 0xFF:
            raise ValueError("unexpected bytes between JPEG markers")
        marker = data[i + 1]
        length = int.from_bytes(data[i + 2 : i + 4], "big")
        segment = data[i : i + 2 + length]
        found.append((marker, segment))
        i += 2 + length
        if marker == 0xDA:  # start of scan: entropy-coded data follows
            return found, i
    raise ValueError("JPEG stream without a scan")


def _app_segment(marker: int, payload: bytes) -> bytes:
    if len(payload) + 2 > 0xFFFF:
        raise ValueError("JPEG marker segment too long")
    return bytes([0xFF, marker]) + struct.pack(">H", len(payload) + 2) + payload


def _jfif(rgb: RgbTiff) -> bytes:
    """APP0 JFIF with the derivative's resolution (dpi or dots/cm) when it fits."""
    units, x, y = 0, 1, 1
    if rgb.x_resolution and rgb.y_resolution and rgb.resolution_unit in ("inch", "centimeter"):
        xr, yr = round(rgb.x_resolution), round(rgb.y_resolution)
        if 1 <= xr <= 0xFFFF and 1 <= yr <= 0xFFFF:
            units = 1 if rgb.resolution_unit == "inch" else 2
            x, y = xr, yr
    return _app_segment(0xE0, b"JFIF\x00\x01\x01" + struct.pack(">BHHBB", units, x, y, 0, 0))


def _metadata_segments(icc: bytes | None, xmp: bytes | None) -> bytes:
    parts = []
    if xmp is not None and len(_XMP_APP1) + len(xmp) + 2 <= 0xFFFF:
        parts.append(_app_segment(0xE1, _XMP_APP1 + xmp))
    if icc:
        chunk = 0xFFFF - 2 - len(_ICC_APP2) - 2
        pieces = [icc[i : i + chunk] for i in range(0, len(icc), chunk)]
        for number, piece in enumerate(pieces, 1):
            parts.append(_app_segment(0xE2, _ICC_APP2 + bytes([number, len(pieces)]) + piece))
    return b"".join(parts)


def _write_jpeg(
    stream: BinaryIO, rgb: RgbTiff, width: int, height: int, quality: int, xmp: bytes | None
) -> None:
    codecs: Any = imagecodecs
    mcus_across = -(-width // 16)
    strip_rows = 16 * max(1, min(16, 0xFFFF // mcus_across))
    header: list[tuple[int, bytes]] | None = None
    restart = 0
    for band in output_bands(rgb, width, height, strip_rows):
        pixels = np.ascontiguousarray(to_uint8(band))
        encoded = bytes(codecs.jpeg8_encode(pixels, level=quality, subsampling=(2, 2)))
        segments, start = _segments(encoded)
        if encoded[-2:] != b"\xff\xd9":
            raise ValueError("JPEG stream does not end with EOI")
        scan = encoded[start:-2]
        tables = [s for m, s in segments if m in (0xDB, 0xC4, 0xDA)]
        if header is None:
            header = segments
            sof = next(s for m, s in segments if m == 0xC0)
            if any(m == 0xDD for m, _ in segments):
                raise ValueError("unexpected restart interval in a band's JPEG")
            sof = sof[:5] + struct.pack(">HH", height, width) + sof[9:]
            stream.write(b"\xff\xd8" + _jfif(rgb) + _metadata_segments(rgb.icc_profile, xmp))
            for marker, segment in segments:
                if marker == 0xC0:
                    stream.write(sof)
                elif marker == 0xDA:
                    interval = mcus_across * (strip_rows // 16)
                    stream.write(b"\xff\xdd\x00\x04" + struct.pack(">H", interval) + segment)
                elif marker in (0xDB, 0xC4):
                    stream.write(segment)
            reference = tables
        else:
            if tables != reference:
                raise ValueError("JPEG bands were encoded with different tables")
            stream.write(bytes([0xFF, 0xD0 + restart]))
            restart = (restart + 1) % 8
        stream.write(scan)
    stream.write(b"\xff\xd9")


# -- PNG --------------------------------------------------------------------------------------


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(kind + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", crc)


def _write_png(stream: BinaryIO, rgb: RgbTiff, width: int, height: int, xmp: bytes | None) -> None:
    depth = 16 if rgb.dtype == np.uint16 else 8
    stream.write(_PNG_SIGNATURE)
    stream.write(_png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, depth, 2, 0, 0, 0)))
    if rgb.icc_profile:
        stream.write(_png_chunk(b"iCCP", b"sRGB\x00\x00" + zlib.compress(rgb.icc_profile)))
    if rgb.x_resolution and rgb.y_resolution and rgb.resolution_unit in ("inch", "centimeter"):
        per_metre = 100 / 2.54 if rgb.resolution_unit == "inch" else 100.0
        scale_x, scale_y = width / rgb.width, height / rgb.height
        x = round(rgb.x_resolution * per_metre * scale_x)
        y = round(rgb.y_resolution * per_metre * scale_y)
        stream.write(_png_chunk(b"pHYs", struct.pack(">IIB", x, y, 1)))
    if xmp is not None:
        stream.write(_png_chunk(b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + xmp))
    compressor = zlib.compressobj(6)
    pending = bytearray()
    bpp = 3 * depth // 8
    for band in output_bands(rgb, width, height):
        data = band.astype(">u2") if depth == 16 else band
        raw = np.ascontiguousarray(data).view(np.uint8).reshape(band.shape[0], -1)
        filtered = np.empty((raw.shape[0], raw.shape[1] + 1), dtype=np.uint8)
        filtered[:, 0] = 1  # filter type Sub
        filtered[:, 1 : 1 + bpp] = raw[:, :bpp]
        filtered[:, 1 + bpp :] = raw[:, bpp:] - raw[:, :-bpp]
        pending += compressor.compress(filtered.tobytes())
        while len(pending) >= _IDAT_BYTES:
            stream.write(_png_chunk(b"IDAT", bytes(pending[:_IDAT_BYTES])))
            del pending[:_IDAT_BYTES]
    pending += compressor.flush()
    stream.write(_png_chunk(b"IDAT", bytes(pending)))
    stream.write(_png_chunk(b"IEND", b""))


# -- WebP -------------------------------------------------------------------------------------


def _write_webp(
    stream: BinaryIO, rgb: RgbTiff, width: int, height: int, quality: int, xmp: bytes | None
) -> None:
    from PIL import Image

    # libwebp encodes one whole picture (it has no strip or incremental encoder), so the page
    # must be in memory once: bands are pasted straight into Pillow's image (4 bytes a pixel)
    # instead of going through a numpy raster that Pillow would copy
    image = Image.new("RGB", (width, height))
    y = 0
    for band in output_bands(rgb, width, height):
        image.paste(Image.fromarray(np.ascontiguousarray(to_uint8(band))), (0, y))
        y += band.shape[0]
    options: dict[str, Any] = {"quality": quality, "method": 4}
    if rgb.icc_profile:
        options["icc_profile"] = rgb.icc_profile
    if xmp is not None:
        options["xmp"] = xmp
    image.save(stream, "WEBP", **options)
