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


def _reference_codes(lightness: np.ndarray, a: np.ndarray, b: np.ndarray, bits: int) -> np.ndarray:
    """The definition in float64: L*a*b* → linear sRGB, desaturated at constant Y into gamut,
    encoded exactly and rounded."""
    fy = (lightness.astype(np.float64) + 16.0) / 116.0
    f = np.stack([fy + a / 500.0, fy, fy - b / 200.0])
    delta = 6.0 / 29.0
    xyz = np.where(f > delta, f**3, 3.0 * delta * delta * (f - 4.0 / 29.0))
    xyz = xyz * color.WHITE_XYZ[:, None]
    rgb = color.XYZ_TO_SRGB @ xyz
    y = np.clip(xyz[1], 0.0, 1.0)
    high, low = rgb.max(axis=0), rgb.min(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = np.fmin(1.0, (1.0 - y) / np.maximum(high - y, 1e-6))
        scale = np.fmin(scale, y / np.maximum(y - low, 1e-6))
    linear = np.clip(y + scale * (rgb - y), 0.0, 1.0)
    encoded = np.where(
        linear <= 0.0031308, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055
    )
    return np.rint(encoded * color.code_max(bits)).T.astype(np.int64)


@settings(max_examples=80, deadline=None)
@given(
    arrays(np.float32, (64,), elements=st.floats(0.0, 100.0, width=32)),
    arrays(np.float32, (64,), elements=st.floats(-110.0, 110.0, width=32)),
    arrays(np.float32, (64,), elements=st.floats(-110.0, 110.0, width=32)),
    st.sampled_from([8, 16]),
)
def test_table_driven_codes_are_within_one_code_value_of_the_float64_definition(
    lightness: np.ndarray, a: np.ndarray, b: np.ndarray, bits: int
) -> None:
    # the 8-bit path encodes through a 65536-step table of linear light, the 16-bit one through
    # a 2**19-step table of its square root (pipeline version 5; a 2**20-step table of linear
    # light in version 4, the exact float32 power before): both within one code value
    fast = color.lab_to_srgb_codes(lightness, a, b, bits).astype(np.int64)
    assert int(np.abs(fast - _reference_codes(lightness, a, b, bits)).max()) <= 1


def _exact_16bit_codes(linear: np.ndarray) -> np.ndarray:
    """The sRGB encoding of linear light (clipped to 0..1) in float64, in 16-bit code values."""
    x = np.clip(linear.astype(np.float64), 0.0, 1.0)
    return np.where(x <= 0.0031308, x * 12.92, 1.055 * np.power(x, 1 / 2.4) - 0.055) * 65535.0


def _previous_16bit_codes(linear: np.ndarray) -> np.ndarray:
    """Pipeline version 4: linear light rounded to 2**20 steps, that step's code rounded."""
    steps = np.float32(1 << 20)
    x = np.minimum(np.maximum(linear, np.float32(0.0)), np.float32(1.0))
    index = (x * steps + np.float32(0.5)).astype(np.uint32)
    return np.rint(_exact_16bit_codes(index / float(steps))).astype(np.int64)


def _encode_16bit(linear: np.ndarray) -> np.ndarray:
    return color.linear_planes_to_codes([linear.copy()], linear.shape, 16)[..., 0].astype(np.int64)


@settings(max_examples=100, deadline=None)
@given(
    arrays(np.float32, (257,), elements=st.floats(-0.5, 1.5, width=32))
    | arrays(np.float32, (257,), elements=st.floats(0.0, 0.0078125, width=32))
)
def test_16bit_square_root_table_is_within_one_code_of_the_previous_table_and_of_exact(
    linear: np.ndarray,
) -> None:
    # pipeline version 5 encodes 16-bit linear light through 2**19 steps of its square root
    # (1 MiB) instead of 2**20 steps of linear light (2 MiB): each table's entry is within
    # 0.09 resp. 0.41 code values of the exact code anywhere in its step, so the two differ by
    # at most one code value, and each is within one of the exact rounding
    new = _encode_16bit(linear)
    assert int(np.abs(new - _previous_16bit_codes(linear)).max()) <= 1
    assert int(np.abs(new - np.rint(_exact_16bit_codes(linear))).max()) <= 1


@pytest.mark.parametrize("bits", [8, 16])
def test_hot_path_encoding_clips_linear_light_to_0_1(bits: int) -> None:
    # the hot paths clamp the 16-bit table's index rather than the value (one pass less): any
    # value above 1 is white, any below 0 black, as for the clipped value
    values = [-1e6, -1.0, -1e-9, 0.0, 1.0, 1.0000001, 1.5, 1e3, 1e6, 2.0**24 - 2.0]
    planes = [np.array(values, dtype=np.float32) for _ in range(3)]
    out = np.empty((len(values), 3), dtype=np.uint8 if bits == 8 else np.uint16)
    color._codes_into(planes, bits, out)
    top = color.code_max(bits)
    np.testing.assert_array_equal(out[:, 0], [0, 0, 0, 0, top, top, top, top, top, top])


def test_16bit_square_root_table_error_bound_holds_densely() -> None:
    # every 2**-21 of linear light and every ~2**-29 of its toe (below 0.004), i.e. several
    # points in every step of the table: its code is within 0.5 (rounding) + 0.09 (the step) of
    # the exact value
    linear = np.concatenate(
        [np.linspace(0.0, 1.0, (1 << 21) + 1), np.linspace(0.0, 0.004, (1 << 21) + 1)]
    ).astype(np.float32)
    error = np.abs(_encode_16bit(linear) - _exact_16bit_codes(linear))
    assert float(error.max()) <= 0.6


@settings(max_examples=60, deadline=None)
@given(
    st.sampled_from([8, 16]).flatmap(
        lambda bits: st.tuples(
            st.just(bits),
            arrays(
                np.uint8 if bits == 8 else np.uint16,
                (8, 9),
                elements=st.integers(0, color.code_max(bits)),
            ),
        )
    ),
    arrays(np.float32, (8, 9), elements=st.floats(-110.0, 110.0, width=32)),
    arrays(np.float32, (8, 9), elements=st.floats(-110.0, 110.0, width=32)),
)
def test_grey_codes_path_is_bit_identical_to_the_lightness_path(
    bits_grey: tuple[int, np.ndarray], a: np.ndarray, b: np.ndarray
) -> None:
    bits, grey = bits_grey
    np.testing.assert_array_equal(
        color.grey_ab_to_srgb_codes(grey, bits, a, b),
        color.lab_to_srgb_codes(color.grey_to_lightness(grey, bits), a, b, bits),
    )


@pytest.mark.parametrize("bits", [8, 16])
def test_strips_do_not_change_pixels(bits: int) -> None:
    # the hot paths work in strips of STRIP_PIXELS: an image spanning several strips (and a
    # partial last one) equals its pixels converted one small batch at a time
    rng = np.random.default_rng(7)
    n = 2 * color.STRIP_PIXELS + 123
    grey = rng.integers(0, color.code_max(bits) + 1, n).astype(np.uint8 if bits == 8 else np.uint16)
    a = rng.normal(0.0, 50.0, n).astype(np.float32)
    b = rng.normal(0.0, 50.0, n).astype(np.float32)
    whole = color.grey_ab_to_srgb_codes(grey.reshape(1, n), bits, a, b)[0]
    pieces = [
        color.grey_ab_to_srgb_codes(
            grey[i : i + 1000][None], bits, a[i : i + 1000], b[i : i + 1000]
        )[0]
        for i in range(0, n, 1000)
    ]
    np.testing.assert_array_equal(whole, np.concatenate(pieces))
