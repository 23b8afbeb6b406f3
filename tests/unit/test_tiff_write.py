"""Streaming tiled writer: pixels, tags, compression, atomic replacement, no partial files."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from archive_colorizer.errors import OutputError
from archive_colorizer.imaging import metadata
from archive_colorizer.imaging.tiff_write import COMPRESSIONS, needs_bigtiff, write_tiled_tiff


def _tiles(image: np.ndarray, tile: int) -> Iterator[np.ndarray]:
    height, width = image.shape[:2]
    for y0 in range(0, height, tile):
        for x0 in range(0, width, tile):
            yield image[y0 : y0 + tile, x0 : x0 + tile]


def _write(target: Path, image: np.ndarray, compression: str, tile: int = 256, **tags: Any) -> Any:
    """``write_tiled_tiff`` of ``image`` in ``tile``-px tiles (its width, height and dtype)."""
    height, width = image.shape[:2]
    return write_tiled_tiff(
        target,
        width=width,
        height=height,
        dtype=image.dtype.type,
        tiles=_tiles(image, tile),
        tile=tile,
        compression=compression,
        **tags,
    )


def _image(width: int, height: int, dtype: type, seed: int = 0) -> np.ndarray:
    peak = np.iinfo(dtype).max
    return np.random.default_rng(seed).integers(0, peak + 1, (height, width, 3)).astype(dtype)


@pytest.mark.parametrize("compression", list(COMPRESSIONS))
@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_round_trip_pixels_and_tags(tmp_path: Path, compression: str, dtype: type) -> None:
    image = _image(300, 170, dtype)
    target = tmp_path / "out.tif"
    xmp = metadata.build_xmp(
        source_file_name="m.tif",
        source_sha256="0" * 64,
        model_name="fixture.test",
        weights_sha256="1" * 64,
        archcolor_version="9.9",
        parameters={"chroma_size": 1024},
        provenance={"k": "v"},
    )
    digest, size = _write(
        target,
        image,
        compression,
        resolution=(400.0, 300.0),
        resolution_unit="centimeter",
        icc_profile=metadata.srgb_icc_profile(),
        xmp=xmp,
        software="archcolor 9.9",
        datetime="2026:11:25 12:00:00",
    )
    assert size == target.stat().st_size
    assert digest == hashlib.sha256(target.read_bytes()).hexdigest()
    with tifffile.TiffFile(target) as tiff:
        page = tiff.pages[0]
        np.testing.assert_array_equal(page.asarray(), image)
        assert page.is_tiled and (page.tilewidth, page.tilelength) == (256, 256)
        assert page.photometric == tifffile.PHOTOMETRIC.RGB
        assert (
            page.compression
            == {
                "none": 1,
                "lzw": 5,
                "deflate": 8,
                "zstd": 50000,
            }[compression]
        )
        assert page.tags["XResolution"].value == (400, 1)
        assert page.tags["YResolution"].value == (300, 1)
        assert page.tags["ResolutionUnit"].value == 3
        assert page.tags["Software"].value == "archcolor 9.9"
        assert page.tags["DateTime"].value == "2026:11:25 12:00:00"
        assert page.tags["InterColorProfile"].value == metadata.srgb_icc_profile()
        assert bytes(page.tags[700].value) == xmp
        assert not tiff.is_bigtiff
    assert list(tmp_path.iterdir()) == [target]


def test_same_input_gives_identical_bytes(tmp_path: Path) -> None:
    image = _image(600, 530, np.uint8, seed=1)
    hashes = set()
    for name in ("a.tif", "b.tif"):
        digest, _ = write_tiled_tiff(
            tmp_path / name, width=600, height=530, dtype=np.uint8, tiles=_tiles(image, 512)
        )
        hashes.add(digest)
    assert len(hashes) == 1


def test_failure_leaves_no_file_and_keeps_the_old_target(tmp_path: Path) -> None:
    target = tmp_path / "out.tif"
    target.write_bytes(b"previous derivative")

    def broken() -> Iterator[np.ndarray]:
        yield np.zeros((256, 256, 3), np.uint8)
        raise RuntimeError("the network fell over")

    with pytest.raises(RuntimeError, match="fell over"):
        write_tiled_tiff(target, width=600, height=300, dtype=np.uint8, tiles=broken(), tile=256)
    assert target.read_bytes() == b"previous derivative"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.tif"]


def test_too_few_tiles_is_an_error_without_leftovers(tmp_path: Path) -> None:
    target = tmp_path / "short.tif"
    with pytest.raises(StopIteration):
        write_tiled_tiff(
            target,
            width=600,
            height=300,
            dtype=np.uint8,
            tiles=iter([np.zeros((256, 256, 3), np.uint8)]),
            tile=256,
        )
    assert list(tmp_path.iterdir()) == []


def test_missing_folder_is_an_output_error(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match="does not exist"):
        write_tiled_tiff(
            tmp_path / "no" / "out.tif",
            width=1,
            height=1,
            dtype=np.uint8,
            tiles=iter([np.zeros((1, 1, 3), np.uint8)]),
        )


def test_invalid_arguments_are_refused(tmp_path: Path) -> None:
    one = iter([np.zeros((1, 1, 3), np.uint8)])
    with pytest.raises(ValueError, match="compression"):
        write_tiled_tiff(
            tmp_path / "x.tif", width=1, height=1, dtype=np.uint8, tiles=one, compression="jpeg"
        )
    with pytest.raises(ValueError, match="tile size"):
        write_tiled_tiff(tmp_path / "x.tif", width=1, height=1, dtype=np.uint8, tiles=one, tile=100)
    with pytest.raises(ValueError, match="uint8 or uint16"):
        write_tiled_tiff(tmp_path / "x.tif", width=1, height=1, dtype=np.float32, tiles=one)


def test_bigtiff_threshold() -> None:
    assert not needs_bigtiff(30000, 20000, 3, 1)  # 600 MP 8-bit RGB: 1.8 GB
    assert not needs_bigtiff(30000, 20000, 3, 2)  # 3.6 GB: fits below 4 GiB with margin
    assert needs_bigtiff(30000, 23000, 3, 2)  # 4.1 GB
    assert needs_bigtiff(40000, 40000, 3, 1)


def test_no_resolution_and_no_datetime(tmp_path: Path) -> None:
    target = tmp_path / "plain.tif"
    write_tiled_tiff(
        target, width=3, height=2, dtype=np.uint8, tiles=iter([np.zeros((2, 3, 3), np.uint8)])
    )
    with tifffile.TiffFile(target) as tiff:
        tags = tiff.pages[0].tags
        assert "DateTime" not in tags
        assert "Software" not in tags
        assert 700 not in tags


def test_bigtiff_is_written_when_the_size_needs_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archive_colorizer.imaging import tiff_write

    # lower the 4 GB threshold so that a small image takes the BigTIFF path
    monkeypatch.setattr(tiff_write, "_CLASSIC_LIMIT", 1000)
    image = _image(40, 30, np.uint8, seed=2)
    target = tmp_path / "big.tif"
    write_tiled_tiff(
        target, width=40, height=30, dtype=np.uint8, tiles=_tiles(image, 256), tile=256
    )
    with tifffile.TiffFile(target) as tiff:
        assert tiff.is_bigtiff
        np.testing.assert_array_equal(tiff.pages[0].asarray(), image)


@pytest.mark.parametrize("compression", ["deflate", "lzw"])
def test_16_bit_tiles_take_the_horizontal_predictor_and_libtiff_reads_them(
    tmp_path: Path, compression: str
) -> None:
    import cv2

    # smooth rows (the predictor's case) plus grain, edge tiles included
    rng = np.random.default_rng(3)
    steps = rng.integers(0, 40, (700, 900, 3))
    image = (steps.cumsum(axis=1) % 65536).astype(np.uint16)
    target = tmp_path / "out16.tif"
    _write(target, image, compression, tile=512)
    with tifffile.TiffFile(target) as tiff:
        assert tiff.pages[0].predictor == 2
        np.testing.assert_array_equal(tiff.pages[0].asarray(), image)
    # an independent reader: OpenCV's bundled libtiff (BGR order)
    decoded = cv2.imread(str(target), cv2.IMREAD_UNCHANGED)
    np.testing.assert_array_equal(decoded[..., ::-1], image)


@pytest.mark.parametrize(
    ("dtype", "compression"),
    [(np.uint8, "deflate"), (np.uint8, "lzw"), (np.uint16, "zstd"), (np.uint16, "none")],
)
def test_8_bit_and_zstd_or_uncompressed_tiles_take_no_predictor(
    tmp_path: Path, dtype: type, compression: str
) -> None:
    image = _image(300, 170, dtype, seed=4)
    target = tmp_path / "out.tif"
    _write(target, image, compression)
    with tifffile.TiffFile(target) as tiff:
        assert tiff.pages[0].predictor == 1
        np.testing.assert_array_equal(tiff.pages[0].asarray(), image)
