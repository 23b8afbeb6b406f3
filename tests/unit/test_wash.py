"""Wash rendering (master x wash): ink kept, clear water neutral, monotone, per pixel."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from archive_colorizer.imaging import color, wash

chroma_values = st.floats(-90.0, 90.0, width=32)
SHAPE = (5, 7)


def _codes(bits: int) -> st.SearchStrategy[np.ndarray]:
    dtype = np.uint8 if bits == 8 else np.uint16
    return arrays(dtype, SHAPE, elements=st.integers(0, color.code_max(bits)))


@settings(max_examples=40, deadline=None)
@given(
    st.sampled_from([8, 16]).flatmap(lambda bits: st.tuples(st.just(bits), _codes(bits))),
    arrays(np.float32, SHAPE, elements=chroma_values),
    arrays(np.float32, SHAPE, elements=chroma_values),
)
def test_black_ink_stays_black_and_output_never_lighter_than_master(
    master: tuple[int, np.ndarray], a: np.ndarray, b: np.ndarray
) -> None:
    bits, grey = master
    out = wash.render_wash_codes(grey, bits, a, b)
    assert out.shape == (*SHAPE, 3)
    assert out.dtype == grey.dtype
    black = grey == 0
    assert (out[black] == 0).all()
    # a transparent layer only absorbs: no channel is lighter than the master's grey
    assert (out.astype(np.int64) <= grey[..., None].astype(np.int64)).all()


@settings(max_examples=40, deadline=None)
@given(st.sampled_from([8, 16]).flatmap(lambda bits: st.tuples(st.just(bits), _codes(bits))))
def test_neutral_wash_or_zero_strength_leaves_the_master_unchanged(
    master: tuple[int, np.ndarray],
) -> None:
    bits, grey = master
    zeros = np.zeros(SHAPE, np.float32)
    for out in (
        wash.render_wash_codes(grey, bits, zeros, zeros),
        wash.render_wash_codes(grey, bits, zeros + 40, zeros - 30, strength=zeros),
    ):
        for channel in range(3):
            np.testing.assert_array_equal(out[..., channel], grey)


@settings(max_examples=40, deadline=None)
@given(
    _codes(16),
    arrays(np.float32, SHAPE, elements=chroma_values),
    arrays(np.float32, SHAPE, elements=chroma_values),
    st.floats(0.0, 1.0),
    st.floats(0.0, 1.0),
)
def test_monotone_in_wash_strength(
    grey: np.ndarray, a: np.ndarray, b: np.ndarray, s1: float, s2: float
) -> None:
    weak, strong = sorted((s1, s2))
    lighter = wash.render_wash_codes(grey, 16, a, b, strength=np.full(SHAPE, weak, np.float32))
    darker = wash.render_wash_codes(grey, 16, a, b, strength=np.full(SHAPE, strong, np.float32))
    assert (darker.astype(np.int64) <= lighter.astype(np.int64)).all()


def test_bilevel_paper_takes_the_wash_colour() -> None:
    grey = np.array([[0, 255]], dtype=np.uint8)  # one ink pixel, one paper pixel
    a = np.full((1, 2), -8.0, np.float32)
    b = np.full((1, 2), 12.0, np.float32)
    out = wash.render_wash_codes(grey, 8, a, b)
    assert out[0, 0].tolist() == [0, 0, 0]
    lightness, out_a, out_b = color.srgb_codes_to_lab(out[0, 1], 8)
    # paper under an in-gamut green wash takes its colour and is darker by the wash's darkening
    assert float(out_a) == pytest.approx(-8.0, abs=1.0)
    assert float(out_b) == pytest.approx(12.0, abs=1.0)
    expected_lightness = 100.0 - wash.WASH_DARKENING * float(np.hypot(-8.0, 12.0))
    assert float(lightness) == pytest.approx(expected_lightness, abs=0.5)


def test_per_pixel_so_tiles_equal_the_whole() -> None:
    rng = np.random.default_rng(7)
    grey = rng.integers(0, 256, (32, 48), dtype=np.uint8)
    a = rng.uniform(-60, 60, (32, 48)).astype(np.float32)
    b = rng.uniform(-60, 60, (32, 48)).astype(np.float32)
    whole = wash.render_wash_codes(grey, 8, a, b)
    left = wash.render_wash_codes(grey[:, :20], 8, a[:, :20], b[:, :20])
    right = wash.render_wash_codes(grey[:, 20:], 8, a[:, 20:], b[:, 20:])
    np.testing.assert_array_equal(np.concatenate([left, right], axis=1), whole)


def test_wrong_dtype_and_bad_darkening_are_refused() -> None:
    zeros = np.zeros((2, 2), np.float32)
    with pytest.raises(TypeError, match="8-bit grey must be uint8"):
        wash.render_wash_codes(np.zeros((2, 2), np.uint16), 8, zeros, zeros)
    with pytest.raises(ValueError, match="darkening"):
        wash.wash_linear(zeros, zeros, darkening=-1.0)


@pytest.mark.parametrize("bits", [8, 16])
@pytest.mark.parametrize("with_strength", [True, False])
def test_fast_path_equals_the_definition_within_one_code(bits: int, with_strength: bool) -> None:
    """render_wash_codes (reused buffers) = linear_to_codes(wash_linear(...) x Y_m), the
    module's definition written out, within one code value and mostly exactly. 16-bit codes
    come from a table of the square root of linear light in 2**19 steps (pipeline version 5):
    an entry is up to 0.09 code values from the exact code anywhere in its step, so a few per
    cent of codes round the other way."""
    rng = np.random.default_rng(bits)
    shape = (96, 130)
    dtype = np.uint8 if bits == 8 else np.uint16
    grey = rng.integers(0, color.code_max(bits) + 1, shape).astype(dtype)
    a = rng.uniform(-110, 110, shape).astype(np.float32)  # far out of gamut, toe included
    b = rng.uniform(-110, 110, shape).astype(np.float32)
    strength = rng.uniform(-0.2, 1.2, shape).astype(np.float32) if with_strength else None
    fast = wash.render_wash_codes(grey, bits, a, b, strength).astype(np.int64)
    layer = wash.wash_linear(a, b, strength)
    defined = color.linear_to_codes(layer * color.linear_lut(bits)[grey][..., None], bits)
    difference = np.abs(fast - defined.astype(np.int64))
    assert int(difference.max()) <= 1
    assert float((difference == 0).mean()) > (0.99 if bits == 8 else 0.95)


def test_a_pixel_does_not_depend_on_its_neighbours_gamut() -> None:
    """The same pixel beside an out-of-gamut wash and beside a neutral one: same codes."""
    grey = np.array([[200, 200]], dtype=np.uint8)
    a = np.array([[5.0, 0.0]], np.float32)
    b = np.array([[4.0, 0.0]], np.float32)
    alone = wash.render_wash_codes(grey, 8, a, b)
    a_far, b_far = a.copy(), b.copy()
    a_far[0, 1], b_far[0, 1] = 120.0, -120.0  # far outside the gamut
    beside = wash.render_wash_codes(grey, 8, a_far, b_far)
    assert alone[0, 0].tolist() == beside[0, 0].tolist()


@pytest.mark.parametrize("bits", [8, 16])
def test_full_strength_is_exactly_no_strength(bits: int) -> None:
    """The pipeline leaves the strength out of tiles where it is 1 everywhere: same codes."""
    rng = np.random.default_rng(5)
    dtype = np.uint8 if bits == 8 else np.uint16
    grey = rng.integers(0, color.code_max(bits) + 1, (40, 50)).astype(dtype)
    a = rng.uniform(-80, 80, (40, 50)).astype(np.float32)
    b = rng.uniform(-80, 80, (40, 50)).astype(np.float32)
    full = wash.render_wash_codes(grey, bits, a, b, np.ones((40, 50), np.float32))
    np.testing.assert_array_equal(full, wash.render_wash_codes(grey, bits, a, b))


def test_the_model_cards_wash_darkening_reaches_the_pipeline_parameters() -> None:
    from types import SimpleNamespace

    from archive_colorizer.services.colorize import ColorizeParams, resolve_rendering

    card = SimpleNamespace(render="wash", wash_darkening=0.9)
    params = resolve_rendering(ColorizeParams(), None, card)
    assert params.render == "wash" and params.as_dict()["wash_darkening"] == 0.9
    # without a card value the built-in darkening; luminance jobs do not name it at all
    assert resolve_rendering(ColorizeParams(), "wash").wash_darkening == wash.WASH_DARKENING
    assert "wash_darkening" not in resolve_rendering(ColorizeParams(), "luminance", card).as_dict()
    grey = np.full((1, 1), 255, np.uint8)
    a, b = np.full((1, 1), -8.0, np.float32), np.full((1, 1), 12.0, np.float32)
    darker = wash.render_wash_codes(grey, 8, a, b, darkening=0.9)
    lighter = wash.render_wash_codes(grey, 8, a, b, darkening=0.53)
    assert (darker.astype(int) < lighter.astype(int)).all()


@settings(max_examples=80, deadline=None)
@given(
    st.sampled_from([8, 16]).flatmap(lambda bits: st.tuples(st.just(bits), _codes(bits))),
    arrays(np.float32, SHAPE, elements=st.floats(-110.0, 110.0, width=32)),
    arrays(np.float32, SHAPE, elements=st.floats(-110.0, 110.0, width=32)),
    st.none() | arrays(np.float32, SHAPE, elements=st.floats(-0.25, 1.25, width=32)),
)
def test_strip_mined_table_encoded_wash_is_within_one_code_of_the_definition(
    master: tuple[int, np.ndarray], a: np.ndarray, b: np.ndarray, strength: np.ndarray | None
) -> None:
    # the hot path works in strips and encodes linear light through tables (8 bit: 65536 steps,
    # 16 bit: 2**19 steps of its square root, pipeline version 5): within one code value of the
    # definition
    bits, grey = master
    fast = wash.render_wash_codes(grey, bits, a, b, strength).astype(np.int64)
    layer = wash.wash_linear(a, b, strength)
    defined = color.linear_to_codes(layer * color.linear_lut(bits)[grey][..., None], bits)
    assert int(np.abs(fast - defined.astype(np.int64)).max()) <= 1
