"""A scanned volume for ingest tests: good masters of every layout beside hostile files."""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from tests import factories


@dataclass(frozen=True)
class Expected:
    """What ingest must record for one file."""

    pages: int = 1
    photometric: str | None = None
    bits: int | None = None
    samples: int | None = None
    compression: str | None = None
    tiled: bool | None = None
    flavour: str | None = None
    byte_order: str | None = None
    skipped_reduced: int = 0
    reason: str | None = None  # a fragment of the rejection reason; None = ingested


def build_mixed_volume(folder: Path) -> dict[str, Expected]:
    """Write a volume into ``folder``; return relative path -> what ingest must record."""
    f = factories
    good = {
        "01_bilevel_white.tif": (
            f.write_bilevel(folder / "01_bilevel_white.tif", miniswhite=True),
            Expected(photometric="miniswhite", bits=1, samples=1),
        ),
        "02_bilevel_black.tif": (
            f.write_bilevel(folder / "02_bilevel_black.tif", miniswhite=False),
            Expected(photometric="minisblack", bits=1, samples=1),
        ),
        "03_g4.tif": (
            f.write_bilevel(folder / "03_g4.tif", miniswhite=True, compression="ccitt_g4"),
            Expected(photometric="miniswhite", bits=1, compression="ccitt_g4"),
        ),
        "04_gray8_lzw.tif": (
            f.write_tiff(folder / "04_gray8_lzw.tif", "gray8", compression="lzw"),
            Expected(photometric="minisblack", bits=8, samples=1, compression="lzw"),
        ),
        "05_gray16.tif": (
            f.write_gray16(folder / "05_gray16.tif"),
            Expected(photometric="minisblack", bits=16, samples=1),
        ),
        "06_rgb8_tiled.tif": (
            f.write_tiff(folder / "06_rgb8_tiled.tif", "rgb8", tiled=True, compression="deflate"),
            Expected(photometric="rgb", bits=8, samples=3, tiled=True, compression="deflate"),
        ),
        "07_rgb16.tif": (
            f.write_rgb16(folder / "07_rgb16.tif"),
            Expected(photometric="rgb", bits=16, samples=3, tiled=False),
        ),
        "08_palette.tif": (
            f.write_palette(folder / "08_palette.tif"),
            Expected(photometric="palette", bits=8),
        ),
        "09_bigtiff.tif": (
            f.write_bigtiff(folder / "09_bigtiff.tif"),
            Expected(flavour="bigtiff"),
        ),
        "10_big_endian.tif": (
            f.write_big_endian(folder / "10_big_endian.tif"),
            Expected(byte_order="big", flavour="classic"),
        ),
        "11_multipage.tif": (
            f.write_multipage(folder / "11_multipage.tif", pages=3),
            Expected(pages=3),
        ),
        "12_thumbnail.tif": (
            f.write_with_thumbnail(folder / "12_thumbnail.tif"),
            Expected(pages=1, skipped_reduced=1),
        ),
        "sub/13_zstd.tif": (
            f.write_tiff(folder / "sub/13_zstd.tif", "gray8", compression="zstd"),
            Expected(compression="zstd"),
        ),
    }
    bad = {
        "90_zero.tif": (f.write_zero_byte(folder / "90_zero.tif"), "empty"),
        "91_truncated.tif": (f.write_truncated(folder / "91_truncated.tif"), "truncated"),
        "92_wrong_magic.tif": (f.write_wrong_magic(folder / "92_wrong_magic.tif"), "TIFF"),
        "93_bomb.tif": (
            f.write_huge_declared_dimensions(folder / "93_bomb.tif"),
            "decompression-bomb",
        ),
        "94_png.tif": (f.write_png_named_tif(folder / "94_png.tif"), "not a TIFF: PNG"),
        "95_corrupt_ifd.tif": (f.write_corrupt_ifd(folder / "95_corrupt_ifd.tif"), "IFD"),
        "notes.txt": (f.write_other_format(folder / "notes.txt", "text"), "not a TIFF"),
    }
    expected = {name: spec for name, (_, spec) in good.items()}
    expected.update({name: Expected(reason=reason) for name, (_, reason) in bad.items()})
    os.symlink("..", folder / "sub" / "loop")
    expected["sub/loop"] = Expected(reason="symlink loop")
    os.symlink("missing.tif", folder / "96_broken_link.tif")
    expected["96_broken_link.tif"] = Expected(reason="broken symlink")
    return expected


def duplicate(folder: Path, source: str, target: str) -> Path:
    """Copy ``source`` to ``target`` (both relative to ``folder``): the same bytes at two paths."""
    destination = folder / target
    destination.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(folder / source, destination)
    return destination
