"""The shared page rules: page kinds, tile geometry, sizes declared inside compressed segments."""

from __future__ import annotations

import imagecodecs
import numpy as np
import pytest

from archive_colorizer.imaging import page_rules


@pytest.mark.parametrize(
    ("new", "old", "photometric", "kind"),
    [
        (0, 1, 1, "image"),
        (2, 1, 2, "image"),  # a page of a multi-page file
        (1, 1, 1, "reduced"),
        (0, 2, 1, "reduced"),
        (4, 1, 1, "mask"),
        (0, 1, 4, "mask"),
        (5, 1, 4, "reduced"),
    ],
)
def test_page_kind(new: int, old: int, photometric: int, kind: str) -> None:
    assert page_rules.page_kind(new, old, photometric) == kind


def test_tiles_larger_than_the_page_needs_are_refused() -> None:
    check = page_rules.segment_geometry_problem
    assert check(64, 64, tile_width=None, tile_length=None, pixel_limit=10) is None
    assert check(64, 64, tile_width=256, tile_length=256, pixel_limit=10**9) is None
    assert check(5000, 70, tile_width=5008, tile_length=80, pixel_limit=10**9) is None
    problem = check(64, 64, tile_width=65536, tile_length=65536, pixel_limit=10**10)
    assert problem is not None and "larger than the page needs" in problem
    problem = check(10**5, 10**5, tile_width=65536, tile_length=65536, pixel_limit=2 * 10**9)
    assert problem is not None and "above the pixel limit" in problem


def _jpeg(width: int, height: int) -> bytes:
    return bytes(imagecodecs.jpeg8_encode(np.zeros((height, width), np.uint8)))


def test_declared_sizes_of_compressed_segments() -> None:
    assert page_rules.declared_segment_size(7, _jpeg(24, 16)) == (24, 16)
    webp = bytes(imagecodecs.webp_encode(np.zeros((16, 24, 3), np.uint8)))
    assert page_rules.declared_segment_size(50001, webp) == (24, 16)
    lossless = bytes(
        imagecodecs.webp_encode(np.zeros((16, 24, 3), np.uint8), level=-1, lossless=True)
    )
    assert page_rules.declared_segment_size(50001, lossless) == (24, 16)
    j2k = bytes(imagecodecs.jpeg2k_encode(np.zeros((16, 24), np.uint8), codecformat="J2K"))
    assert page_rules.declared_segment_size(34712, j2k) == (24, 16)
    jp2 = bytes(imagecodecs.jpeg2k_encode(np.zeros((16, 24), np.uint8), codecformat="JP2"))
    assert page_rules.declared_segment_size(34712, jp2) == (24, 16)
    assert page_rules.declared_segment_size(8, b"x" * 40) is None
    assert page_rules.declared_segment_size(7, b"garbage") is None


def test_a_segment_declaring_more_than_it_stands_for_is_a_bomb() -> None:
    data = bytearray(_jpeg(16, 16))
    assert page_rules.segment_header_problem(7, bytes(data), 16, 16) is None
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = (65000).to_bytes(2, "big") * 2
    problem = page_rules.segment_header_problem(7, bytes(data), 16, 16)
    assert problem is not None and "declares 65000x65000 pixels for a 16x16 segment" in problem


def test_no_pixel_data() -> None:
    assert page_rules.no_pixel_data_problem([0, 0], "strip") == (
        "has no pixel data (all 2 strip byte counts are 0)"
    )
    assert page_rules.no_pixel_data_problem([0, 5], "tile") is None
