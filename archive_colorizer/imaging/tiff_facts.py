"""Identify TIFF files by content and read their format facts from the tags, never the pixels.

The IFDs are parsed here directly (a few small reads per page), so reading facts costs O(tags)
whatever the image size, and a hostile file cannot make us allocate or decode its pixels.

Which IFDs are scans: :func:`archive_colorizer.imaging.page_rules.page_kind` (shared with verify and
the worker): every IFD of the main chain is an image page unless it is reduced-resolution
(thumbnails, pyramid levels; counted in ``skipped_reduced``) or a transparency mask (counted in
``skipped_other``). A file with more image pages than ``page_limit`` is refused.
SubIFDs (tag 330) hold subsidiary images of their page (pyramid levels, previews): they are never
scans; reduced ones count in ``skipped_reduced``, any others in ``skipped_other``.

Every error message starts with the file name and is one line.
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from archive_colorizer.config import DEFAULT_PAGE_LIMIT
from archive_colorizer.errors import (
    CorruptTiffError,
    MasterError,
    NotATiffError,
    PageLimitError,
    PixelLimitError,
    UnsupportedTiffError,
)
from archive_colorizer.imaging import page_rules
from archive_colorizer.imaging import tiff_tags as tags

__all__ = [
    "PageFacts",
    "TiffFacts",
    "read_facts",
]


@dataclass(frozen=True)
class PageFacts:
    """Format facts of one image page of a TIFF, read from its tags."""

    page_index: int  # index among the file's image pages (reduced-resolution subfiles excluded)
    page_count: int  # number of image pages in the file
    width: int
    height: int
    samples_per_pixel: int
    bits_per_sample: int
    photometric: str  # "minisblack", "miniswhite", "rgb", "palette", ...
    compression: str  # "none", "lzw", "deflate", "zstd", "jpeg", "ccitt_g4", ...
    tiled: bool
    x_resolution: float | None
    y_resolution: float | None
    resolution_unit: str | None  # "inch", "centimeter" or None
    icc_present: bool
    orientation: int  # TIFF Orientation tag, 1..8 (1 when absent)
    ifd_index: int = 0  # position of this page's IFD in the main IFD chain (tifffile's pages[i])
    ifd_offset: int = 0  # byte offset of this page's IFD
    planar: str = "contig"  # "contig" (chunky) or "separate" (one plane per sample)
    sample_format: str = "uint"  # "uint", "int", "float"
    tile_width: int | None = None  # tiled pages only
    tile_length: int | None = None  # tiled pages only
    rows_per_strip: int | None = None  # striped pages only
    segments: int = 0  # number of strips or tiles
    data_bytes: int = 0  # sum of the strip/tile byte counts (compressed size of the pixel data)


@dataclass(frozen=True)
class TiffFacts:
    """What a TIFF file is: its flavour and its image pages."""

    flavour: str  # "classic" or "bigtiff"
    byte_order: str  # "little" or "big"
    pages: tuple[PageFacts, ...]
    skipped_reduced: int  # reduced-resolution subfiles (thumbnails, pyramid levels) not catalogued
    skipped_other: int = 0  # transparency masks and non-reduced SubIFDs, not catalogued


# --- identification --------------------------------------------------------------------------

HEADER_BYTES = 16

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", 0, "PNG data"),
    (b"\xff\xd8\xff", 0, "JPEG data"),
    (b"\x00\x00\x00\x0cjP  \r\n\x87\n", 0, "JPEG 2000 data"),
    (b"\xffO\xffQ", 0, "JPEG 2000 codestream"),
    (b"\xff\x0a", 0, "JPEG XL data"),
    (b"\x00\x00\x00\x0cJXL \r\n\x87\n", 0, "JPEG XL data"),
    (b"GIF87a", 0, "GIF data"),
    (b"GIF89a", 0, "GIF data"),
    (b"%PDF-", 0, "PDF document"),
    (b"PK\x03\x04", 0, "ZIP archive"),
    (b"PK\x05\x06", 0, "ZIP archive"),
    (b"BM", 0, "BMP data"),
    (b"8BPS", 0, "Photoshop PSD data"),
    (b"\x1f\x8b", 0, "gzip data"),
    (b"7z\xbc\xaf\x27\x1c", 0, "7-Zip archive"),
    (b"Rar!", 0, "RAR archive"),
    (b"AT&TFORM", 0, "DjVu document"),
    (b"\x00\x00\x00\x0cjP", 0, "JPEG 2000 data"),
    (b"IIRO", 0, "Olympus ORF raw data"),
    (b"IIU\x00", 0, "Panasonic RW2 raw data"),
    (b"SQLite format 3\x00", 0, "SQLite database"),
    (b"\x7fELF", 0, "ELF executable"),
    (b"%!PS", 0, "PostScript document"),
    (b"\xc5\xd0\xd3\xc6", 0, "EPS document"),
    (b"{\\rtf", 0, "RTF document"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 0, "Microsoft Office (OLE) document"),
    (b"OggS", 0, "Ogg media"),
    (b"ID3", 0, "MP3 audio"),
    (b"FUJIFILMCCD-RAW", 0, "Fujifilm RAF raw data"),
    (b"\x00\x00\x01\x00", 0, "Windows icon"),
)


def describe_non_tiff(head: bytes) -> str:
    """What the first bytes of a non-TIFF file look like, e.g. "PNG data", "empty file"."""
    if not head:
        return "empty file (zero bytes)"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP data"
    if head[:4] == b"RIFF":
        return "RIFF data"
    if head[4:8] == b"ftyp":
        brand = head[8:12]
        if brand in (b"avif", b"avis"):
            return "AVIF data"
        if brand in (b"heic", b"heix", b"mif1", b"msf1"):
            return "HEIF data"
        return "ISO media data"
    for signature, offset, name in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return name
    if head[:2] in (b"II", b"MM") and len(head) >= 4:
        order = "<" if head[:2] == b"II" else ">"
        (version,) = struct.unpack(order + "H", head[2:4])
        return f"unknown data (TIFF-like byte-order mark with version {version}, not 42 or 43)"
    if head[:2] in (b"II", b"MM"):
        return "unknown data (too short for a TIFF header)"
    stripped = head.lstrip()
    if stripped[:5].lower() in (b"<?xml", b"<!doc", b"<html", b"<svg "):
        return "XML/HTML text"
    try:
        text = head.decode("utf-8")
    except UnicodeDecodeError:
        text = ""
    if text and all(ch.isprintable() or ch in "\r\n\t" for ch in text):
        return "text"
    return "unknown data (starts with " + head[:8].hex(" ") + ")"


def _classify(head: bytes) -> tuple[str, str] | None:
    """(flavour, byte_order) when ``head`` starts like a TIFF, else None."""
    if head[:4] == b"II*\x00":
        return "classic", "little"
    if head[:4] == b"MM\x00*":
        return "classic", "big"
    if head[:4] == b"II+\x00":
        return "bigtiff", "little"
    if head[:4] == b"MM\x00+":
        return "bigtiff", "big"
    return None


def _unreadable(path: Path, error: OSError) -> MasterError:
    reason = error.strerror or type(error).__name__
    return MasterError(f"{path.name}: unreadable: {reason}")


# --- tag parsing -------------------------------------------------------------------------------

# TIFF field types: code -> (struct format char, size in bytes)
_TYPES: dict[int, tuple[str, int]] = {
    1: ("B", 1),  # BYTE
    2: ("s", 1),  # ASCII
    3: ("H", 2),  # SHORT
    4: ("I", 4),  # LONG
    5: ("I", 8),  # RATIONAL (two LONGs)
    6: ("b", 1),  # SBYTE
    7: ("B", 1),  # UNDEFINED
    8: ("h", 2),  # SSHORT
    9: ("i", 4),  # SLONG
    10: ("i", 8),  # SRATIONAL (two SLONGs)
    11: ("f", 4),  # FLOAT
    12: ("d", 8),  # DOUBLE
    13: ("I", 4),  # IFD
    16: ("Q", 8),  # LONG8
    17: ("q", 8),  # SLONG8
    18: ("Q", 8),  # IFD8
}
_INTEGER_TYPES = {1, 3, 4, 6, 8, 9, 13, 16, 17, 18}
_RATIONAL_TYPES = {5, 10}

#: more IFDs than this in one file is treated as corrupt (real volumes have far fewer pages)
MAX_IFDS = 100_000
#: an IFD with more entries than this is treated as corrupt
MAX_ENTRIES = 4096
#: strips/tiles per page beyond this are refused (values are read into memory)
MAX_SEGMENTS = 50_000_000


@dataclass(frozen=True)
class _Entry:
    tag: int
    type: int
    count: int
    value_offset: int  # file offset of the values (inline or not)


class _Reader:
    """Bounded reads from an open TIFF; every read checks the file size first."""

    def __init__(self, stream: BinaryIO, path: Path, size: int, order: str, big: bool) -> None:
        self.stream = stream
        self.path = path
        self.size = size
        self.order = order  # "<" or ">"
        self.big = big

    def fail(self, reason: str) -> CorruptTiffError:
        return CorruptTiffError(f"{self.path.name}: {reason}")

    def read(self, offset: int, length: int, what: str) -> bytes:
        if offset < 0 or offset + length > self.size:
            raise self.fail(
                f"truncated: {what} at byte {offset} ({length} bytes) runs past the end of the "
                f"file ({self.size} bytes)"
            )
        self.stream.seek(offset)
        data = self.stream.read(length)
        if len(data) != length:
            raise self.fail(f"truncated: could not read {what} at byte {offset}")
        return data

    def ifd(self, offset: int, label: str) -> tuple[dict[int, _Entry], int]:
        """Entries of the IFD at ``offset`` by tag, and the next IFD offset."""
        count_size, entry_size, offset_size = (8, 20, 8) if self.big else (2, 12, 4)
        if offset + count_size > self.size:
            raise self.fail(
                f"truncated: {label} at byte {offset} lies beyond the end of the file "
                f"({self.size} bytes)"
            )
        raw = self.read(offset, count_size, f"{label} entry count")
        (count,) = struct.unpack(self.order + ("Q" if self.big else "H"), raw)
        if count == 0:
            raise self.fail(f"corrupt IFD: {label} at byte {offset} has no entries")
        if count > MAX_ENTRIES:
            if offset + count_size + count * entry_size > self.size:
                raise self.fail(
                    f"corrupt IFD: {label} at byte {offset} claims {count} entries, more than "
                    f"the file holds"
                )
            raise self.fail(f"corrupt IFD: {label} claims {count} entries (limit {MAX_ENTRIES})")
        table_size = count * entry_size + offset_size
        if offset + count_size + table_size > self.size:
            raise self.fail(
                f"corrupt IFD: {label} at byte {offset} with {count} entries runs past the end "
                f"of the file ({self.size} bytes)"
            )
        table = self.read(offset + count_size, table_size, label)
        entries: dict[int, _Entry] = {}
        head = self.order + ("HHQ" if self.big else "HHI")
        inline = 8 if self.big else 4
        for i in range(count):
            pos = i * entry_size
            tag, type_, n = struct.unpack_from(head, table, pos)
            value_pos = pos + (12 if self.big else 8)
            if type_ not in _TYPES:
                continue  # unknown field types are to be ignored (TIFF 6.0, section 2)
            length = n * _TYPES[type_][1]
            if length <= inline:
                value_offset = offset + count_size + value_pos
            else:
                (value_offset,) = struct.unpack_from(
                    self.order + ("Q" if self.big else "I"), table, value_pos
                )
                if value_offset + length > self.size:
                    name = tags.TAG_NAMES.get(tag, f"tag {tag}")
                    raise self.fail(
                        f"corrupt IFD: {label} {name} values at byte {value_offset} "
                        f"({length} bytes) lie beyond the end of the file ({self.size} bytes)"
                    )
            entries.setdefault(tag, _Entry(tag, type_, n, value_offset))
        (next_offset,) = struct.unpack_from(
            self.order + ("Q" if self.big else "I"), table, count * entry_size
        )
        return entries, next_offset

    def values(self, entry: _Entry, label: str, limit: int | None = None) -> list[int]:
        """Integer values of ``entry`` (at most ``limit`` of them)."""
        name = tags.TAG_NAMES.get(entry.tag, f"tag {entry.tag}")
        if entry.type not in _INTEGER_TYPES:
            raise self.fail(f"corrupt IFD: {label} {name} has non-integer type {entry.type}")
        count = entry.count if limit is None else min(entry.count, limit)
        char, size = _TYPES[entry.type]
        data = self.read(entry.value_offset, count * size, f"{label} {name} values")
        return list(struct.unpack(f"{self.order}{count}{char}", data))

    def value(self, entries: dict[int, _Entry], tag: int, label: str, default: int | None) -> int:
        entry = entries.get(tag)
        if entry is None or entry.count == 0:
            if default is None:
                raise self.fail(f"missing required tag {tags.TAG_NAMES[tag]} in {label}")
            return default
        return self.values(entry, label, limit=1)[0]

    def rational(self, entries: dict[int, _Entry], tag: int, label: str) -> float | None:
        entry = entries.get(tag)
        if entry is None or entry.count == 0:
            return None
        if entry.type in _RATIONAL_TYPES:
            char = "I" if entry.type == 5 else "i"
            data = self.read(entry.value_offset, 8, f"{label} {tags.TAG_NAMES[tag]}")
            numerator, denominator = struct.unpack(f"{self.order}2{char}", data)
            return numerator / denominator if denominator else None
        if entry.type in (11, 12):
            char, size = _TYPES[entry.type]
            data = self.read(entry.value_offset, size, f"{label} {tags.TAG_NAMES[tag]}")
            return float(struct.unpack(self.order + char, data)[0])
        return float(self.values(entry, label, limit=1)[0])

    def array(self, entry: _Entry, label: str) -> list[int]:
        """All integer values of an offsets/byte-counts array (bounded by MAX_SEGMENTS)."""
        if entry.count > MAX_SEGMENTS:
            name = tags.TAG_NAMES.get(entry.tag, f"tag {entry.tag}")
            raise self.fail(f"corrupt IFD: {label} {name} lists {entry.count} values")
        return self.values(entry, label)


# --- page facts --------------------------------------------------------------------------------

_REDUCED = page_rules.REDUCED
_MASK = page_rules.MASK
_IMAGE = page_rules.IMAGE


def _kind_of(reader: _Reader, entries: dict[int, _Entry], label: str) -> str:
    return page_rules.page_kind(
        reader.value(entries, tags.NEW_SUBFILE_TYPE, label, 0),
        reader.value(entries, tags.SUBFILE_TYPE, label, 1),
        reader.value(entries, tags.PHOTOMETRIC, label, -1),
    )


def _page_facts(
    reader: _Reader,
    entries: dict[int, _Entry],
    label: str,
    pixel_limit: int,
) -> dict[str, object]:
    """Facts of one image IFD as keyword arguments of PageFacts (without index fields)."""
    width, height = _dimensions(reader, entries, label, pixel_limit)
    samples, bits = _samples(reader, entries, label)
    compression = _compression(reader, entries, label)
    photometric = _photometric(reader, entries, label, samples, bits, compression)
    planar_code = reader.value(entries, tags.PLANAR_CONFIGURATION, label, 1)
    if planar_code not in (1, 2):
        raise reader.fail(f"corrupt IFD: {label} has PlanarConfiguration {planar_code}")
    planes = samples if planar_code == 2 and samples > 1 else 1
    sample_format = tags.SAMPLE_FORMATS.get(
        reader.value(entries, tags.SAMPLE_FORMAT, label, 1), "unknown"
    )
    orientation = reader.value(entries, tags.ORIENTATION, label, tags.DEFAULT_ORIENTATION)
    if orientation not in tags.ORIENTATIONS:
        raise reader.fail(f"corrupt IFD: {label} has Orientation {orientation} (must be 1..8)")
    layout = _segments(reader, entries, label, width, height, planes, pixel_limit)
    x_resolution = reader.rational(entries, tags.X_RESOLUTION, label)
    y_resolution = reader.rational(entries, tags.Y_RESOLUTION, label)
    unit: str | None = None
    if x_resolution is not None or y_resolution is not None:
        unit = tags.RESOLUTION_UNITS.get(reader.value(entries, tags.RESOLUTION_UNIT, label, 2))
    icc = entries.get(tags.ICC_PROFILE)
    return {
        "width": width,
        "height": height,
        "samples_per_pixel": samples,
        "bits_per_sample": bits,
        "photometric": photometric,
        "compression": compression,
        "tiled": layout["tiled"],
        "x_resolution": x_resolution,
        "y_resolution": y_resolution,
        "resolution_unit": unit,
        "icc_present": icc is not None and icc.count > 0,
        "orientation": orientation,
        "planar": "separate" if planes > 1 else "contig",
        "sample_format": sample_format,
        "tile_width": layout["tile_width"],
        "tile_length": layout["tile_length"],
        "rows_per_strip": layout["rows_per_strip"],
        "segments": layout["segments"],
        "data_bytes": layout["data_bytes"],
    }


def _dimensions(
    reader: _Reader, entries: dict[int, _Entry], label: str, pixel_limit: int
) -> tuple[int, int]:
    """The page's width and height, after the single-valued tags and the pixel limit."""
    for tag, tag_name in page_rules.SINGLE_VALUED.items():
        entry = entries.get(tag)
        if entry is not None and entry.count != 1:
            raise reader.fail(
                f"corrupt IFD: {label} {tag_name} has {entry.count} values (must have 1)"
            )
    width = reader.value(entries, tags.IMAGE_WIDTH, label, None)
    height = reader.value(entries, tags.IMAGE_LENGTH, label, None)
    if width <= 0 or height <= 0:
        raise reader.fail(f"corrupt IFD: {label} declares an empty image ({width}x{height})")
    if width * height > pixel_limit:
        raise PixelLimitError(
            f"{reader.path.name}: {label} declares {width}x{height} = {width * height:,} pixels, "
            f"above the limit of {pixel_limit:,} (decompression-bomb guard; raise --pixel-limit "
            "to accept)"
        )
    return width, height


