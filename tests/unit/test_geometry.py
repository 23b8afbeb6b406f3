"""Tile grids, working sizes and resampling taps: properties that every tiling relies on."""

from __future__ import annotations

import itertools

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_colorizer.imaging import geometry

sizes = st.integers(min_value=1, max_value=3000)


@settings(max_examples=200, deadline=None)
@given(
    width=sizes,
    height=sizes,
    halo=st.integers(0, 100),
    stride=st.sampled_from([1, 2, 4, 8, 16]),
    data=st.data(),
)
def test_tiles_cover_the_image_exactly_once(
    width: int, height: int, halo: int, stride: int, data: st.DataObject
) -> None:
    # smallest tile keeps the grid below ~4000 tiles so that the test stays fast
    smallest = max(1, int(np.ceil(np.sqrt(width * height / 4000))))
    tile = data.draw(st.integers(smallest, max(smallest, 700)))
    tiles = geometry.tile_grid(width, height, tile, halo=halo, stride=stride)
    # cover: the cores' column and row ranges partition each axis, and the grid is a product
    xs = sorted({(t.x0, t.x1) for t in tiles})
    ys = sorted({(t.y0, t.y1) for t in tiles})
    assert len(tiles) == len(xs) * len(ys)
    for ranges, extent in ((xs, width), (ys, height)):
        assert ranges[0][0] == 0
        assert ranges[-1][1] == extent
        for (_a0, a1), (b0, _b1) in itertools.pairwise(ranges):
            assert a1 == b0
        assert all(r0 < r1 for r0, r1 in ranges)
    assert sum((t.x1 - t.x0) * (t.y1 - t.y0) for t in tiles) == width * height
    size = geometry.round_up(tile, stride)
    margin = geometry.round_up(halo, stride)
    for t in tiles:
        # alignment: origins on the stride, full-size cores except at the far edges
        assert t.x0 % stride == 0 and t.y0 % stride == 0
        assert t.halo_x0 % stride == 0 and t.halo_y0 % stride == 0
        assert t.x1 - t.x0 == size or t.x1 == width
        assert t.y1 - t.y0 == size or t.y1 == height
        # halos stay inside the image and contain the core with the full margin where possible
        assert 0 <= t.halo_x0 <= t.x0 < t.x1 <= t.halo_x1 <= width
        assert 0 <= t.halo_y0 <= t.y0 < t.y1 <= t.halo_y1 <= height
        assert t.x0 - t.halo_x0 == min(margin, t.x0)
        assert t.halo_y1 - t.y1 == min(margin, height - t.y1)
        rows, columns = t.core_in_halo
        assert rows.stop - rows.start == t.y1 - t.y0
        assert columns.stop - columns.start == t.x1 - t.x0


def test_tile_grid_is_row_major_with_indices() -> None:
    tiles = geometry.tile_grid(5, 3, 2)
    assert [(t.row, t.column) for t in tiles] == [(r, c) for r in range(2) for c in range(3)]
    assert [(t.x0, t.y0) for t in tiles[:3]] == [(0, 0), (2, 0), (4, 0)]


def test_invalid_grids_are_refused() -> None:
    with pytest.raises(ValueError):
        geometry.tile_grid(0, 5, 4)
    with pytest.raises(ValueError):
        geometry.tile_grid(5, 5, 4, stride=0)
    with pytest.raises(ValueError):
        geometry.working_size(5, 5, -1)


@settings(max_examples=300, deadline=None)
@given(
    width=st.integers(1, 10**6),
    height=st.integers(1, 10**6),
    chroma=st.integers(0, 4096),
)
def test_working_size_keeps_aspect_and_never_upscales(width: int, height: int, chroma: int) -> None:
    w, h = geometry.working_size(width, height, chroma)
    assert 1 <= w <= width and 1 <= h <= height
    long_side = max(width, height)
    if chroma == 0 or long_side <= chroma:
        assert (w, h) == (width, height)
        return
    assert max(w, h) == chroma
    scale = chroma / long_side
    # rounding to the nearest pixel; exact halves may go either way (float error ~1e-15)
    assert abs(w - width * scale) <= 0.5 + 1e-9 or w == 1
    assert abs(h - height * scale) <= 0.5 + 1e-9 or h == 1


@pytest.mark.parametrize(
    ("size", "chroma", "expected"),
    [
        ((1, 1), 1024, (1, 1)),
        ((1, 7), 1024, (1, 7)),
        ((30000, 20000), 1024, (1024, 683)),
        ((20000, 30000), 1024, (683, 1024)),
        ((100000, 3), 1024, (1024, 1)),
        ((4000, 3000), 0, (4000, 3000)),
    ],
)
def test_working_size_examples(
    size: tuple[int, int], chroma: int, expected: tuple[int, int]
) -> None:
    assert geometry.working_size(*size, chroma) == expected


@settings(max_examples=150, deadline=None)
@given(full=st.integers(1, 5000), working=st.integers(1, 600), data=st.data())
def test_taps_are_tile_independent_and_in_range(
    full: int, working: int, data: st.DataObject
) -> None:
    start = data.draw(st.integers(0, full))
    stop = data.draw(st.integers(start, full))
    whole = geometry.linear_taps(full, working, 0, full)
    part = geometry.linear_taps(full, working, start, stop)
    np.testing.assert_array_equal(part.low, whole.low[start:stop])
    np.testing.assert_array_equal(part.high, whole.high[start:stop])
    np.testing.assert_array_equal(part.weight, whole.weight[start:stop])
    assert np.all((whole.low >= 0) & (whole.high <= working - 1) & (whole.low <= whole.high))
    assert np.all((whole.weight >= 0) & (whole.weight <= 1))


@pytest.mark.parametrize(("full", "working"), [(37, 5), (1000, 333), (64, 64), (9, 1), (7, 20)])
def test_taps_match_opencv_bilinear_resize(full: int, working: int) -> None:
    rng = np.random.default_rng(full * 1000 + working)
    row = rng.random(working).astype(np.float32)
    taps = geometry.linear_taps(full, working, 0, full)
    ours = (1 - taps.weight) * row[taps.low] + taps.weight * row[taps.high]
    reference = cv2.resize(row[None, :], (full, 1), interpolation=cv2.INTER_LINEAR)[0]
    # OpenCV interpolates with fixed-point weights (1/2048); ours are float
    np.testing.assert_allclose(ours, reference, atol=2e-3)


def test_bands_cover_height() -> None:
    assert list(geometry.bands(10, 4)) == [(0, 4), (4, 8), (8, 10)]
    assert list(geometry.bands(1, 512)) == [(0, 1)]
