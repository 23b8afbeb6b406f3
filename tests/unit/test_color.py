"""L*a*b* ↔ sRGB conversions: known values, round trips, neutral greys, code-value paths."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from archive_colorizer.imaging import color


def test_white_and_black_have_reference_lightness() -> None:
    lightness, a, b = color.srgb_to_lab(np.array([[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]))
    np.testing.assert_allclose(lightness, [100.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(a, [0.0, 0.0], atol=1e-3)
    np.testing.assert_allclose(b, [0.0, 0.0], atol=1e-3)


def test_known_primary_values() -> None:
    # sRGB red in CIELAB (D65): L 53.24, a 80.09, b 67.20 (Lindbloom, within rounding)
    lightness, a, b = color.srgb_to_lab(np.array([1.0, 0.0, 0.0]))
    assert float(lightness) == pytest.approx(53.24, abs=0.05)
    assert float(a) == pytest.approx(80.09, abs=0.1)
    assert float(b) == pytest.approx(67.20, abs=0.1)


def test_transfer_function_round_trip_and_known_point() -> None:
    encoded = np.linspace(0.0, 1.0, 1001, dtype=np.float32)
    np.testing.assert_allclose(
        color.linear_to_srgb(color.srgb_to_linear(encoded)), encoded, atol=2e-6
    )
    assert float(color.srgb_to_linear(np.float32(0.5))) == pytest.approx(0.21404, abs=1e-4)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float32, (17, 3), elements=st.floats(0.0, 1.0, width=32)))
def test_srgb_lab_srgb_round_trip(rgb: np.ndarray) -> None:
    back = color.lab_to_srgb(*color.srgb_to_lab(rgb))
    np.testing.assert_allclose(back, rgb, atol=2e-4)


@settings(max_examples=40, deadline=None)
@given(
    arrays(np.uint8, (31, 3), elements=st.integers(0, 255)),
)
def test_8bit_codes_round_trip_exactly(codes: np.ndarray) -> None:
    back = color.lab_to_srgb_codes(*color.srgb_codes_to_lab(codes, 8), bits=8)
    assert back.dtype == np.uint8
    assert int(np.abs(back.astype(int) - codes.astype(int)).max()) == 0


@settings(max_examples=40, deadline=None)
@given(arrays(np.uint16, (31, 3), elements=st.integers(0, 65535)))
def test_16bit_codes_round_trip_within_float32_precision(codes: np.ndarray) -> None:
    back = color.lab_to_srgb_codes(*color.srgb_codes_to_lab(codes, 16), bits=16)
    assert back.dtype == np.uint16
    assert int(np.abs(back.astype(int) - codes.astype(int)).max()) <= 8


@pytest.mark.parametrize("bits", [8, 16])
def test_grey_lightness_with_zero_chroma_returns_the_same_grey(bits: int) -> None:
    peak = color.code_max(bits)
    grey = np.unique(
        np.linspace(0, peak, 4097).round().astype(np.uint8 if bits == 8 else np.uint16)
    )
    lightness = color.grey_to_lightness(grey, bits)
    zeros = np.zeros_like(lightness)
    rgb = color.lab_to_srgb_codes(lightness, zeros, zeros, bits)
    for channel in range(3):
        assert int(np.abs(rgb[..., channel].astype(int) - grey.astype(int)).max()) <= (
            0 if bits == 8 else 4
        )
    np.testing.assert_array_equal(color.lightness_to_grey(lightness, bits), grey)


def test_lightness_lut_is_monotonic_and_spans_0_to_100() -> None:
    for bits in (8, 16):
        table = color.lightness_lut(bits)
        assert table[0] == 0.0
        assert table[-1] == pytest.approx(100.0, abs=1e-4)
        assert np.all(np.diff(table) > 0)
        assert not table.flags.writeable


def test_grey_to_lightness_rejects_wrong_dtype() -> None:
    with pytest.raises(TypeError):
        color.grey_to_lightness(np.zeros(3, np.uint16), 8)
    with pytest.raises(ValueError):
        color.code_max(12)


def test_out_of_gamut_colours_are_clipped_not_wrapped() -> None:
    rgb = color.lab_to_srgb_codes(
        np.array([50.0, 99.0, 1.0]), np.array([127.0, -128.0, 0.0]), np.array([127.0, 90.0, 0.0]), 8
    )
    assert rgb.dtype == np.uint8
    assert rgb.shape == (3, 3)
    # saturated orange stays red-dominant, dark grey stays near black
    assert rgb[0, 0] > rgb[0, 2]
    assert int(rgb[2].max()) <= 12


@pytest.mark.parametrize("bits", [8, 16])
def test_neutral_pixels_keep_their_lightness_beside_out_of_gamut_ones(bits: int) -> None:
    """Zero chroma (e.g. paper neutralised by the paper mask) in a batch that also holds
    out-of-gamut colours: the gamut step must leave the neutral pixels grey at their L*."""
    lightness = np.linspace(0.0, 100.0, 20001, dtype=np.float32)
    a = np.zeros_like(lightness)
    b = np.zeros_like(lightness)
    a[::2] = 120.0  # far out of gamut: forces the gamut-mapping branch
    rgb = color.lab_to_srgb_codes(lightness, a, b, bits)
    back, back_a, back_b = color.srgb_codes_to_lab(rgb[1::2], bits)
    tolerance = 0.3 if bits == 8 else 0.01
    assert float(np.abs(back - lightness[1::2]).max()) < tolerance
    assert float(np.hypot(back_a, back_b).max()) < 0.5


@settings(max_examples=60, deadline=None)
@given(
    arrays(np.float32, (16,), elements=st.floats(0.0, 100.0, width=32)),
    arrays(np.float32, (16,), elements=st.floats(-40.0, 40.0, width=32)),
    arrays(np.float32, (16,), elements=st.floats(-40.0, 40.0, width=32)),
    st.sampled_from([8, 16]),
)
def test_codes_are_strictly_per_pixel_whatever_the_batch_holds(
    lightness: np.ndarray, a: np.ndarray, b: np.ndarray, bits: int
) -> None:
    # a tile's pixels must not depend on which other pixels share its batch (tiling invariance):
    # appending a far out-of-gamut pixel switches the gamut mapping on for the whole batch
    alone = color.lab_to_srgb_codes(lightness, a, b, bits)
    batch = color.lab_to_srgb_codes(
        np.append(lightness, np.float32(50.0)),
        np.append(a, np.float32(120.0)),
        np.append(b, np.float32(-120.0)),
        bits,
    )
    np.testing.assert_array_equal(batch[:-1], alone)
