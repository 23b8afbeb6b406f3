"""Identify TIFF files by content and read their format facts from the tags, never the pixels.

(Interface fixed; implementation pending.)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


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


@dataclass(frozen=True)
class TiffFacts:
    """What a TIFF file is: its flavour and its image pages."""

    flavour: str  # "classic" or "bigtiff"
    byte_order: str  # "little" or "big"
    pages: tuple[PageFacts, ...]
    skipped_reduced: int  # reduced-resolution subfiles (thumbnails, pyramid levels) not catalogued


def sniff(path: Path) -> str:
    """Return "classic" or "bigtiff" from the file's first bytes.

    Raises NotATiffError whose message says what the file looks like ("not a TIFF: PNG data").
    """
    raise NotImplementedError


def read_facts(path: Path, *, pixel_limit: int) -> TiffFacts:
    """Read the facts of every image page without decoding pixels.

    Raises NotATiffError, CorruptTiffError (truncated, bad IFD), UnsupportedTiffError,
    PixelLimitError (declared width*height above pixel_limit) with a one-line reason.
    """
    raise NotImplementedError
