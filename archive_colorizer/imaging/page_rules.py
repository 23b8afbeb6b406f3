"""What counts as an image page of a TIFF, and what a page may declare before anything is decoded.

One place for the rules that ingest (:mod:`tiff_facts`), ``verify --decode``
(:mod:`decode_check`) and the worker's reader (:mod:`tiff_read`) must agree on:

* :func:`page_kind`: an IFD of the main chain is an *image page* unless its NewSubfileType has the
  reduced-resolution bit (thumbnails, pyramid levels) or the old SubfileType says "reduced"
  (``"reduced"``), or it is a transparency mask: NewSubfileType bit 4 or photometric 4
  (``"mask"``). Page *k* of a file is the *k*-th image page in IFD-chain order;
* :data:`SINGLE_VALUED`: tags that must hold exactly one value (a malformed count is a corrupt
  file, never a retried crash);
* :func:`segment_geometry_problem`: a strip or tile must not be larger than its page needs (tiles
  may round the page up, or be at most :data:`MAX_TILE_SIDE` px a side) nor hold more pixels than
  the pixel limit — a 160-byte file declaring one 65536² tile is a decompression bomb;
* :func:`no_pixel_data_problem`: a page whose every strip/tile byte count is 0 has no pixel data;
* :func:`declared_segment_size` / :func:`segment_header_problem`: the size a compressed segment
  declares inside its own stream (JPEG SOF, JPEG 2000 SIZ/ihdr, WebP VP8/VP8L/VP8X) must fit the
  strip/tile it stands for, because those decoders allocate what the stream declares.

Everything here is pure (no I/O); callers turn a returned problem into their own error.
"""

from __future__ import annotations

import struct

from archive_colorizer.imaging import tiff_tags as tags

__all__ = [
    "IMAGE",
    "MASK",
    "MAX_TILE_SIDE",
    "REDUCED",
    "SINGLE_VALUED",
    "declared_segment_size",
    "no_pixel_data_problem",
    "page_kind",
    "segment_geometry_problem",
    "segment_header_problem",
]

IMAGE = "image"
REDUCED = "reduced"
MASK = "mask"

#: a tile may exceed its page (rounded up to 16 px) up to this many pixels a side
MAX_TILE_SIDE = 4096

#: tags whose value count must be exactly 1 (code -> name)
SINGLE_VALUED: dict[int, str] = {
    code: tags.TAG_NAMES[code]
    for code in (
        tags.NEW_SUBFILE_TYPE,
        tags.SUBFILE_TYPE,
        tags.IMAGE_WIDTH,
        tags.IMAGE_LENGTH,
        tags.COMPRESSION,
        tags.PHOTOMETRIC,
        tags.ORIENTATION,
        tags.SAMPLES_PER_PIXEL,
        tags.ROWS_PER_STRIP,
        tags.PLANAR_CONFIGURATION,
        tags.RESOLUTION_UNIT,
        tags.TILE_WIDTH,
        tags.TILE_LENGTH,
    )
}


def page_kind(new_subfile_type: int, subfile_type: int, photometric: int) -> str:
    """``"reduced"``, ``"mask"`` or ``"image"`` for an IFD with these tag values.

    Pass 0, 1 and -1 for absent NewSubfileType, SubfileType and PhotometricInterpretation.
    """
    if new_subfile_type & 1 or subfile_type == 2:
        return REDUCED
    if new_subfile_type & 4 or photometric == 4:
        return MASK
    return IMAGE


