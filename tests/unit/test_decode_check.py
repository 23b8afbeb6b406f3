"""Decode checks run in a child process under a time and an address-space limit."""

from __future__ import annotations

import zlib
from pathlib import Path

import pytest
import tifffile

from archive_colorizer.errors import CorruptTiffError, MasterError, NotATiffError
from archive_colorizer.imaging.decode_check import decode_check
from tests import factories

GIB = 1024**3


@pytest.mark.parametrize(
    "write",
    [
        lambda p: factories.write_tiff(p, "rgb8", compression="jpeg", tiled=True),
        lambda p: factories.write_bilevel(p, compression="ccitt_g4"),
        lambda p: factories.write_tiff(
            p, "gray16", compression="zstd", bigtiff=True, byteorder="big", pages=2
        ),
    ],
    ids=["rgb-jpeg-tiled", "bilevel-g4", "bigtiff-be-zstd"],
)
def test_good_pages_decode(tmp_path: Path, write: object) -> None:
    path = write(tmp_path / "good.tif")  # type: ignore[operator]
    decode_check(path, page_index=0, timeout_s=60, memory_limit_bytes=2 * GIB)


def test_second_page_after_a_thumbnail_decodes(tmp_path: Path) -> None:
    path = factories.write_multipage(tmp_path / "m.tif", pages=2, thumbnail="page")
    decode_check(path, page_index=1, timeout_s=60, memory_limit_bytes=2 * GIB)


def test_corrupt_compressed_data_is_reported(tmp_path: Path) -> None:
    path = factories.write_gray8(tmp_path / "bad.tif", compression="deflate", width=64, height=64)
    with tifffile.TiffFile(path) as tif:
        page = tif.pages[0]
        assert isinstance(page, tifffile.TiffPage)
        offset, count = page.dataoffsets[0], page.databytecounts[0]
    body = bytearray(path.read_bytes())
    body[offset : offset + count] = bytes((i * 37) % 256 for i in range(count))
    path.write_bytes(bytes(body))
    with pytest.raises(CorruptTiffError, match=r"^bad\.tif: page 0: pixel data does not decode"):
        decode_check(path, page_index=0, timeout_s=60, memory_limit_bytes=2 * GIB)


def _deflate_bomb(path: Path, width: int, height: int) -> Path:
    """One deflate strip of ``width*height`` zero bytes: a few hundred KiB on disk."""
    compressor = zlib.compressobj(9)
    chunk = bytes(16 * 1024 * 1024)
    parts = [compressor.compress(chunk) for _ in range(width * height // len(chunk))]
    parts.append(compressor.compress(bytes(width * height % len(chunk))))
    parts.append(compressor.flush())
    data = b"".join(parts)
    entries = factories.gray8_entries(width, height, strip_bytes=len(data))
    entries = [(259, factories.TIFF_SHORT, [8]) if e[0] == 259 else e for e in entries]
    path.write_bytes(factories.raw_classic_tiff([entries], data=data))
    return path


def test_decoding_beyond_the_memory_limit_is_stopped(tmp_path: Path) -> None:
    path = _deflate_bomb(tmp_path / "bomb.tif", 16_384, 16_384)  # 256 MiB decoded
    assert path.stat().st_size < 1_000_000
    with pytest.raises(MasterError, match=r"bomb\.tif: page 0: decoding needed more than 200 MiB"):
        decode_check(path, page_index=0, timeout_s=60, memory_limit_bytes=200 * 1024**2)


def test_decoding_past_the_time_limit_is_stopped(tmp_path: Path) -> None:
    path = factories.write_gray8(tmp_path / "slow.tif")
    # no interpreter starts and decodes within a millisecond: the limit must trip
    with pytest.raises(MasterError, match=r"slow\.tif: page 0: decoding did not finish within"):
        decode_check(path, page_index=0, timeout_s=0.001, memory_limit_bytes=2 * GIB)


def test_missing_page_and_non_tiff_are_reported_before_spawning(tmp_path: Path) -> None:
    path = factories.write_gray8(tmp_path / "one.tif")
    with pytest.raises(MasterError, match=r"one\.tif: no image page 3 \(the file has 1\)"):
        decode_check(path, page_index=3, timeout_s=60, memory_limit_bytes=2 * GIB)
    with pytest.raises(NotATiffError, match="PNG data"):
        decode_check(
            factories.write_png_named_tif(tmp_path / "p.tif"),
            page_index=0,
            timeout_s=60,
            memory_limit_bytes=2 * GIB,
        )
