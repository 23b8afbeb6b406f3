"""Hint rasterisation: exact coordinate mapping, coverage, order, scale invariance."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive_colorizer.imaging.geometry import working_size
from archive_colorizer.imaging.hints import Hint, rasterise_hints, working_position
from archive_colorizer.services.hints import parse_hints, raster_hints

RED = (50.0, 60.0, 40.0)
BLUE = (50.0, 10.0, -50.0)


@st.composite
def page_and_point(draw: st.DrawFn) -> tuple[int, int, int, int, float, float]:
    page_w = draw(st.integers(1, 20_000))
    page_h = draw(st.integers(1, 20_000))
    work_w, work_h = working_size(page_w, page_h, draw(st.sampled_from([64, 512, 1024])))
    x = draw(st.floats(0, page_w - 1, allow_nan=False))
    y = draw(st.floats(0, page_h - 1, allow_nan=False))
    return page_w, page_h, work_w, work_h, x, y


@given(page_and_point())
def test_a_point_lands_on_one_working_pixel_within_half_a_pixel(
    case: tuple[int, int, int, int, float, float],
) -> None:
    page_w, page_h, work_w, work_h, x, y = case
    maps = rasterise_hints([Hint(((x, y),), 0.0, RED)], (page_w, page_h), (work_w, work_h))
    rows, columns = np.nonzero(maps.mask)
    assert len(rows) == 1  # inside the working image, one pixel
    u = working_position(x, page_w, work_w)
    v = working_position(y, page_h, work_h)
    # the pixel's centre is within half a working pixel of the exact position, on each axis
    assert abs(columns[0] + 0.5 - u) <= 0.5 + 1e-9
    assert abs(rows[0] + 0.5 - v) <= 0.5 + 1e-9
    assert (maps.a[rows[0], columns[0]], maps.b[rows[0], columns[0]]) == (60.0, 40.0)
    assert maps.a.sum() == 60.0 and maps.b.sum() == 40.0


@given(
    st.integers(8, 3000),
    st.integers(8, 3000),
    st.sampled_from([2, 4, 8]),
    st.floats(0, 1, allow_nan=False),
    st.floats(0, 1, allow_nan=False),
    st.floats(0, 40, allow_nan=False),
    st.booleans(),
)
def test_scale_invariance(
    page_w: int, page_h: int, k: int, fx: float, fy: float, radius: float, stroke: bool
) -> None:
    """The same hint on the page enlarged k times (the centre of the matching k x k block, the
    radius times k) gives the same maps at the same working size."""
    work = working_size(page_w, page_h, 64)
    x, y = fx * (page_w - 1), fy * (page_h - 1)
    points = [(x, y), ((x + page_w / 2) % (page_w - 1), y)] if stroke else [(x, y)]
    small = Hint(tuple(points), radius, BLUE)
    large = Hint(
        tuple((k * px + (k - 1) / 2, k * py + (k - 1) / 2) for px, py in points), k * radius, BLUE
    )
    one = rasterise_hints([small], (page_w, page_h), work)
    other = rasterise_hints([large], (k * page_w, k * page_h), work)
    assert np.array_equal(one.mask, other.mask)
    assert np.array_equal(one.a, other.a) and np.array_equal(one.b, other.b)


def test_discs_strokes_and_order() -> None:
    # page 100 x 100 → working 50 x 50: scale 1/2
    disc = Hint(((49.5, 49.5),), 10.0, RED)  # centre (25, 25) working, radius 5
    maps = rasterise_hints([disc], (100, 100), (50, 50))
    rows, columns = np.nonzero(maps.mask)
    distance = np.hypot(columns + 0.5 - 25, rows + 0.5 - 25)
    assert distance.max() <= 5.0 and maps.count == int((distance <= 5).sum())
    assert 70 <= maps.count <= 90  # about pi * 5^2

    # a thin stroke covers every working pixel it passes through, and nothing far from it
    line = Hint(((0.0, 10.0), (99.0, 10.0)), 0.0, BLUE)
    maps = rasterise_hints([line], (100, 100), (50, 50))
    assert maps.mask[5].all() and maps.count == 50

    # later over earlier
    maps = rasterise_hints([disc, line], (100, 100), (50, 50))
    assert maps.a[5, 25] == 10.0 and maps.a[25, 25] == 60.0
    maps = rasterise_hints([line, disc], (100, 100), (50, 50))
    assert maps.a[5, 25] == 10.0  # the disc does not reach row 5
    stacked = maps.stacked()
    assert stacked.shape == (3, 50, 50) and stacked.dtype == np.float32
    assert np.all(stacked[0][stacked[2] == 0] == 0)


def test_catalogued_hints_rasterise_in_lab() -> None:
    parsed = parse_hints(
        {
            "format": "archcolor-hints/1",
            "volume": "v",
            "pages": [
                {
                    "file": "a.tif",
                    "hints": [
                        {"point": [5, 5], "color": "#FFFFFF"},
                        {"stroke": [[0, 0], [9, 9]], "radius": 1, "lab": [50, 20, -30]},
                    ],
                }
            ],
        }
    )
    white, line = raster_hints(parsed.pages[0].hints)
    assert white.lab[0] == pytest.approx(100.0, abs=0.01)
    assert white.lab[1:] == pytest.approx((0.0, 0.0), abs=0.01)
    assert line.points == ((0.0, 0.0), (9.0, 9.0)) and line.lab == (50.0, 20.0, -30.0)
    maps = rasterise_hints([white, line], (10, 10), (10, 10))
    assert maps.a[5, 5] == 20.0  # the stroke, later, paints over the white point
