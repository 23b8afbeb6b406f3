"""Streamed master reading: normalisation of every layout, orientation, bands, reduction."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_colorizer.errors import (
    CorruptTiffError,
    NotATiffError,
    PathNotFoundError,
    UnsupportedTiffError,
)
from archive_colorizer.imaging import color
from archive_colorizer.imaging.resample import area_reduce
from archive_colorizer.imaging.tiff_read import open_master
from tests import factories


def _whole(path: Path, rows: int = 7, page_index: int = 0, workers: int = 2) -> np.ndarray:
    with open_master(path, page_index, workers=workers) as master:
        parts = []
        expected_y = 0
        for y0, band in master.grey_bands(rows):
            assert y0 == expected_y
            assert band.shape[1] == master.width
            assert band.flags.c_contiguous
            assert band.shape[0] == min(rows, master.height - y0)
            parts.append(band)
            expected_y += band.shape[0]
        assert expected_y == master.height
        return np.concatenate(parts)


def _stored(path: Path, page: int = 0) -> np.ndarray:
    with tifffile.TiffFile(path) as tiff:
        return tiff.pages[page].asarray()


# what each Orientation value means, from the TIFF 6.0 text ("0th row represents ...")
DISPLAY = {
    1: lambda s: s,
    2: lambda s: s[:, ::-1],
    3: lambda s: s[::-1, ::-1],
    4: lambda s: s[::-1, :],
    5: lambda s: s.T,
    6: lambda s: np.rot90(s, -1),  # rotate 90 degrees clockwise to display
    7: lambda s: s[::-1, ::-1].T,
    8: lambda s: np.rot90(s, 1),  # rotate 90 degrees counter-clockwise to display
}


@pytest.mark.parametrize("orientation", range(1, 9))
@pytest.mark.parametrize("layout", [{"tile": (16, 16)}, {"rowsperstrip": 5}, {"rowsperstrip": 99}])
def test_orientation_gives_displayed_pixels(
    tmp_path: Path, orientation: int, layout: dict[str, object]
) -> None:
    stored = np.random.default_rng(orientation).integers(0, 256, (37, 53), dtype=np.uint8)
    path = tmp_path / "o.tif"
    tifffile.imwrite(
        path,
        stored,
        compression="adobe_deflate",
        resolution=(300.0, 150.0),
        resolutionunit="INCH",
        extratags=[(274, "H", 1, orientation, True)],
        **layout,  # type: ignore[arg-type]
    )
    expected = DISPLAY[orientation](stored)
    for rows, workers in ((1, 1), (16, 2), (64, 3)):
        np.testing.assert_array_equal(_whole(path, rows, workers=workers), expected)
    with open_master(path) as master:
        assert (master.height, master.width) == expected.shape
        assert master.orientation == orientation
        # resolutions follow the axes: 5-8 swap them with width and height
        swapped = orientation >= 5
        assert master.x_resolution == (150.0 if swapped else 300.0)
        assert master.y_resolution == (300.0 if swapped else 150.0)
        assert master.resolution_unit == "inch"


def test_spill_files_are_removed_and_placed_in_spill_dir(tmp_path: Path) -> None:
    path = factories.write_gray8(tmp_path / "m.tif", 40, 30, orientation=6)
    spill = tmp_path / "spill"
    spill.mkdir()
    with open_master(path, spill_dir=spill) as master:
        list(master.grey_bands(8))
        assert len(list(spill.iterdir())) == 1
        list(master.grey_bands(8))  # a second pass reuses the spill
        list(master.grey_bands(5))  # another band height spills again
    assert list(spill.iterdir()) == []


@pytest.mark.parametrize("compression", ["none", "lzw", "deflate", "zstd", "packbits"])
@pytest.mark.parametrize("tiled", [False, True])
def test_gray8_is_read_unchanged(tmp_path: Path, compression: str, tiled: bool) -> None:
    path = factories.write_gray8(
        tmp_path / "g.tif", 67, 45, compression=compression, tiled=tiled, rows_per_strip=4
    )
    np.testing.assert_array_equal(_whole(path), _stored(path))
    with open_master(path) as master:
        assert master.bits == 8
        assert (master.x_resolution, master.y_resolution) == (600.0, 600.0)


def test_gray16_keeps_16_bit_precision(tmp_path: Path) -> None:
    path = factories.write_gray16(tmp_path / "g16.tif", 33, 21, tiled=True, compression="zstd")
    grey = _whole(path)
    assert grey.dtype == np.uint16
    np.testing.assert_array_equal(grey, _stored(path))
    with open_master(path) as master:
        assert master.bits == 16


def test_miniswhite_16bit_is_inverted(tmp_path: Path) -> None:
    stored = np.random.default_rng(3).integers(0, 65536, (19, 23), dtype=np.uint16)
    path = tmp_path / "w16.tif"
    tifffile.imwrite(path, stored, photometric="miniswhite", tile=(16, 16))
    np.testing.assert_array_equal(_whole(path), 65535 - stored)


@pytest.mark.parametrize("miniswhite", [True, False])
@pytest.mark.parametrize("compression", ["none", "ccitt_g4"])
def test_bilevel_becomes_0_or_255_with_ink_black(
    tmp_path: Path, miniswhite: bool, compression: str
) -> None:
    path = factories.write_bilevel(
        tmp_path / "b.tif", 45, 29, miniswhite=miniswhite, compression=compression
    )
    grey = _whole(path, rows=8)
    assert grey.dtype == np.uint8
    assert set(np.unique(grey)) <= {0, 255}
    stored = _stored(path).astype(bool)
    # tifffile returns the stored bit; MinIsWhite stores 1 for black ink
    expected = np.where(stored, 0, 255) if miniswhite else np.where(stored, 255, 0)
    np.testing.assert_array_equal(grey, expected)


def test_bilevel_tiled(tmp_path: Path) -> None:
    bits = np.random.default_rng(4).integers(0, 2, (35, 41)).astype(bool)
    path = tmp_path / "bt.tif"
    tifffile.imwrite(path, bits, photometric="miniswhite", tile=(16, 16))
    np.testing.assert_array_equal(_whole(path), np.where(bits, 0, 255))


def test_low_bit_depths_are_scaled(tmp_path: Path) -> None:
    values = np.random.default_rng(5).integers(0, 16, (19, 23), dtype=np.uint8)
    path = tmp_path / "g4.tif"
    tifffile.imwrite(path, values, bitspersample=4, photometric="minisblack")
    np.testing.assert_array_equal(_whole(path), values * 17)


@pytest.mark.parametrize("layout", ["rgb8", "rgb16"])
@pytest.mark.parametrize("planar", ["contig", "separate"])
def test_rgb_is_reduced_to_luminance(tmp_path: Path, layout: str, planar: str) -> None:
    bits = 8 if layout == "rgb8" else 16
    dtype = np.uint8 if bits == 8 else np.uint16
    rgb = np.random.default_rng(6).integers(0, color.code_max(bits) + 1, (21, 34, 3)).astype(dtype)
    path = tmp_path / "rgb.tif"
    data = rgb if planar == "contig" else np.ascontiguousarray(rgb.transpose(2, 0, 1))
    tifffile.imwrite(path, data, photometric="rgb", planarconfig=planar, tile=(16, 16))
    grey = _whole(path)
    assert grey.dtype == dtype
    np.testing.assert_array_equal(grey, color.rgb_codes_to_grey(rgb, bits))
    # the grey has the colour's L*
    lightness, _a, _b = color.srgb_codes_to_lab(rgb, bits)
    np.testing.assert_allclose(color.grey_to_lightness(grey, bits), lightness, atol=0.3)


def test_rgb_with_alpha_ignores_alpha(tmp_path: Path) -> None:
    rgba = np.random.default_rng(7).integers(0, 256, (12, 13, 4), dtype=np.uint8)
    path = tmp_path / "rgba.tif"
    tifffile.imwrite(path, rgba, photometric="rgb", extrasamples=[2], rowsperstrip=3)
    np.testing.assert_array_equal(_whole(path), color.rgb_codes_to_grey(rgba[..., :3], 8))


def test_palette_uses_the_colormap(tmp_path: Path) -> None:
    path = factories.write_palette(tmp_path / "p.tif", 30, 20)
    with tifffile.TiffFile(path) as tiff:
        index = tiff.pages[0].asarray()
        colormap = tiff.pages[0].colormap
    rgb = np.rint(colormap.T[index] / 257).astype(np.uint8)
    np.testing.assert_array_equal(_whole(path), color.rgb_codes_to_grey(rgb, 8))


def test_big_endian_multipage_and_thumbnail(tmp_path: Path) -> None:
    path = factories.write_big_endian(tmp_path / "be.tif", "gray16")
    np.testing.assert_array_equal(_whole(path), _stored(path))
    multi = factories.write_multipage(tmp_path / "mp.tif", pages=3, thumbnail="page")
    with tifffile.TiffFile(multi) as tiff:
        full_pages = [p for p in tiff.pages if not p.subfiletype & 1]
        second = full_pages[1].asarray()
    np.testing.assert_array_equal(_whole(multi, page_index=1), second)
    with pytest.raises(UnsupportedTiffError, match="page 3 does not exist"):
        _whole(multi, page_index=3)


@settings(max_examples=25, deadline=None)
@given(
    width=st.integers(1, 90),
    height=st.integers(1, 90),
    rows=st.integers(1, 40),
    data=st.data(),
)
def test_streamed_reduction_equals_in_memory_area_average(
    tmp_path_factory: pytest.TempPathFactory,
    width: int,
    height: int,
    rows: int,
    data: st.DataObject,
) -> None:
    out_w = data.draw(st.integers(1, width))
    out_h = data.draw(st.integers(1, height))
    grey = np.random.default_rng(width * 1000 + height).integers(0, 256, (height, width), np.uint8)
    path = tmp_path_factory.mktemp("r") / "r.tif"
    tifffile.imwrite(path, grey, rowsperstrip=3)
    with open_master(path) as master:
        reduced = master.reduce_lightness(out_w, out_h, rows=rows)
    expected = area_reduce(color.grey_to_lightness(grey, 8), out_w, out_h)
    np.testing.assert_allclose(reduced, expected, atol=1e-3)


def test_reduction_to_full_size_is_the_lightness(tmp_path: Path) -> None:
    path = factories.write_gray8(tmp_path / "f.tif", 20, 10)
    timings: dict[str, float] = {}
    with open_master(path) as master:
        full = master.reduce_lightness(20, 10, timings=timings)
    np.testing.assert_array_equal(full, color.grey_to_lightness(_stored(path), 8))
    assert set(timings) == {"read", "reduce"}


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(PathNotFoundError, match=r"nothing\.tif"):
        _whole(tmp_path / "nothing.tif")
    with pytest.raises(NotATiffError, match=r"png\.tif"):
        _whole(factories.write_png_named_tif(tmp_path / "png.tif"))
    truncated = factories.write_truncated(tmp_path / "cut.tif", at="data")
    with pytest.raises((CorruptTiffError, UnsupportedTiffError), match=r"cut\.tif"):
        _whole(truncated)


def test_unsupported_layouts_are_refused_with_a_reason(tmp_path: Path) -> None:
    path = tmp_path / "float.tif"
    tifffile.imwrite(path, np.zeros((4, 4), np.float32))
    with pytest.raises(UnsupportedTiffError, match="SampleFormat"):
        _whole(path)
    cmyk = tmp_path / "cmyk.tif"
    tifffile.imwrite(cmyk, np.zeros((4, 4, 4), np.uint8), photometric="separated")
    with pytest.raises(UnsupportedTiffError, match="separated"):
        _whole(cmyk)


def test_master_is_opened_read_only(tmp_path: Path) -> None:
    path = factories.write_gray8(tmp_path / "ro.tif", 16, 16)
    path.chmod(0o444)
    before = path.read_bytes()
    _whole(path)
    assert path.read_bytes() == before


@pytest.mark.parametrize("rows_per_strip", [7, None])
@pytest.mark.parametrize("case", ["gray8", "gray16_big_endian", "bilevel", "rgb", "rgb_separate"])
def test_uncompressed_strips_are_read_as_byte_ranges(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, case: str, rows_per_strip: int | None
) -> None:
    from archive_colorizer.imaging import tiff_read

    monkeypatch.setattr(tiff_read, "_RAW_BYTES", 50)  # a few rows per read, across strips
    rng = np.random.default_rng(8)
    path = tmp_path / f"{case}.tif"
    options: dict[str, object] = {"rowsperstrip": rows_per_strip or 41}
    if case == "gray8":
        data = rng.integers(0, 256, (41, 29), dtype=np.uint8)
        expected = data
    elif case == "gray16_big_endian":
        data = rng.integers(0, 65536, (41, 29), dtype=np.uint16)
        options["byteorder"] = ">"
        expected = data
    elif case == "bilevel":
        data = rng.integers(0, 2, (41, 29)).astype(bool)  # 29 px: rows end mid-byte
        options["photometric"] = "miniswhite"
        expected = np.where(data, 0, 255)
    else:
        rgb = rng.integers(0, 256, (41, 29, 3), dtype=np.uint8)
        data = rgb if case == "rgb" else np.ascontiguousarray(rgb.transpose(2, 0, 1))
        options["photometric"] = "rgb"
        options["planarconfig"] = "contig" if case == "rgb" else "separate"
        expected = color.rgb_codes_to_grey(rgb, 8)
    tifffile.imwrite(path, data, **options)  # type: ignore[arg-type]
    with open_master(path) as master:
        assert master._layout.raw
    for rows, workers in ((1, 1), (5, 2), (64, 3)):
        np.testing.assert_array_equal(_whole(path, rows, workers=workers), expected)


def test_short_uncompressed_strip_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "short.tif"
    tifffile.imwrite(path, np.zeros((40, 40), np.uint8))
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tiff:
        offset = tiff.pages[0].dataoffsets[0]
    path.write_bytes(bytes(data[: offset + 500]))
    with pytest.raises(CorruptTiffError, match="truncated"):
        _whole(path)


# --- issue 14: the page recorded at ingest, opened alone -----------------------------------------


def _open(path: Path, page_index: int, **options: object) -> None:
    with open_master(path, page_index, **options):  # type: ignore[arg-type]
        pass


def _pages_file(path: Path, pages: int) -> list[int]:
    """A file of ``pages`` distinct 8x8 grey pages; returns their IFD offsets (from ingest's
    facts reader)."""
    from archive_colorizer.imaging.tiff_facts import read_facts

    with tifffile.TiffWriter(path) as tiff:
        for number in range(pages):
            tiff.write(np.full((8, 8), number, np.uint8), photometric="minisblack")
    return [page.ifd_offset for page in read_facts(path, pixel_limit=10**6).pages]


def test_opening_page_k_by_its_offset_reads_no_other_ifd(tmp_path: Path) -> None:
    path = tmp_path / "pages.tif"
    offsets = _pages_file(path, 40)
    data = bytearray(path.read_bytes())
    for offset in offsets[1:30]:  # destroy every IFD between page 0 and page 30
        data[offset : offset + 2] = b"\xff\xff"
    path.write_bytes(bytes(data))
    with open_master(path, 30, ifd_offset=offsets[30], workers=1) as master:
        assert master.page_index == 30
        assert int(np.concatenate([band for _, band in master.grey_bands(8)]).mean()) == 30
    # walking the chain (a row without a recorded offset) has to read the destroyed IFDs
    with (
        pytest.raises(CorruptTiffError, match=r"pages\.tif: the TIFF page directory is corrupt"),
        open_master(path, 30, workers=1),
    ):
        pass


def test_a_row_without_offset_finds_the_page_by_the_shared_definition(tmp_path: Path) -> None:
    path = tmp_path / "masked.tif"
    mask = np.ones((8, 8), bool)
    with tifffile.TiffWriter(path) as tiff:
        tiff.write(np.full((8, 8), 10, np.uint8), photometric="minisblack")
        tiff.write(mask, photometric="minisblack", subfiletype=4)
        tiff.write(np.full((8, 8), 20, np.uint8), photometric="minisblack")
        tiff.write(mask, photometric="minisblack", subfiletype=4)
    from archive_colorizer.imaging.tiff_facts import read_facts

    facts = read_facts(path, pixel_limit=10**6)
    assert [page.ifd_index for page in facts.pages] == [0, 2]
    for index, value in ((0, 10), (1, 20)):
        for offset in (None, facts.pages[index].ifd_offset):
            with open_master(path, index, ifd_offset=offset, workers=1) as master:
                assert int(next(master.grey_bands(8))[1].mean()) == value
    with (
        pytest.raises(UnsupportedTiffError, match=r"has 2 image page\(s\); page 2 does not"),
        open_master(path, 2, workers=1),
    ):
        pass


def test_an_offset_that_is_not_an_image_page_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "masked.tif"
    with tifffile.TiffWriter(path) as tiff:
        tiff.write(np.full((8, 8), 10, np.uint8), photometric="minisblack")
        tiff.write(np.ones((8, 8), bool), photometric="minisblack", subfiletype=4)
    with tifffile.TiffFile(path) as tiff:
        mask_offset = tiff.pages[1].offset
    with (
        pytest.raises(CorruptTiffError, match=r"masked\.tif: page 1: the IFD recorded at"),
        open_master(path, 1, ifd_offset=mask_offset, workers=1),
    ):
        pass
    with (
        pytest.raises(CorruptTiffError, match=r"masked\.tif: the TIFF page directory is corrupt"),
        open_master(path, 1, ifd_offset=path.stat().st_size + 10, workers=1),
    ):
        pass
