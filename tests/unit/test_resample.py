"""Exact area reduction, streamed in arbitrary bands, and the screen low-pass."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_colorizer.imaging.resample import (
    StreamingAreaReducer,
    area_reduce,
    gaussian_lowpass,
)


def _overlap_matrix(full: int, reduced: int) -> np.ndarray:
    """Brute force: weight of input pixel x in output j = overlap length / output length."""
    matrix = np.zeros((reduced, full))
    for j in range(reduced):
        start, stop = j * full / reduced, (j + 1) * full / reduced
        for x in range(full):
            matrix[j, x] = max(0.0, min(stop, x + 1) - max(start, x))
    return matrix / (full / reduced)


@settings(max_examples=60, deadline=None)
@given(
    width=st.integers(1, 60),
    height=st.integers(1, 60),
    data=st.data(),
)
def test_streamed_reduction_is_the_exact_area_average(
    width: int, height: int, data: st.DataObject
) -> None:
    out_w = data.draw(st.integers(1, width))
    out_h = data.draw(st.integers(1, height))
    image = np.random.default_rng(width * 97 + height).random((height, width)).astype(np.float32)
    image *= 100
    expected = _overlap_matrix(height, out_h) @ image.astype(np.float64)
    expected = expected @ _overlap_matrix(width, out_w).T
    reducer = StreamingAreaReducer(width, height, out_w, out_h)
    y = 0
    while y < height:  # bands of random heights: the result must not depend on them
        rows = data.draw(st.integers(1, height))
        reducer.add(image[y : y + rows])
        y += rows
    np.testing.assert_allclose(reducer.result(), expected, atol=1e-3)


def test_matches_opencv_inter_area_for_large_factors() -> None:
    image = np.random.default_rng(1).random((700, 1000)).astype(np.float32) * 100
    ours = area_reduce(image, 111, 77)
    reference = cv2.resize(image, (111, 77), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(ours, reference, atol=1e-3)


def test_constant_image_stays_constant() -> None:
    image = np.full((333, 517), 42.5, dtype=np.float32)
    np.testing.assert_allclose(area_reduce(image, 100, 31), 42.5, atol=1e-4)


def test_misuse_is_refused() -> None:
    reducer = StreamingAreaReducer(10, 10, 5, 5)
    with pytest.raises(ValueError, match="width"):
        reducer.add(np.zeros((2, 9), np.float32))
    reducer.add(np.zeros((4, 10), np.float32))
    with pytest.raises(ValueError, match="only 4 of 10 rows"):
        reducer.result()
    with pytest.raises(ValueError, match="more rows"):
        reducer.add(np.zeros((7, 10), np.float32))
    with pytest.raises(ValueError, match="cannot area-reduce"):
        StreamingAreaReducer(10, 10, 11, 5)


def test_lowpass_removes_a_line_screen_and_keeps_the_mean() -> None:
    x = np.arange(256, dtype=np.float32)
    screen = np.tile(50 + 40 * np.sin(2 * np.pi * x / 3), (64, 1)).astype(np.float32)
    smooth = gaussian_lowpass(screen, 2.0, 2.0)
    assert float(smooth.std()) < 0.05 * float(screen.std())
    assert abs(float(smooth.mean()) - float(screen.mean())) < 0.1
    assert gaussian_lowpass(screen, 0.0, 0.0) is screen
