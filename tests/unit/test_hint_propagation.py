"""Hints spread over a prediction edge-aware (``imaging.hint_propagation``): no hint changes
nothing, one hint colours a uniform image towards it, an edge of L* stops it, the hinted pixels
take the hint, the output is finite and in range."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from archive_colorizer.imaging.hint_propagation import (
    DEFAULT_PROPAGATION,
    HintPropagation,
    domain_transform_filter,
    propagate_hints,
)

F32 = npt.NDArray[np.float32]
SETTINGS = settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
sizes = st.tuples(st.integers(8, 48), st.integers(8, 48))


def _prediction(seed: int, height: int, width: int) -> F32:
    rng = np.random.default_rng(seed)
    return rng.uniform(-60, 60, (2, height, width)).astype(np.float32)


def _maps(height: int, width: int, points: list[tuple[int, int, float, float]]) -> F32:
    maps = np.zeros((3, height, width), dtype=np.float32)
    for y, x, a, b in points:
        maps[:, y, x] = (a, b, 1.0)
    return maps


@SETTINGS
@given(size=sizes, seed=st.integers(0, 2**16))
def test_without_hints_the_prediction_is_unchanged_bit_for_bit(
    size: tuple[int, int], seed: int
) -> None:
    height, width = size
    ab = _prediction(seed, height, width)
    lightness = np.random.default_rng(seed + 1).uniform(0, 100, size).astype(np.float32)
    out = propagate_hints(ab, np.zeros((3, height, width), np.float32), lightness)
    assert out.dtype == np.float32 and out.tobytes() == ab.tobytes()


@SETTINGS
@given(
    size=sizes,
    seed=st.integers(0, 2**16),
    count=st.integers(1, 12),
    fallback=st.sampled_from(["affine", "mean", "zero"]),
)
def test_hinted_pixels_take_the_hint_and_the_output_is_finite_and_in_range(
    size: tuple[int, int], seed: int, count: int, fallback: str
) -> None:
    height, width = size
    rng = np.random.default_rng(seed)
    ab = rng.uniform(-128, 127, (2, height, width)).astype(np.float32)
    lightness = rng.uniform(0, 100, size).astype(np.float32)
    points = [
        (int(rng.integers(height)), int(rng.integers(width)), *rng.uniform(-128, 127, 2))
        for _ in range(count)
    ]
    maps = _maps(height, width, points)
    out = propagate_hints(ab, maps, lightness, HintPropagation(fallback=fallback))
    assert out.shape == ab.shape and out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= -128 and out.max() <= 127
    hinted = maps[2] > 0
    np.testing.assert_array_equal(out[:, hinted], maps[:2][:, hinted])
    assert (
        propagate_hints(ab, maps, lightness).tobytes()
        == propagate_hints(ab, maps, lightness).tobytes()
    )  # deterministic


@SETTINGS
@given(
    size=st.tuples(st.integers(16, 64), st.integers(16, 64)),
    seed=st.integers(0, 2**16),
    tone=st.floats(0, 100),
    fallback=st.sampled_from(["affine", "mean", "zero"]),
)
def test_one_hint_on_a_uniform_image_colours_all_of_it_towards_the_hint(
    size: tuple[int, int], seed: int, tone: float, fallback: str
) -> None:
    height, width = size
    rng = np.random.default_rng(seed)
    ab = rng.uniform(-20, 20, (2, height, width)).astype(np.float32)
    y, x = int(rng.integers(1, height - 1)), int(rng.integers(1, width - 1))
    hint = (60.0, -45.0)
    # a point hint with a radius: the 3 x 3 pixels around (x, y)
    maps = _maps(height, width, [(y + dy, x + dx, *hint) for dy in (-1, 0, 1) for dx in (-1, 0, 1)])
    out = propagate_hints(
        ab, maps, np.full(size, tone, np.float32), HintPropagation(fallback=fallback)
    )
    target = np.asarray(hint, np.float32)[:, None, None]
    before = np.abs(ab - target).sum(axis=0)
    after = np.abs(out - target).sum(axis=0)
    assert (after < before).all()  # every pixel moved towards the hint
    assert after.mean() < (0.9 if fallback == "zero" else 0.75) * before.mean()


@SETTINGS
@given(seed=st.integers(0, 2**16), jump=st.floats(40, 100), side=st.integers(0, 1))
def test_a_strong_edge_of_lightness_stops_the_spread(seed: int, jump: float, side: int) -> None:
    height, width = 40, 80
    rng = np.random.default_rng(seed)
    ab = rng.uniform(-5, 5, (2, height, width)).astype(np.float32)
    lightness = np.full((height, width), 100.0 - jump if side else jump, np.float32)
    lightness[:, width // 2 :] = 100.0 if side else 0.0
    maps = _maps(height, width, [(height // 2, width // 4, 70.0, 50.0)])
    out = propagate_hints(ab, maps, lightness, HintPropagation(fallback="zero"))
    change = np.abs(out - ab).sum(axis=0)
    near = change[:, 4 : width // 2 - 4].mean()  # the hint's side, the hint pixel left out
    far = change[:, width // 2 + 4 :].mean()
    assert far < 0.25 * near


def test_two_hints_either_side_of_an_edge_each_keep_their_side() -> None:
    height, width = 30, 60
    ab = np.zeros((2, height, width), np.float32)
    lightness = np.full((height, width), 80.0, np.float32)
    lightness[:, width // 2 :] = 20.0
    maps = _maps(height, width, [(15, 10, 50.0, 0.0), (15, 50, -50.0, 0.0)])
    out = propagate_hints(ab, maps, lightness, DEFAULT_PROPAGATION)
    assert out[0, :, : width // 2 - 2].min() > 0 and out[0, :, width // 2 + 2 :].max() < 0


def test_the_filter_keeps_a_constant_and_its_parameters_are_checked() -> None:
    constant = np.full((2, 9, 13), 3.5)
    guide = np.random.default_rng(0).uniform(0, 100, (9, 13))
    np.testing.assert_allclose(domain_transform_filter(constant, guide, 5.0, 10.0), constant)
    with pytest.raises(ValueError, match="sigma_range"):
        HintPropagation(sigma_range=0.0)
    with pytest.raises(ValueError, match="fallback"):
        HintPropagation(fallback="nearest")
    with pytest.raises(ValueError, match="must match"):
        propagate_hints(np.zeros((2, 4, 4)), np.zeros((3, 4, 5)), np.zeros((4, 4)))
    assert DEFAULT_PROPAGATION.as_dict()["method"] == "domain-transform-rf"
