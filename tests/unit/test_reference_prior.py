"""A colour reference's ab histogram as a prior on the class head (imaging side and decode)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_colorizer.errors import InferenceError
from archive_colorizer.imaging.reference import AB_RANGE, ab_counts, ab_prior
from archive_colorizer.inference.inferer import NetworkPredictor
from archive_colorizer.inference.networks import build_network, iizuka_effl0
from archive_colorizer.inference.networks.iizuka_effl0 import IizukaEffL0, ab_bin_centres

GRID = 22


def plane(value: float, shape: tuple[int, int] = (12, 16)) -> np.ndarray:
    return np.full(shape, value, dtype=np.float32)


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**16),
    smoothing=st.sampled_from([0.0, 0.5, 1.0, 2.5]),
    floor=st.floats(0.001, 1.0),
    grid=st.sampled_from([11, 22, 44]),
)
def test_the_prior_sums_to_one_and_keeps_its_floor(
    seed: int, smoothing: float, floor: float, grid: int
) -> None:
    rng = np.random.default_rng(seed)
    a, b = rng.normal(10, 30, (2, 30, 20)).astype(np.float32)
    prior = ab_prior(ab_counts(a, b, rng.random((30, 20))), grid, smoothing, floor)
    assert prior.shape == (grid * grid,)
    assert float(prior.sum()) == pytest.approx(1.0, abs=1e-12)
    assert float(prior.min()) >= floor / grid**2 * (1 - 1e-9)


@pytest.mark.parametrize(("a", "b"), [(25.0, -37.0), (-3.0, 4.0), (0.0, 0.0), (-104.0, 98.0)])
def test_a_single_colour_peaks_at_its_network_bin(a: float, b: float) -> None:
    prior = ab_prior(ab_counts(plane(a), plane(b)), GRID, smoothing=1.0, floor=0.05)
    centres = ab_bin_centres(GRID).numpy()
    peak = int(np.argmax(prior))
    step = 2 * AB_RANGE / GRID
    assert abs(centres[peak, 0] - a) <= step / 2 and abs(centres[peak, 1] - b) <= step / 2
    # the floor: the farthest colour keeps its share
    assert float(prior.min()) == pytest.approx(0.05 / GRID**2, rel=0.05)


def test_the_ab_plane_is_the_networks() -> None:
    assert AB_RANGE == iizuka_effl0.AB_RANGE


def test_weights_leave_out_what_they_zero_and_empty_is_uniform() -> None:
    a = np.concatenate([plane(40.0, (4, 8)), plane(-40.0, (4, 8))])
    b = np.zeros_like(a)
    weights = np.concatenate([np.ones((4, 8)), np.zeros((4, 8))])
    prior = ab_prior(ab_counts(a, b, weights), GRID, smoothing=0.0, floor=0.01)
    centres = ab_bin_centres(GRID).numpy()
    assert centres[int(np.argmax(prior)), 0] > 0
    assert float(prior[np.argmin(np.hypot(centres[:, 0] + 40, centres[:, 1]))]) == pytest.approx(
        0.01 / GRID**2
    )
    empty = ab_prior(ab_counts(a, b, np.zeros_like(weights)), GRID)
    np.testing.assert_allclose(empty, 1.0 / GRID**2)


def test_bad_prior_arguments() -> None:
    counts = ab_counts(plane(1.0), plane(2.0))
    with pytest.raises(ValueError, match="divide"):
        ab_prior(counts, 8)
    with pytest.raises(ValueError, match="floor"):
        ab_prior(counts, GRID, floor=0.0)
    with pytest.raises(ValueError, match="smoothing"):
        ab_prior(counts, GRID, smoothing=-1.0)


@pytest.fixture(scope="module")
def predictor() -> NetworkPredictor:
    torch.manual_seed(3)
    network = build_network("iizuka-effl0", ab_grid=GRID, mix=0.6)
    return NetworkPredictor(network, device=torch.device("cpu"), half=False, threads=1)


def lightness(seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.clip(rng.normal(60, 20, (40, 56)), 0, 100).astype(np.float32)


def test_weight_zero_gives_exactly_the_models_output(predictor: NetworkPredictor) -> None:
    prior = ab_prior(ab_counts(plane(30.0), plane(50.0)), GRID)
    plain = predictor.predict_ab(lightness())
    assert np.array_equal(
        predictor.predict_ab(lightness(), ab_prior=prior, prior_weight=0.0), plain
    )
    assert np.array_equal(predictor.predict_ab(lightness(), ab_prior=None), plain)


def test_a_strong_prior_pulls_the_class_part_to_its_colour(predictor: NetworkPredictor) -> None:
    prior = ab_prior(ab_counts(plane(30.0), plane(50.0)), GRID, smoothing=0.0, floor=1e-6)
    plain = predictor.predict_ab(lightness())
    pulled = predictor.predict_ab(lightness(), ab_prior=prior, prior_weight=50.0)
    network = predictor.network
    assert isinstance(network, IizukaEffL0)
    # the annealed mean is the prior's bin centre: the output moved by mix x the difference
    target = np.array([35.0, 55.0], dtype=np.float32)[:, None, None]
    distance_before = np.abs(plain - target).mean()
    distance_after = np.abs(pulled - target).mean()
    assert distance_after < distance_before
    assert np.isfinite(pulled).all()


def test_priors_are_checked(predictor: NetworkPredictor) -> None:
    with pytest.raises(InferenceError, match="484"):
        predictor.predict_ab(lightness(), ab_prior=np.full(64, 1 / 64), prior_weight=1.0)
    with pytest.raises(InferenceError, match="weight"):
        predictor.predict_ab(lightness(), ab_prior=np.full(484, 1 / 484), prior_weight=-1.0)
    regression_only = NetworkPredictor(
        build_network("iizuka-effl0", ab_grid=0, mix=0.0), half=False, threads=1
    )
    with pytest.raises(InferenceError, match="no class head"):
        regression_only.predict_ab(lightness(), ab_prior=np.full(484, 1 / 484))
