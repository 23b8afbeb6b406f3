"""Pyramidal TIFF: level sizes, layout image servers read, pixels of every level, metadata."""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pytest
import tifffile
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_colorizer.imaging.metadata import build_xmp, parse_xmp, srgb_icc_profile
from archive_colorizer.imaging.pyramid import pyramid_levels, write_pyramid
from archive_colorizer.imaging.resample import area_reduce
from archive_colorizer.imaging.tiff_write import write_tiled_tiff


def _derivative(path: Path, width: int, height: int, dtype: type = np.uint8) -> np.ndarray:
    rng = np.random.default_rng(width * 31 + height)
    peak = np.iinfo(dtype).max
    yy, xx = np.mgrid[0:height, 0:width]
    base = np.stack([xx * peak // max(1, width), yy * peak // max(1, height), (xx + yy) % 97], -1)
    noise = rng.integers(0, peak // 8, size=(height, width, 3))
    image = np.clip(base + noise, 0, peak).astype(dtype)
    tiles = (
        image[y : y + 256, x : x + 256] for y in range(0, height, 256) for x in range(0, width, 256)
    )
    xmp = build_xmp(
        source_file_name="page.tif",
        source_sha256="a" * 64,
        model_name="iizuka.fixture",
        weights_sha256="b" * 64,
        archcolor_version="test",
        parameters={"chroma_size": 64},
        provenance={"job": 1},
    )
    write_tiled_tiff(
        path, width=width, height=height, dtype=dtype, tiles=tiles, tile=256,
        resolution=(600.0, 600.0), resolution_unit="inch", icc_profile=srgb_icc_profile(), xmp=xmp,
    )  # fmt: skip
    return image


@given(st.integers(1, 70000), st.integers(1, 70000), st.sampled_from([256, 512]))
@settings(max_examples=200, deadline=None)
def test_levels_halve_until_one_tile_holds_a_level(width: int, height: int, tile: int) -> None:
    levels = pyramid_levels(width, height, tile)
    assert levels[0] == (width, height)
    assert max(levels[-1]) <= tile
    assert all(max(level) > tile for level in levels[:-1])
    for (w0, h0), (w1, h1) in itertools.pairwise(levels):
        assert (w1, h1) == (-(-w0 // 2), -(-h0 // 2))


def test_deflate_pyramid_is_lossless_and_each_level_is_the_area_average_of_the_one_above(
    tmp_path: Path,
) -> None:
    source = tmp_path / "derivative.tif"
    image = _derivative(source, 700, 530)
    result = write_pyramid(source, tmp_path / "pyramid.tif", tile=256, compression="deflate")
    assert result.levels == ((700, 530), (350, 265), (175, 133))
    with tifffile.TiffFile(result.path) as tiff:
        pages = list(tiff.pages)
        assert len(pages) == 3  # the main IFD chain, no SubIFDs
        above = None
        for index, page in enumerate(pages):
            assert page.is_tiled and (page.tilewidth, page.tilelength) == (256, 256)
            assert int(page.subfiletype) == (0 if index == 0 else 1)
            assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
            pixels = page.asarray()
            assert pixels.shape == (*result.levels[index][::-1], 3)
            if above is None:
                assert np.array_equal(pixels, image)
            else:
                w, h = result.levels[index]
                expected = np.stack(
                    [area_reduce(above[..., c].astype(np.float32), w, h) for c in range(3)], -1
                )
                assert np.abs(pixels.astype(np.float32) - expected).max() <= 0.5 + 1e-3
            above = pixels
            assert page.tags.valueof(34675) == srgb_icc_profile()
        first = pages[0]
        assert first.tags.valueof(282) == (600, 1)
        assert pages[1].tags.valueof(282) == (300, 1)
        provenance = parse_xmp(first.tags.valueof(700))
        assert provenance.model_name == "iizuka.fixture"
        assert provenance.derived_from_sha256 == "a" * 64


def test_jpeg_pyramid_is_8_bit_ycbcr_and_close_to_the_derivative(tmp_path: Path) -> None:
    source = tmp_path / "derivative16.tif"
    image = _derivative(source, 600, 300, np.uint16)
    result = write_pyramid(source, tmp_path / "p.tif", tile=512, compression="jpeg", quality=95)
    assert result.levels == ((600, 300), (300, 150))
    with tifffile.TiffFile(result.path) as tiff:
        page = tiff.pages[0]
        assert page.compression == tifffile.COMPRESSION.JPEG
        assert page.photometric == tifffile.PHOTOMETRIC.YCBCR
        pixels = page.asarray()
    assert pixels.dtype == np.uint8 and pixels.shape == (300, 600, 3)
    expected = image / 257.0

    def blocks(a: np.ndarray) -> np.ndarray:  # 10 x 10 means: JPEG keeps them, drops the noise
        return a.astype(float).reshape(30, 10, 60, 10, 3).mean(axis=(1, 3))

    assert np.abs(blocks(pixels) - blocks(expected)).mean() < 2


def test_pyramid_is_readable_by_pillow_libtiff(tmp_path: Path) -> None:
    from PIL import Image

    source = tmp_path / "d.tif"
    _derivative(source, 520, 300)
    result = write_pyramid(source, tmp_path / "p.tif", tile=256, compression="jpeg")
    with Image.open(result.path) as image:
        sizes = []
        for frame in range(getattr(image, "n_frames", 1)):
            image.seek(frame)
            image.load()
            sizes.append(image.size)
    assert tuple(sizes) == result.levels


def test_bad_arguments_are_refused(tmp_path: Path) -> None:
    source = tmp_path / "d.tif"
    _derivative(source, 40, 30)
    with pytest.raises(ValueError, match="tile size"):
        write_pyramid(source, tmp_path / "p.tif", tile=300)
    with pytest.raises(ValueError, match="compression"):
        write_pyramid(source, tmp_path / "p.tif", compression="lzw")
    assert not (tmp_path / "p.tif").exists()
