"""Synthetic gravure pages: layouts, determinism, seamless tiles, streaming writes, demo command."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tifffile

from archive_colorizer.cli.app import run
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.synthetic import (
    SAMPLE_LAYOUTS,
    Scene,
    dimensions_for_bytes,
    make_sample_volume,
    render_ink,
    render_page,
    write_large_master,
    write_synthetic_page,
)
from archive_colorizer.imaging.tiff_facts import read_facts

LIMIT = 2_000_000_000


def test_sample_volume_mixes_layouts_and_is_deterministic(tmp_path: Path) -> None:
    first = make_sample_volume(tmp_path / "a", pages=6, seed=3)
    again = make_sample_volume(tmp_path / "b", pages=2, seed=3)  # same first pages
    other = make_sample_volume(tmp_path / "c", pages=1, seed=4)
    assert [p.relative_to(tmp_path / "a").as_posix() for p in first] == [
        f"volume-01/page-{n:04d}.tif" for n in range(1, 7)
    ]
    assert [sha256_file(p) for p in first[:2]] == [sha256_file(p) for p in again]
    assert sha256_file(other[0]) != sha256_file(first[0])
    seen = set()
    for path, (bits, photometric, tiled, compression) in zip(first, SAMPLE_LAYOUTS, strict=True):
        page = read_facts(path, pixel_limit=LIMIT).pages[0]
        assert 1000 <= page.width <= 2000 and 1000 <= page.height <= 2000
        assert (page.bits_per_sample, page.tiled, page.compression) == (bits, tiled, compression)
        assert page.photometric == photometric
        assert (page.x_resolution, page.resolution_unit) == (600.0, "inch")
        seen.add((bits, photometric))
    assert {(1, "miniswhite"), (1, "minisblack"), (8, "minisblack"), (16, "minisblack")} <= seen


def test_pages_look_like_engravings(tmp_path: Path) -> None:
    gray = render_page(600, 800, bits=8, seed=1).astype(np.float32) / 255
    margin = gray[:20, :]  # paper outside the plate
    plate = gray[200:600, 100:500]
    assert margin.mean() > 0.85 and margin.std() < 0.05  # bare toned paper
    assert plate.std() > 0.2  # high-contrast line work inside
    assert 0.2 < plate.mean() < 0.8
    # darker towards the bottom (ground) than the top (sky)
    assert gray[150:250, 100:500].mean() > gray[650:720, 100:500].mean()


def test_miniswhite_stores_ink_as_ones(tmp_path: Path) -> None:
    white = render_page(200, 300, bits=1, photometric="miniswhite", seed=2)
    black = render_page(200, 300, bits=1, photometric="minisblack", seed=2)
    assert white.dtype == np.bool_
    assert np.array_equal(white, ~black)
    assert white[:5, :].sum() == 0  # the margin has no ink


@pytest.mark.parametrize(
    ("bits", "photometric", "tiled", "compression", "byteorder"),
    [
        (16, "miniswhite", True, "lzw", "big"),
        (8, "rgb", True, "jpeg", "little"),
        (1, "minisblack", False, "ccitt_g4", "little"),
        (8, "minisblack", False, "packbits", "big"),
    ],
)
def test_written_pages_round_trip(
    tmp_path: Path, bits: int, photometric: str, tiled: bool, compression: str, byteorder: str
) -> None:
    path = write_synthetic_page(
        tmp_path / "p.tif",
        width=320,
        height=400,
        bits=bits,
        photometric=photometric,
        tiled=tiled,
        compression=compression,
        byteorder=byteorder,
        seed=5,
    )
    page = read_facts(path, pixel_limit=LIMIT).pages[0]
    assert (page.width, page.height, page.bits_per_sample, page.compression) == (
        320,
        400,
        bits,
        compression,
    )
    expected = render_page(320, 400, bits=bits, photometric=photometric, seed=5)
    stored = tifffile.imread(path)
    assert stored.shape == expected.shape
    if compression == "jpeg":
        assert np.abs(stored.astype(int) - expected.astype(int)).mean() < 12
    else:
        assert np.array_equal(stored, expected)


def test_invalid_options_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="bits"):
        write_synthetic_page(tmp_path / "x.tif", bits=12)
    with pytest.raises(ValueError, match="ccitt_g4"):
        write_synthetic_page(tmp_path / "x.tif", bits=8, compression="ccitt_g4")
    with pytest.raises(ValueError, match="RGB"):
        write_synthetic_page(tmp_path / "x.tif", bits=1, photometric="rgb")


def test_windows_tile_seamlessly() -> None:
    scene = Scene.from_seed(9)
    whole = render_ink(scene, 0, 0, 256, 384, 512, 384)
    top = render_ink(scene, 0, 0, 128, 384, 512, 384)
    bottom_left = render_ink(scene, 128, 0, 128, 200, 512, 384)
    bottom_right = render_ink(scene, 128, 200, 128, 184, 512, 384)
    stitched = np.vstack([top, np.hstack([bottom_left, bottom_right])])
    np.testing.assert_allclose(stitched, whole, atol=1e-5)


def test_dimensions_for_bytes() -> None:
    width, height = dimensions_for_bytes(100_000_000)
    assert width % 16 == 0 and height % 16 == 0
    assert 0.97 < width * height / 100_000_000 <= 1.0
    width16, height16 = dimensions_for_bytes(100_000_000, bits=16)
    assert 0.97 < width16 * height16 * 2 / 100_000_000 <= 1.0


def test_large_master_is_streamed_with_flat_memory(tmp_path: Path) -> None:
    width, height = 1024, 24_576  # 24 MiB of pixels
    tracemalloc.start()
    try:
        path = write_large_master(tmp_path / "big.tif", width=width, height=height, tile=(256, 256))
        _current, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < width * height / 3, f"peak {peak} bytes for a {width * height}-byte image"
    facts = read_facts(path, pixel_limit=LIMIT)
    page = facts.pages[0]
    assert (page.width, page.height, page.tiled, page.tile_width) == (width, height, True, 256)
    assert facts.flavour == "classic"
    assert path.stat().st_size >= width * height
    with tifffile.TiffFile(path) as tif:
        sample = tif.pages[0].asarray()[::64, ::64]
    assert sample.std() > 10  # real content, not a blank


def test_large_master_16_bit_scaled(tmp_path: Path) -> None:
    path = write_large_master(
        tmp_path / "b16.tif", width=1000, height=700, bits=16, scale=4, tile=(128, 128)
    )
    page = read_facts(path, pixel_limit=LIMIT).pages[0]
    assert (page.width, page.height, page.bits_per_sample) == (1000, 700, 16)
    with pytest.raises(ValueError, match="scale"):
        write_large_master(tmp_path / "x.tif", width=100, height=100, scale=3)


def test_demo_volume_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["demo-volume", str(tmp_path / "demo"), "--pages", "2", "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    assert payload["volume"] == str(tmp_path / "demo" / "volume-01")
    assert [Path(p).name for p in payload["pages"]] == ["page-0001.tif", "page-0002.tif"]
    assert all(Path(p).is_file() for p in payload["pages"])
    assert run(["demo-volume", str(tmp_path / "plain"), "--pages", "1", "--seed", "7"]) == 0
    assert capsys.readouterr().out.strip().endswith("volume-01/page-0001.tif")


def test_demo_volume_reports_unwritable_destination(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    assert run(["demo-volume", str(blocker / "sub"), "--pages", "1"]) == 1
    assert "cannot write the demo volume" in capsys.readouterr().err
