"""TIFF identification and format facts: every layout, every hostile kind, and no pixel decoding."""

from __future__ import annotations

import os
import struct
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive_colorizer.errors import (
    ArchcolorError,
    CorruptTiffError,
    MasterError,
    NotATiffError,
    PixelLimitError,
    UnsupportedTiffError,
)
from archive_colorizer.imaging.tiff_facts import read_facts
from tests import factories

LIMIT = 2_000_000_000

# tifffile's compression enum names -> ours
TIFFFILE_COMPRESSION = {
    "NONE": "none",
    "LZW": "lzw",
    "ADOBE_DEFLATE": "deflate",
    "ZSTD": "zstd",
    "JPEG": "jpeg",
    "PACKBITS": "packbits",
    "CCITTFAX4": "ccitt_g4",
}


def _combinations() -> list[tuple[str, str, bool]]:
    combos = []
    for layout, (_spp, bits, _photo) in factories.LAYOUTS.items():
        for compression in ("none", "lzw", "deflate", "zstd", "packbits", "jpeg"):
            if compression == "jpeg" and (bits != 8 or layout == "palette"):
                continue
            for tiled in (False, True):
                combos.append((layout, compression, tiled))
        if bits == 1:
            combos.append((layout, "ccitt_g4", False))
    return combos


@pytest.mark.parametrize(("layout", "compression", "tiled"), _combinations())
def test_facts_of_every_layout_match_the_written_file(
    tmp_path: Path, layout: str, compression: str, tiled: bool
) -> None:
    path = factories.write_tiff(
        tmp_path / "page.tif", layout, width=70, height=45, compression=compression, tiled=tiled
    )
    facts = read_facts(path, pixel_limit=LIMIT)
    spp, bits, photometric = factories.LAYOUTS[layout]
    (page,) = facts.pages
    assert (facts.flavour, facts.byte_order, facts.skipped_reduced) == ("classic", "little", 0)
    assert (page.width, page.height, page.bits_per_sample) == (70, 45, bits)
    assert page.compression == compression
    assert page.tiled is tiled
    if compression == "jpeg" and spp == 3:
        assert (page.samples_per_pixel, page.photometric) == (3, "ycbcr")  # how JPEG stores RGB
    else:
        assert (page.samples_per_pixel, page.photometric) == (spp, photometric)
    assert (page.x_resolution, page.y_resolution, page.resolution_unit) == (600.0, 600.0, "inch")
    assert (page.page_index, page.page_count, page.orientation, page.icc_present) == (
        0,
        1,
        1,
        False,
    )
    # cross-check against an independent reader
    with tifffile.TiffFile(path) as tif:
        reference = tif.pages[0]
        assert isinstance(reference, tifffile.TiffPage)
        assert (
            TIFFFILE_COMPRESSION[tifffile.COMPRESSION(reference.compression).name]
            == page.compression
        )
        assert tifffile.PHOTOMETRIC(reference.photometric).name.lower() == page.photometric
        assert (reference.imagewidth, reference.imagelength) == (page.width, page.height)
        assert page.segments == len(reference.dataoffsets)
        assert page.data_bytes == sum(reference.databytecounts)


@pytest.mark.parametrize("byteorder", ["little", "big"])
@pytest.mark.parametrize("bigtiff", [False, True])
@pytest.mark.parametrize("layout", ["gray16", "rgb16", "bilevel_miniswhite"])
def test_both_byte_orders_and_bigtiff(
    tmp_path: Path, byteorder: str, bigtiff: bool, layout: str
) -> None:
    path = factories.write_tiff(
        tmp_path / "x.tif", layout, byteorder=byteorder, bigtiff=bigtiff, tiled=bigtiff
    )
    facts = read_facts(path, pixel_limit=LIMIT)
    assert facts.flavour == ("bigtiff" if bigtiff else "classic")
    assert facts.flavour == ("bigtiff" if bigtiff else "classic")
    assert facts.byte_order == byteorder
    spp, bits, photometric = factories.LAYOUTS[layout]
    page = facts.pages[0]
    assert (page.samples_per_pixel, page.bits_per_sample, page.photometric) == (
        spp,
        bits,
        photometric,
    )
    assert page.x_resolution == 600.0