def _samples(reader: _Reader, entries: dict[int, _Entry], label: str) -> tuple[int, int]:
    """Samples per pixel and the one bit depth they share."""
    name = reader.path.name
    samples = reader.value(entries, tags.SAMPLES_PER_PIXEL, label, 1)
    if samples <= 0 or samples > 64:
        raise reader.fail(f"corrupt IFD: {label} declares {samples} samples per pixel")
    bits_entry = entries.get(tags.BITS_PER_SAMPLE)
    bits_values = [1] if bits_entry is None else reader.values(bits_entry, label, limit=samples)
    if not bits_values:
        raise reader.fail(f"corrupt IFD: {label} BitsPerSample is empty")
    if len(set(bits_values)) != 1:
        raise UnsupportedTiffError(
            f"{name}: {label} mixes bit depths per sample {bits_values}; not supported"
        )
    bits = bits_values[0]
    if bits not in tags.SUPPORTED_BITS:
        raise UnsupportedTiffError(f"{name}: {label} has {bits} bits per sample; not supported")
    return samples, bits


def _compression(reader: _Reader, entries: dict[int, _Entry], label: str) -> str:
    """The compression's name (:data:`tiff_tags.COMPRESSIONS`); the others are refused."""
    name = reader.path.name
    code = reader.value(entries, tags.COMPRESSION, label, 1)
    if code in tags.UNSUPPORTED_COMPRESSIONS:
        raise UnsupportedTiffError(
            f"{name}: {label} uses {tags.UNSUPPORTED_COMPRESSIONS[code]}; not supported"
        )
    if code not in tags.COMPRESSIONS:
        raise UnsupportedTiffError(
            f"{name}: {label} uses unknown compression {code}; not supported"
        )
    return tags.COMPRESSIONS[code]


