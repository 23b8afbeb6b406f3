"""Colour reference palettes and the transfer of a prediction towards them."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from archive_colorizer.imaging.color import linear_to_codes
from archive_colorizer.imaging.reference import Palette, reference_palette, transfer_palette
from archive_colorizer.imaging.wash import wash_linear

PALETTE = Palette(mean_a=12.0, mean_b=25.0, std_a=6.0, std_b=3.0)


def prediction(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    offset = np.array([2.0, -4.0])[:, None, None]
    return (rng.normal(0.0, 5.0, (2, 24, 32)) + offset).astype(np.float32)


@given(st.integers(0, 2**16), st.floats(0.0, 1.0), st.booleans())
def test_transfer_moves_the_mean_by_its_strength(seed: int, strength: float, spread: bool) -> None:
    ab = prediction(seed)
    moved = transfer_palette(ab, PALETTE, strength, spread)
    for index, target in enumerate((PALETTE.mean_a, PALETTE.mean_b)):
        before = float(ab[index].mean())
        assert float(moved[index].mean()) == pytest.approx(
            before + strength * (target - before), abs=1e-3
        )
    if strength == 0.0:
        assert np.array_equal(moved, ab)


def test_full_transfer_with_spread_takes_the_palettes_spread() -> None:
    moved = transfer_palette(prediction(1), PALETTE, 1.0, spread=True)
    assert float(moved[0].std()) == pytest.approx(PALETTE.std_a, rel=1e-3)
    assert float(moved[1].std()) == pytest.approx(PALETTE.std_b, rel=1e-3)
    # without spread only the mean moves: the shape of the prediction is kept
    shifted = transfer_palette(prediction(1), PALETTE, 1.0, spread=False)
    np.testing.assert_allclose(
        shifted[0] - prediction(1)[0], PALETTE.mean_a - prediction(1)[0].mean(), atol=1e-4
    )


def test_weights_zero_leave_the_margin_alone_and_set_the_statistics() -> None:
    ab = prediction(2)
    weights = np.zeros((24, 32), np.float32)
    weights[4:20, 6:26] = 1.0
    moved = transfer_palette(ab, PALETTE, 1.0, False, weights)
    assert np.array_equal(moved[:, :4], ab[:, :4]) and np.array_equal(moved[:, :, :6], ab[:, :, :6])
    inside = moved[:, 4:20, 6:26]
    assert float(inside[0].mean()) == pytest.approx(PALETTE.mean_a, abs=1e-3)
    assert float(inside[1].mean()) == pytest.approx(PALETTE.mean_b, abs=1e-3)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="strength"):
        transfer_palette(prediction(0), PALETTE, 1.5)
    with pytest.raises(ValueError, match=r"\(2, h, w\)"):
        transfer_palette(np.zeros((3, 4, 4)), PALETTE)


def test_a_coloured_print_gives_its_wash_not_its_paper() -> None:
    size = 96
    ink = np.ones((size, size), np.float32)
    ink[::6, :] = 0.05
    a = np.full((size, size), 25.0, np.float32)
    b = np.full((size, size), 30.0, np.float32)
    a[:12], b[:12] = 0.0, 0.0  # a strip of bare paper
    rgb = np.asarray(linear_to_codes(ink[..., None] * wash_linear(a, b), 8), dtype=np.uint8)
    palette = reference_palette(rgb)
    assert palette.mean_a > 10 and palette.mean_b > 12  # the wash's warm colour
    grey = reference_palette(
        np.repeat(np.asarray(linear_to_codes(ink, 8), np.uint8)[..., None], 3, 2)
    )
    assert abs(grey.mean_a) < 1.5 and abs(grey.mean_b) < 1.5