def test_multipage_file_has_one_fact_per_page(tmp_path: Path) -> None:
    path = factories.write_multipage(tmp_path / "m.tif", pages=4, width=30, height=20)
    facts = read_facts(path, pixel_limit=LIMIT)
    assert [p.page_index for p in facts.pages] == [0, 1, 2, 3]
    assert {p.page_count for p in facts.pages} == {4}
    assert [p.ifd_index for p in facts.pages] == [0, 1, 2, 3]


@pytest.mark.parametrize("as_subifd", [False, True])
def test_reduced_resolution_subfiles_are_skipped_and_counted(
    tmp_path: Path, as_subifd: bool
) -> None:
    path = factories.write_with_thumbnail(tmp_path / "t.tif", as_subifd=as_subifd)
    facts = read_facts(path, pixel_limit=LIMIT)
    assert len(facts.pages) == 1
    assert facts.skipped_reduced == 1
    assert (facts.pages[0].width, facts.pages[0].height) == (64, 48)


def test_chained_thumbnails_do_not_shift_page_indices(tmp_path: Path) -> None:
    path = factories.write_multipage(tmp_path / "m.tif", pages=3, thumbnail="page")
    facts = read_facts(path, pixel_limit=LIMIT)
    assert facts.skipped_reduced == 3
    assert [(p.page_index, p.ifd_index) for p in facts.pages] == [(0, 0), (1, 2), (2, 4)]
    assert {p.page_count for p in facts.pages} == {3}


def test_orientation_icc_and_centimetre_resolution(tmp_path: Path) -> None:
    path = factories.write_gray8(
        tmp_path / "o.tif",
        orientation=6,
        icc_profile=True,
        resolution=(118.0, 236.0),
        resolution_unit="centimeter",
    )
    page = read_facts(path, pixel_limit=LIMIT).pages[0]
    assert (page.orientation, page.icc_present) == (6, True)
    assert (page.x_resolution, page.y_resolution, page.resolution_unit) == (
        118.0,
        236.0,
        "centimeter",
    )


def test_resolution_without_unit_has_no_unit(tmp_path: Path) -> None:
    # tifffile writes XResolution = YResolution = 1/1 with ResolutionUnit = 1 (no unit)
    page = read_facts(
        factories.write_gray8(tmp_path / "r.tif", resolution=None), pixel_limit=LIMIT
    ).pages[0]
    assert (page.x_resolution, page.y_resolution, page.resolution_unit) == (1.0, 1.0, None)


def test_identification_is_by_content_not_extension(tmp_path: Path) -> None:
    tiff_named_png = factories.write_gray8(tmp_path / "scan.png")
    facts = read_facts(tiff_named_png, pixel_limit=LIMIT)
    assert (facts.flavour, facts.pages[0].width) == ("classic", 64)
    with pytest.raises(NotATiffError, match=r"fake\.tif: not a TIFF: PNG data$"):
        read_facts(factories.write_png_named_tif(tmp_path / "fake.tif"), pixel_limit=LIMIT)


@pytest.mark.parametrize("kind", sorted(factories.OTHER_FORMATS))
def test_other_formats_are_named(tmp_path: Path, kind: str) -> None:
    path = factories.write_other_format(tmp_path / f"{kind}.tif", kind)
    expected = f"not a TIFF: {factories.OTHER_FORMATS[kind]}"
    with pytest.raises(NotATiffError) as read:
        read_facts(path, pixel_limit=LIMIT)
    assert expected in str(read.value)
    assert str(read.value).startswith(f"{kind}.tif: ")