def _round16(value: int) -> int:
    return -(-value // 16) * 16


def segment_geometry_problem(
    width: int,
    height: int,
    *,
    tile_width: int | None,
    tile_length: int | None,
    pixel_limit: int,
) -> str | None:
    """Why the page's tiles are a decompression risk, or None when they are sound.

    Strips are always as wide as the page and at most as tall, so only tiles are checked.
    """
    if tile_width is None or tile_length is None:
        return None
    if tile_width <= 0 or tile_length <= 0:
        return f"declares {tile_width}x{tile_length} tiles"
    if tile_width * tile_length > pixel_limit:
        return (
            f"declares {tile_width}x{tile_length} tiles = {tile_width * tile_length:,} pixels "
            f"each, above the pixel limit of {pixel_limit:,} (decompression-bomb guard)"
        )
    if tile_width > max(_round16(width), MAX_TILE_SIDE) or tile_length > max(
        _round16(height), MAX_TILE_SIDE
    ):
        return (
            f"declares {tile_width}x{tile_length} tiles for a {width}x{height} page (larger "
            f"than the page needs and than {MAX_TILE_SIDE} px a side; decompression-bomb guard)"
        )
    return None


def no_pixel_data_problem(byte_counts: list[int] | tuple[int, ...], segment: str) -> str | None:
    """Why a page has no pixel data (every strip/tile byte count 0), or None."""
    if byte_counts and not any(byte_counts):
        return f"has no pixel data (all {len(byte_counts)} {segment} byte counts are 0)"
    return None


# --- sizes declared inside compressed segments -------------------------------------------------

#: JPEG start-of-frame markers (SOF0..SOF15 except DHT, JPG and DAC)
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    if data[:2] != b"\xff\xd8":
        return None
    i, n = 2, len(data)
    while i + 4 <= n:
        if data[i] != 0xFF:
            return None
        marker = data[i + 1]
        if marker == 0xFF:  # fill byte
            i += 1
            continue
        if marker == 0x01 or 0xD0 <= marker <= 0xD8:  # TEM, RSTn, SOI: no length
            i += 2
            continue
        if marker in (0xD9, 0xDA):  # EOI or SOS before any frame header
            return None
        (length,) = struct.unpack_from(">H", data, i + 2)
        if marker in _SOF:
            if i + 9 > n:
                return None
            height, width = struct.unpack_from(">HH", data, i + 5)
            return width, height
        i += 2 + length
    return None


def _jpeg2000_size(data: bytes) -> tuple[int, int] | None:
    if data[:4] == b"\xff\x4f\xff\x51" and len(data) >= 26:
        xsiz, ysiz, xosiz, yosiz = struct.unpack_from(">IIII", data, 8)
        return max(0, xsiz - xosiz), max(0, ysiz - yosiz)
    if data[4:8] == b"jP  ":
        at = data.find(b"ihdr", 0, 4096)
        if at >= 0 and at + 12 <= len(data):
            height, width = struct.unpack_from(">II", data, at + 4)
            return width, height
        at = data.find(b"\xff\x4f\xff\x51")
        if at >= 0:
            return _jpeg2000_size(data[at:])
    return None


def _webp_size(data: bytes) -> tuple[int, int] | None:
    if data[:4] != b"RIFF" or data[8:12] != b"WEBP" or len(data) < 30:
        return None
    chunk = data[12:16]
    if chunk == b"VP8 " and data[23:26] == b"\x9d\x01\x2a":
        width, height = struct.unpack_from("<HH", data, 26)
        return width & 0x3FFF, height & 0x3FFF
    if chunk == b"VP8L" and data[20] == 0x2F:
        (bits,) = struct.unpack_from("<I", data, 21)
        return (bits & 0x3FFF) + 1, ((bits >> 14) & 0x3FFF) + 1
    if chunk == b"VP8X":
        width = int.from_bytes(data[24:27], "little") + 1
        height = int.from_bytes(data[27:30], "little") + 1
        return width, height
    return None


def declared_segment_size(compression: int, data: bytes) -> tuple[int, int] | None:
    """(width, height) a compressed segment declares in its own header, when the codec is one
    that allocates by it and the header can be found; else None."""
    if compression in tags.JPEG_CODES:
        return _jpeg_size(data)
    if compression in tags.JPEG2000_CODES:
        return _jpeg2000_size(data)
    if compression in tags.WEBP_CODES:
        return _webp_size(data)
    return None


def segment_header_problem(
    compression: int, data: bytes, segment_width: int, segment_rows: int
) -> str | None:
    """Why a compressed segment's own header is a decompression bomb, or None.

    ``segment_width`` x ``segment_rows`` is what the strip/tile stands for (tile size, or page
    width x rows per strip).
    """
    size = declared_segment_size(compression, data)
    if size is None:
        return None
    width, height = size
    if width > segment_width or height > segment_rows:
        return (
            f"its compressed data declares {width}x{height} pixels for a {segment_width}x"
            f"{segment_rows} segment (decompression-bomb guard)"
        )
    return None
