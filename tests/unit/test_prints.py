"""Print decomposition: ink x known wash x paper → the wash back, the ink lines kept."""

from __future__ import annotations

import numpy as np
import pytest

from archive_colorizer.imaging.color import linear_to_codes, srgb_to_lab
from archive_colorizer.imaging.prints import (
    decompose_print,
    default_window,
    fit_darkening,
    linear_to_lightness,
)
from archive_colorizer.imaging.wash import wash_linear

SIZE = 160
PAPER = np.array([1.0, 0.93, 0.78], dtype=np.float32)  # cream


def ink_plate(size: int = SIZE, spacing: int = 8) -> np.ndarray:
    """Linear luminance of a plate: white paper with 1-px black lines every ``spacing`` px."""
    ink = np.ones((size, size), dtype=np.float32)
    ink[3::spacing, :] = 0.02
    ink[:, 5::spacing] = 0.02
    return ink


def wash_field(size: int, a: float, b: float, darkening: float) -> tuple[np.ndarray, np.ndarray]:
    """A wash of (a, b) on the left half (clear water on the right) and its mask."""
    a_plane = np.zeros((size, size), np.float32)
    b_plane = np.zeros((size, size), np.float32)
    washed = np.zeros((size, size), bool)
    washed[:, : size // 2] = True
    a_plane[washed], b_plane[washed] = a, b
    return wash_linear(a_plane, b_plane, darkening=darkening), washed


def make_print(a: float, b: float, darkening: float = 0.6) -> tuple[np.ndarray, np.ndarray]:
    ink = ink_plate()
    wash, washed = wash_field(SIZE, a, b, darkening)
    linear = ink[..., None] * wash * PAPER
    return np.asarray(linear_to_codes(linear, 8), dtype=np.uint8), washed


def interior(mask: np.ndarray, margin: int = 12) -> np.ndarray:
    """``mask`` shrunk by ``margin`` px (away from the wash edge and the image border)."""
    inner = np.zeros_like(mask)
    inner[margin:-margin, margin:-margin] = mask[margin:-margin, margin:-margin]
    out = inner.copy()
    for shift in range(1, margin + 1):
        out &= np.roll(inner, shift, axis=1) & np.roll(inner, -shift, axis=1)
    return out


@pytest.mark.parametrize(("a", "b"), [(25.0, 18.0), (-20.0, 15.0), (5.0, -30.0)])
def test_recovers_the_wash_colour_relative_to_the_paper(a: float, b: float) -> None:
    rgb, washed = make_print(a, b)
    layers = decompose_print(rgb)
    inside, outside = interior(washed), interior(~washed)
    assert abs(float(np.median(layers.wash_a[inside])) - a) < 3.0
    assert abs(float(np.median(layers.wash_b[inside])) - b) < 3.0
    # clear water on cream paper is white: the paper tone is not learned as colour
    assert np.hypot(layers.wash_a[outside], layers.wash_b[outside]).max() < 2.0
    np.testing.assert_allclose(layers.paper, PAPER, atol=0.03)


def test_ink_lines_are_kept_and_paper_between_them_is_white() -> None:
    rgb, washed = make_print(30.0, 20.0)
    layers = decompose_print(rgb)
    ink = ink_plate() < 0.5
    core = interior(np.ones_like(washed), 4)
    assert layers.ink_lightness[ink & core].max() < 25.0
    # also under the wash (away from its edge, where the envelope is blurred): the input looks
    # like the uncoloured plate
    assert layers.ink_lightness[~ink & interior(washed)].min() > 95.0
    assert layers.ink_lightness[~ink & interior(~washed)].min() > 95.0
    # at the wash edge the paper is still light
    assert layers.ink_lightness[~ink & core].min() > 85.0


def test_the_ink_layer_of_the_uncoloured_plate_is_the_plate() -> None:
    ink = ink_plate()
    rgb = np.repeat(np.asarray(linear_to_codes(ink, 8), dtype=np.uint8)[..., None], 3, axis=2)
    layers = decompose_print(rgb)
    expected = linear_to_lightness(ink)
    core = interior(np.ones(ink.shape, bool), 4)
    assert np.abs(layers.ink_lightness - expected)[core].max() < 2.0
    assert np.hypot(layers.wash_a, layers.wash_b).max() < 1.0


def test_fit_darkening_recovers_the_rendering_constant() -> None:
    fits = []
    for k in (0.4, 0.9):
        layers = [decompose_print(make_print(a, b, k)[0]) for a, b in ((25, 18), (-15, 25))]
        fits.append(fit_darkening(layers))
    assert abs(fits[0] - 0.4) < 0.12
    assert abs(fits[1] - 0.9) < 0.12


def test_fit_darkening_needs_colour() -> None:
    plain = np.full((64, 64, 3), 240, np.uint8)
    with pytest.raises(ValueError, match="no chromatic"):
        fit_darkening([decompose_print(plain)])


def test_rejects_grey_arrays() -> None:
    with pytest.raises(ValueError, match="uint8"):
        decompose_print(np.zeros((8, 8), np.uint8))


def test_window_is_odd_and_bounded() -> None:
    for shape in ((40, 40), (500, 700), (5000, 5000)):
        window = default_window(*shape)
        assert window % 2 == 1 and 5 <= window <= 15


def test_wash_lightness_matches_colour_space() -> None:
    # the wash target in Lab is that of the recovered linear wash
    rgb, _ = make_print(20.0, 10.0)
    layers = decompose_print(rgb)
    from archive_colorizer.imaging.color import linear_to_srgb

    lightness, a, _ = srgb_to_lab(linear_to_srgb(layers.wash_linear))
    np.testing.assert_allclose(lightness, layers.wash_lightness, atol=1e-3)
    np.testing.assert_allclose(a, layers.wash_a, atol=1e-3)