# (factory call, error class, words the one-line reason must contain)
HOSTILE = {
    "zero_byte": (factories.write_zero_byte, NotATiffError, "empty file (zero bytes)"),
    "wrong_magic": (factories.write_wrong_magic, NotATiffError, "version 44"),
    "truncated_data": (
        lambda p: factories.write_truncated(p, at="data"),
        CorruptTiffError,
        "truncated: IFD 0 strip 0 ends at byte",
    ),
    "truncated_ifd": (
        lambda p: factories.write_truncated(p, at="ifd"),
        CorruptTiffError,
        "runs past the end of the file",
    ),
    "truncated_header": (
        lambda p: factories.write_truncated(p, at="header"),
        CorruptTiffError,
        "ends inside the TIFF header",
    ),
    "huge_dimensions": (
        factories.write_huge_declared_dimensions,
        PixelLimitError,
        "100000x100000",
    ),
    "ifd_loop": (factories.write_ifd_loop, CorruptTiffError, "loops back"),
    "entry_count": (
        lambda p: factories.write_corrupt_ifd(p, kind="entry_count"),
        CorruptTiffError,
        "with 4000 entries runs past the end",
    ),
    "zero_entries": (
        lambda p: factories.write_corrupt_ifd(p, kind="zero_entries"),
        CorruptTiffError,
        "has no entries",
    ),
    "value_offset": (
        lambda p: factories.write_corrupt_ifd(p, kind="value_offset"),
        CorruptTiffError,
        "BitsPerSample values at byte 10000000",
    ),
    "next_offset": (
        lambda p: factories.write_corrupt_ifd(p, kind="next_offset"),
        CorruptTiffError,
        "IFD 1 at byte 1000000000 lies beyond the end",
    ),
    "no_width": (
        lambda p: factories.write_missing_tag(p, "ImageWidth"),
        CorruptTiffError,
        "missing required tag ImageWidth",
    ),
    "no_length": (
        lambda p: factories.write_missing_tag(p, "ImageLength"),
        CorruptTiffError,
        "missing required tag ImageLength",
    ),
    "no_photometric": (
        lambda p: factories.write_missing_tag(p, "PhotometricInterpretation"),
        UnsupportedTiffError,
        "missing required tag PhotometricInterpretation",
    ),
    "no_strip_offsets": (
        lambda p: factories.write_missing_tag(p, "StripOffsets"),
        CorruptTiffError,
        "missing required tag StripOffsets",
    ),
    "no_strip_counts": (
        lambda p: factories.write_missing_tag(p, "StripByteCounts"),
        CorruptTiffError,
        "missing required tag StripByteCounts",
    ),
}


@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_each_hostile_kind_gives_its_own_one_line_reason(tmp_path: Path, name: str) -> None:
    write, error_class, words = HOSTILE[name]
    path = write(tmp_path / f"{name}.tif")
    with pytest.raises(error_class) as caught:
        read_facts(path, pixel_limit=LIMIT)
    message = str(caught.value)
    assert words in message
    assert message.startswith(f"{name}.tif: ")
    assert "\n" not in message


def test_pixel_limit_is_configurable(tmp_path: Path) -> None:
    path = factories.write_gray8(tmp_path / "g.tif", width=100, height=50)
    assert read_facts(path, pixel_limit=5000).pages[0].width == 100
    with pytest.raises(PixelLimitError, match="5,000 pixels, above the limit of 4,999"):
        read_facts(path, pixel_limit=4999)


def test_huge_declared_dimensions_are_rejected_fast_and_without_allocating(
    tmp_path: Path,
) -> None:
    path = factories.write_huge_declared_dimensions(tmp_path / "bomb.tif")
    assert path.stat().st_size < 2000
    tracemalloc.start()
    started = time.perf_counter()
    try:
        with pytest.raises(PixelLimitError):
            read_facts(path, pixel_limit=LIMIT)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert time.perf_counter() - started < 1.0
    assert peak < 1_000_000


