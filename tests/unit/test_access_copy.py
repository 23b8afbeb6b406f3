"""Access copies: streamed JPEG (restart-marker bands), PNG, WebP; sizes and metadata; the
streaming row reducer they use."""

from __future__ import annotations

import io
from pathlib import Path

import imagecodecs
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from archive_colorizer.errors import OutputError
from archive_colorizer.imaging.access_copy import to_uint8, write_access_copy
from archive_colorizer.imaging.metadata import parse_xmp, srgb_icc_profile
from archive_colorizer.imaging.resample import area_reduce
from archive_colorizer.imaging.row_reducer import RowAreaReducer, reduced_size
from tests.unit.test_pyramid import _derivative


@given(
    st.integers(1, 60),
    st.integers(1, 60),
    st.data(),
)
@settings(max_examples=60, deadline=None)
def test_row_reducer_matches_the_whole_image_area_average_for_any_banding(
    width: int, height: int, data: st.DataObject
) -> None:
    out_w = data.draw(st.integers(1, width))
    out_h = data.draw(st.integers(1, height))
    band = data.draw(st.integers(1, height))
    rng = np.random.default_rng(width * 100 + height)
    image = rng.random((height, width, 2)) * 255
    reducer = RowAreaReducer(width, height, out_w, out_h, channels=2)
    rows = [reducer.add(image[y : y + band]) for y in range(0, height, band)]
    result = np.concatenate(rows)
    assert reducer.done and result.shape == (out_h, out_w, 2)
    for c in range(2):
        expected = area_reduce(image[..., c].astype(np.float32), out_w, out_h)
        assert np.allclose(result[..., c], expected, atol=1e-3)


@given(st.integers(1, 100000), st.integers(1, 100000), st.integers(1, 5000))
def test_reduced_size_fits_the_long_side_and_keeps_the_aspect(w: int, h: int, side: int) -> None:
    rw, rh = reduced_size(w, h, side)
    assert max(rw, rh) <= max(side, 1) or (rw, rh) == (w, h)
    assert max(rw, rh) == min(max(w, h), side)
    if max(w, h) > side:
        scale = side / max(w, h)
        for reduced, full in ((rw, w), (rh, h)):
            assert reduced == 1 or abs(reduced - full * scale) <= 0.5 + 1e-9


def test_streamed_jpeg_decodes_like_a_whole_image_encoding(tmp_path: Path) -> None:
    source = tmp_path / "d.tif"
    image = _derivative(source, 700, 600)  # three 256-row bands joined by restart markers
    copy = write_access_copy(source, tmp_path / "a.jpg", format="jpeg", quality=85)
    data = copy.path.read_bytes()
    assert data.count(b"\xff\xdd") == 1 and b"\xff\xd0" in data and b"\xff\xd1" in data
    with Image.open(copy.path) as decoded:
        assert decoded.format == "JPEG" and decoded.size == (700, 600)
        streamed = np.asarray(decoded.convert("RGB"))
        assert decoded.info["icc_profile"] == srgb_icc_profile()
        assert decoded.info["dpi"] == pytest.approx((600, 600))
        xmp = decoded.info["xmp"]
    whole = bytes(imagecodecs.jpeg8_encode(image, level=85, subsampling=(2, 2)))
    with Image.open(io.BytesIO(whole)) as reference:
        expected = np.asarray(reference.convert("RGB"))
    assert np.array_equal(streamed, expected)
    provenance = parse_xmp(xmp)
    assert provenance.model_name == "iizuka.fixture"
    assert b'dc:format="image/jpeg"' in xmp
    assert copy.sha256 and copy.bytes == len(data)


@pytest.mark.parametrize("fmt", ["jpeg", "png", "webp"])
@pytest.mark.parametrize("max_size", [100, 333, 5000])
def test_max_size_bounds_the_long_side(tmp_path: Path, fmt: str, max_size: int) -> None:
    source = tmp_path / "d.tif"
    _derivative(source, 420, 640)
    copy = write_access_copy(source, tmp_path / f"a.{fmt}", format=fmt, max_size=max_size)
    with Image.open(copy.path) as decoded:
        assert decoded.size == (copy.width, copy.height)
        assert max(decoded.size) == min(640, max_size)
        assert decoded.size == reduced_size(420, 640, max_size)
        assert decoded.info.get("icc_profile") == srgb_icc_profile()
        assert "xmp" in decoded.info


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_png_is_lossless_and_keeps_16_bit(tmp_path: Path, dtype: type) -> None:
    source = tmp_path / "d.tif"
    image = _derivative(source, 300, 520, dtype)
    copy = write_access_copy(source, tmp_path / "a.png", format="png")
    decoded = imagecodecs.png_decode(copy.path.read_bytes())
    assert decoded.dtype == dtype
    assert np.array_equal(decoded, image)
    with Image.open(copy.path) as png:
        assert png.info["dpi"] == pytest.approx((600, 600), abs=0.1)


def test_reduced_copy_is_the_area_average(tmp_path: Path) -> None:
    source = tmp_path / "d.tif"
    image = _derivative(source, 400, 300)
    copy = write_access_copy(source, tmp_path / "a.png", format="png", max_size=100)
    decoded = imagecodecs.png_decode(copy.path.read_bytes())
    expected = np.stack(
        [area_reduce(image[..., c].astype(np.float32), 100, 75) for c in range(3)], -1
    )
    assert np.abs(decoded - expected).max() <= 0.5 + 1e-3


def test_to_uint8_rounds_16_bit_samples() -> None:
    values = np.array([0, 128, 129, 257, 65535], dtype=np.uint16)
    assert to_uint8(values).tolist() == [0, 0, 1, 1, 255]


def test_a_failed_copy_leaves_nothing_behind(tmp_path: Path) -> None:
    source = tmp_path / "d.tif"
    _derivative(source, 40, 30)
    with pytest.raises(OutputError):
        write_access_copy(source, tmp_path / "missing-folder" / "a.jpg", format="jpeg")
    with pytest.raises(ValueError, match="format"):
        write_access_copy(source, tmp_path / "a.gif", format="gif")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.tif"]


def test_webp_above_its_memory_bound_is_refused_naming_max_size(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # libwebp encodes whole pictures (~13 bytes a pixel): copies above WEBP_MAX_PIXELS are
    # refused with the --max-size that fits, and that size works
    from archive_colorizer.imaging import access_copy

    monkeypatch.setattr(access_copy, "WEBP_MAX_PIXELS", 50_000)
    source = tmp_path / "d.tif"
    _derivative(source, 420, 640)
    with pytest.raises(OutputError, match=r"--max-size 276 or less") as caught:
        write_access_copy(source, tmp_path / "a.webp", format="webp")
    assert str(tmp_path / "a.webp") in str(caught.value) and "420x640" in str(caught.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d.tif"]
    copy = write_access_copy(source, tmp_path / "a.webp", format="webp", max_size=276)
    assert copy.width * copy.height <= 50_000
    assert reduced_size(420, 640, 277)[0] * reduced_size(420, 640, 277)[1] > 50_000
    # JPEG is encoded in bands: no such bound
    write_access_copy(source, tmp_path / "a.jpg", format="jpeg")