def _photometric(
    reader: _Reader,
    entries: dict[int, _Entry],
    label: str,
    samples: int,
    bits: int,
    compression: str,
) -> str:
    """The photometric interpretation's name, checked against the samples and compression."""
    name = reader.path.name
    if tags.PHOTOMETRIC not in entries:
        raise UnsupportedTiffError(
            f"{name}: missing required tag PhotometricInterpretation in {label} "
            "(cannot tell black from white)"
        )
    code = reader.value(entries, tags.PHOTOMETRIC, label, None)
    if code not in tags.PHOTOMETRICS:
        raise UnsupportedTiffError(f"{name}: {label} has unknown PhotometricInterpretation {code}")
    photometric = tags.PHOTOMETRICS[code]
    if photometric in ("rgb", "ycbcr") and samples < 3:
        raise reader.fail(f"corrupt IFD: {label} is {photometric} with {samples} sample(s)")
    if photometric == "palette" and tags.COLOR_MAP not in entries:
        raise reader.fail(f"missing required tag ColorMap in {label} (palette image)")
    if compression.startswith("ccitt") and bits != 1:
        raise reader.fail(f"corrupt IFD: {label} is CCITT-compressed with {bits} bits per sample")
    return photometric


def _segments(
    reader: _Reader,
    entries: dict[int, _Entry],
    label: str,
    width: int,
    height: int,
    planes: int,
    pixel_limit: int,
) -> dict[str, Any]:
    """The page's strips or tiles: their geometry, how many, and the bytes they hold (each
    must lie inside the file)."""
    tiled = tags.TILE_WIDTH in entries or tags.TILE_OFFSETS in entries
    tile_width = tile_length = rows_per_strip = None
    if tiled:
        tile_width = reader.value(entries, tags.TILE_WIDTH, label, None)
        tile_length = reader.value(entries, tags.TILE_LENGTH, label, None)
        if tile_width <= 0 or tile_length <= 0:
            raise reader.fail(f"corrupt IFD: {label} has {tile_width}x{tile_length} tiles")
        problem = page_rules.segment_geometry_problem(
            width, height, tile_width=tile_width, tile_length=tile_length, pixel_limit=pixel_limit
        )
        if problem is not None:
            raise PixelLimitError(f"{reader.path.name}: {label} {problem}")
        expected = -(-width // tile_width) * -(-height // tile_length) * planes
        offsets_tag, counts_tag = tags.TILE_OFFSETS, tags.TILE_BYTE_COUNTS
    else:
        rows_per_strip = min(reader.value(entries, tags.ROWS_PER_STRIP, label, height), height)
        if rows_per_strip <= 0:
            raise reader.fail(f"corrupt IFD: {label} has RowsPerStrip {rows_per_strip}")
        expected = -(-height // rows_per_strip) * planes
        offsets_tag, counts_tag = tags.STRIP_OFFSETS, tags.STRIP_BYTE_COUNTS
    for tag in (offsets_tag, counts_tag):
        if tag not in entries:
            raise reader.fail(f"missing required tag {tags.TAG_NAMES[tag]} in {label}")
    offsets_entry, counts_entry = entries[offsets_tag], entries[counts_tag]
    if offsets_entry.count < expected or counts_entry.count < expected:
        raise reader.fail(
            f"corrupt IFD: {label} needs {expected} {tags.TAG_NAMES[offsets_tag]}/"
            f"{tags.TAG_NAMES[counts_tag]} values, has {offsets_entry.count}/{counts_entry.count}"
        )
    offsets = reader.array(offsets_entry, label)[:expected]
    counts = reader.array(counts_entry, label)[:expected]
    segment = "tile" if tiled else "strip"
    data_bytes = 0
    for index, (offset, count) in enumerate(zip(offsets, counts, strict=True)):
        if count == 0:
            continue  # sparse (empty) segment
        end = offset + count
        if end > reader.size:
            raise reader.fail(
                f"truncated: {label} {segment} {index} ends at byte {end}, beyond the end of the "
                f"file ({reader.size} bytes)"
            )
        data_bytes += count
    empty = page_rules.no_pixel_data_problem(counts, segment)
    if empty is not None:
        raise reader.fail(f"corrupt IFD: {label} {empty}")
    return {
        "tiled": tiled,
        "tile_width": tile_width,
        "tile_length": tile_length,
        "rows_per_strip": rows_per_strip,
        "segments": expected,
        "data_bytes": data_bytes,
    }


def read_facts(path: Path, *, pixel_limit: int, page_limit: int = DEFAULT_PAGE_LIMIT) -> TiffFacts:
    """Read the facts of every image page without decoding pixels.

    Raises NotATiffError, CorruptTiffError (truncated, bad IFD), UnsupportedTiffError,
    PixelLimitError (declared width*height, or a tile, above pixel_limit), PageLimitError (more
    than ``page_limit`` image pages; the walk stops there) with a one-line reason, and
    MasterError when the file cannot be read.
    """
    path = Path(path)
    try:
        with open(path, "rb") as stream:
            size = os.fstat(stream.fileno()).st_size
            head = stream.read(HEADER_BYTES)
            return _read(stream, path, size, head, pixel_limit, page_limit)
    except OSError as error:
        raise _unreadable(path, error) from error


def _read(
    stream: BinaryIO, path: Path, size: int, head: bytes, pixel_limit: int, page_limit: int
) -> TiffFacts:
    kind = _classify(head)
    if kind is None:
        raise NotATiffError(f"{path.name}: not a TIFF: {describe_non_tiff(head)}")
    flavour, byte_order = kind
    big = flavour == "bigtiff"
    order = "<" if byte_order == "little" else ">"
    header_size = 16 if big else 8
    if len(head) < header_size:
        raise CorruptTiffError(
            f"{path.name}: truncated: the file ends inside the TIFF header ({len(head)} bytes)"
        )
    if big:
        offset_size, reserved, first = struct.unpack(order + "HHQ", head[4:16])
        if offset_size != 8 or reserved != 0:
            raise CorruptTiffError(
                f"{path.name}: corrupt BigTIFF header (offset size {offset_size})"
            )
    else:
        (first,) = struct.unpack(order + "I", head[4:8])
    if first == 0:
        raise CorruptTiffError(f"{path.name}: corrupt TIFF header: no image file directory")
    reader = _Reader(stream, path, size, order, big)

    seen: set[int] = set()
    page_kwargs: list[dict[str, object]] = []
    skipped_reduced = skipped_other = 0
    offset = first
    ifd_index = 0
    while offset:
        _visit(reader, seen, offset, f"IFD {ifd_index} loops back to byte {offset}")
        label = f"IFD {ifd_index}"
        entries, next_offset = reader.ifd(offset, label)
        kind_of_ifd = _kind_of(reader, entries, label)
        if kind_of_ifd == _REDUCED:
            skipped_reduced += 1
        elif kind_of_ifd == _MASK:
            skipped_other += 1
        else:
            if len(page_kwargs) >= page_limit:
                raise PageLimitError(
                    f"{path.name}: more than {page_limit:,} image pages (page limit; raise "
                    "--page-limit / ARCHCOLOR_PAGE_LIMIT to accept, or split the file)"
                )
            facts = _page_facts(reader, entries, label, pixel_limit)
            facts["ifd_index"] = ifd_index
            facts["ifd_offset"] = offset
            page_kwargs.append(facts)
        reduced, other = _count_subifds(reader, entries, label, seen)
        skipped_reduced += reduced
        skipped_other += other
        offset = next_offset
        ifd_index += 1
    if not page_kwargs:
        raise UnsupportedTiffError(
            f"{path.name}: no full-resolution image page (only {skipped_reduced} reduced-"
            f"resolution and {skipped_other} other subfiles)"
        )
    count = len(page_kwargs)
    pages = tuple(
        PageFacts(page_index=i, page_count=count, **kwargs)  # type: ignore[arg-type]
        for i, kwargs in enumerate(page_kwargs)
    )
    return TiffFacts(
        flavour=flavour,
        byte_order=byte_order,
        pages=pages,
        skipped_reduced=skipped_reduced,
        skipped_other=skipped_other,
    )


def _visit(reader: _Reader, seen: set[int], offset: int, loop: str) -> None:
    """Note the IFD at ``offset`` as read; a corrupt chain when it was (``loop`` says how) or
    when the file has more IFDs than :data:`MAX_IFDS`."""
    if offset in seen:
        raise reader.fail(f"corrupt IFD chain: {loop}")
    if len(seen) >= MAX_IFDS:
        raise reader.fail(f"corrupt IFD chain: more than {MAX_IFDS} IFDs")
    seen.add(offset)


def _count_subifds(
    reader: _Reader, entries: dict[int, _Entry], label: str, seen: set[int]
) -> tuple[int, int]:
    """(reduced, other) counts of the SubIFDs of one IFD, following their own chains."""
    entry = entries.get(tags.SUB_IFDS)
    if entry is None:
        return 0, 0
    if entry.count > MAX_IFDS:
        raise reader.fail(f"corrupt IFD: {label} lists {entry.count} SubIFDs")
    reduced = other = 0
    for sub_number, start in enumerate(reader.values(entry, label)):
        offset = start
        while offset:
            _visit(reader, seen, offset, f"{label} SubIFD {sub_number} loops back")
            sub_label = f"{label} SubIFD {sub_number}"
            sub_entries, offset = reader.ifd(offset, sub_label)
            if _kind_of(reader, sub_entries, sub_label) == _REDUCED:
                reduced += 1
            else:
                other += 1
    return reduced, other