def test_facts_of_a_large_master_cost_tags_not_pixels(tmp_path: Path) -> None:
    """A 1.6-gigapixel page (sparse file) is described in milliseconds with kilobytes of memory."""
    width = height = 40_000
    entries = factories.gray8_entries(width, height, strip_offset=8)
    body = factories.raw_classic_tiff([entries])  # IFD right after the header, no data yet
    ifd_end = len(body)
    entries = factories.gray8_entries(width, height, strip_offset=ifd_end)
    body = factories.raw_classic_tiff([entries])
    path = tmp_path / "large.tif"
    with open(path, "wb") as stream:
        stream.write(body)
        stream.truncate(ifd_end + width * height)  # sparse: no disk blocks for the pixels
    tracemalloc.start()
    try:
        facts = read_facts(path, pixel_limit=LIMIT)
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert (facts.pages[0].width, facts.pages[0].data_bytes) == (width, width * height)
    assert peak < 1_000_000


def test_strips_running_past_the_end_of_the_file_are_truncation(tmp_path: Path) -> None:
    path = factories.write_tiled(tmp_path / "t.tif", width=64, height=64)
    size = path.stat().st_size
    with tifffile.TiffFile(path) as tif:
        reference = tif.pages[0]
        assert isinstance(reference, tifffile.TiffPage)
        last_end = max(
            o + c for o, c in zip(reference.dataoffsets, reference.databytecounts, strict=True)
        )
    assert last_end == size  # the pixel data is at the end: cutting a byte truncates a tile
    with open(path, "r+b") as stream:
        stream.truncate(size - 1)
    with pytest.raises(CorruptTiffError, match=r"truncated: IFD 0 tile \d+ ends at byte"):
        read_facts(path, pixel_limit=LIMIT)


def test_reduced_only_file_is_unsupported(tmp_path: Path) -> None:
    entries = [*factories.gray8_entries(16, 16), (254, factories.TIFF_LONG, [1])]
    path = tmp_path / "thumb.tif"
    path.write_bytes(factories.raw_classic_tiff([entries], data=bytes(256)))
    with pytest.raises(UnsupportedTiffError, match="no full-resolution image page"):
        read_facts(path, pixel_limit=LIMIT)


def test_big_endian_hand_built_file(tmp_path: Path) -> None:
    path = tmp_path / "mm.tif"
    path.write_bytes(
        factories.raw_classic_tiff(
            [factories.gray8_entries(16, 16)], data=bytes(256), byteorder="big"
        )
    )
    facts = read_facts(path, pixel_limit=LIMIT)
    page = facts.pages[0]
    assert (facts.byte_order, page.width, page.height, page.photometric) == (
        "big",
        16,
        16,
        "minisblack",
    )
    # no resolution tags at all
    assert (page.x_resolution, page.y_resolution, page.resolution_unit) == (None, None, None)


def test_unreadable_file_is_a_master_error(tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    with pytest.raises(MasterError, match=r"^folder: unreadable: Is a directory"):
        read_facts(folder, pixel_limit=LIMIT)
    missing = tmp_path / "gone.tif"
    with pytest.raises(MasterError, match=r"^gone\.tif: unreadable: No such file"):
        read_facts(missing, pixel_limit=LIMIT)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files regardless of permissions")
def test_permission_denied_is_unreadable(tmp_path: Path) -> None:
    path = factories.write_gray8(tmp_path / "locked.tif")
    path.chmod(0)
    try:
        with pytest.raises(MasterError, match=r"locked\.tif: unreadable: Permission denied"):
            read_facts(path, pixel_limit=LIMIT)
    finally:
        path.chmod(0o644)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.binary(max_size=600))
def test_arbitrary_bytes_never_escape_as_anything_but_archcolor_errors(
    tmp_path_factory: pytest.TempPathFactory, data: bytes
) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "f.tif"
    path.write_bytes(data)
    try:
        read_facts(path, pixel_limit=LIMIT)
    except ArchcolorError as error:
        assert "\n" not in str(error)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    flips=st.lists(
        st.tuples(st.integers(min_value=0, max_value=10_000), st.integers(0, 255)),
        min_size=1,
        max_size=6,
    ),
    bigtiff=st.booleans(),
)
def test_mutated_tiffs_give_facts_or_one_line_errors(
    tmp_path_factory: pytest.TempPathFactory, flips: list[tuple[int, int]], bigtiff: bool
) -> None:
    folder = tmp_path_factory.mktemp("mut")
    path = factories.write_multipage(
        folder / "m.tif", pages=2, width=20, height=10, bigtiff=bigtiff, thumbnail="subifd"
    )
    body = bytearray(path.read_bytes())
    header_and_ifds = min(len(body), 512)
    for position, value in flips:
        body[position % header_and_ifds] = value
    path.write_bytes(bytes(body))
    try:
        facts = read_facts(path, pixel_limit=LIMIT)
    except ArchcolorError as error:
        assert "\n" not in str(error)
    else:
        for page in facts.pages:
            assert page.width * page.height <= LIMIT
            assert 1 <= page.orientation <= 8


def test_bigtiff_header_with_wrong_offset_size_is_corrupt(tmp_path: Path) -> None:
    path = factories.write_bigtiff(tmp_path / "b.tif")
    body = bytearray(path.read_bytes())
    struct.pack_into("<H", body, 4, 4)
    path.write_bytes(bytes(body))
    with pytest.raises(CorruptTiffError, match="corrupt BigTIFF header"):
        read_facts(path, pixel_limit=LIMIT)


def test_planar_separate_rgb(tmp_path: Path) -> None:
    path = tmp_path / "planar.tif"
    pixels = np.zeros((3, 40, 50), np.uint16)
    tifffile.imwrite(
        path, pixels, photometric="rgb", planarconfig="separate", rowsperstrip=16, metadata=None
    )
    page = read_facts(path, pixel_limit=LIMIT).pages[0]
    assert (page.samples_per_pixel, page.bits_per_sample, page.planar) == (3, 16, "separate")
    assert (page.rows_per_strip, page.segments) == (16, 9)  # 3 strips per plane x 3 planes


@pytest.mark.parametrize(
    ("head", "words"),
    [
        (b"SQLite format 3\x00", "SQLite database"),
        (b"\x1f\x8b\x08\x00", "gzip data"),
        (b"\x00\x00\x00\x18ftypheic", "HEIF data"),
        (b"\xffO\xffQ\x00\x2f", "JPEG 2000 codestream"),
        (b"<?xml version=", "XML/HTML text"),
        (b"\x00\x01\x02\x03\xfe", "unknown data (starts with 00 01 02 03 fe)"),
        (b"MM\x00\x2c", "version 44"),
    ],
)
def test_what_non_tiffs_look_like(tmp_path: Path, head: bytes, words: str) -> None:
    path = tmp_path / "thing.tif"
    path.write_bytes(head)
    with pytest.raises(NotATiffError) as caught:
        read_facts(path, pixel_limit=LIMIT)
    assert str(caught.value).startswith("thing.tif: not a TIFF: ")
    assert words in str(caught.value)


# --- issue 14: page limit, single-valued tags, tile geometry, empty pages -----------------------


def test_more_image_pages_than_the_page_limit_are_refused(tmp_path: Path) -> None:
    from archive_colorizer.errors import PageLimitError

    path = factories.write_multipage(tmp_path / "six.tif", pages=6)
    assert len(read_facts(path, pixel_limit=10**9, page_limit=6).pages) == 6
    with pytest.raises(PageLimitError, match=r"six\.tif: more than 5 image pages \(page limit"):
        read_facts(path, pixel_limit=10**9, page_limit=5)


def test_a_single_valued_tag_with_two_values_is_corrupt(tmp_path: Path) -> None:
    entries = factories.gray8_entries(8, 8)
    entries = [(257, factories.TIFF_LONG, [8, 8]) if e[0] == 257 else e for e in entries]
    path = tmp_path / "two.tif"
    path.write_bytes(factories.raw_classic_tiff([entries], data=bytes(64)))
    with pytest.raises(CorruptTiffError, match=r"two\.tif: corrupt IFD: IFD 0 ImageLength has 2"):
        read_facts(path, pixel_limit=10**9)
