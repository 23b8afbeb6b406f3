"""A colour reference's ab histogram as a prior on the class head (imaging side and decode)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from archive_colorizer.errors import ConfigurationError, InferenceError
from archive_colorizer.imaging.reference import (
    AB_PRIOR_FLOOR,
    AB_PRIOR_SMOOTHING,
    AB_RANGE,
    ab_counts,
    ab_prior,
    load_reference,
)
from archive_colorizer.inference.inferer import NetworkPredictor
from archive_colorizer.inference.networks import build_network, iizuka_effl0
from archive_colorizer.inference.networks.iizuka_effl0 import IizukaEffL0, ab_bin_centres
from archive_colorizer.services.colorize import (
    DEFAULT_REFERENCE_PRIOR,
    ColorizeParams,
    colorize_master,
    resolve_reference_prior,
)
from tests import factories

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


def test_the_prior_is_the_same_tiled_and_untiled() -> None:
    torch.manual_seed(5)
    network = build_network("iizuka-effl0", ab_grid=GRID, mix=0.6)
    whole = NetworkPredictor(network, half=False, threads=1)
    tiled = NetworkPredictor(network, half=False, threads=1, tile_size=whole.floor)
    shape = (whole.floor + 80, whole.floor + 40)
    page = np.clip(np.random.default_rng(1).normal(60, 20, shape), 0, 100).astype(np.float32)
    prior = ab_prior(ab_counts(plane(30.0), plane(50.0)), GRID)
    a = whole.predict_ab(page, ab_prior=prior, prior_weight=0.5)
    b = tiled.predict_ab(page, ab_prior=prior, prior_weight=0.5)
    assert tiled.last_run.tiles > 1
    np.testing.assert_allclose(a, b, atol=1e-3)
    assert not np.allclose(a, whole.predict_ab(page), atol=1e-3)


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


SHA = "cd" * 32


def test_params_name_the_prior_only_with_a_reference_and_a_weight() -> None:
    assert "reference_prior" not in ColorizeParams(reference_prior=2.0).as_dict()
    # a reference without the prior keeps the keys jobs had before the prior existed
    assert "reference_prior" not in ColorizeParams(reference_sha256=SHA).as_dict()
    named = ColorizeParams(reference_sha256=SHA, reference_prior=1.5).as_dict()
    assert named["reference_prior"] == 1.5
    assert named["reference_prior_smoothing"] == AB_PRIOR_SMOOTHING
    assert named["reference_prior_floor"] == AB_PRIOR_FLOOR


@pytest.mark.parametrize("weight", [-0.5, 10.5, float("nan")])
def test_params_refuse_a_prior_weight_out_of_range(weight: float) -> None:
    with pytest.raises(ConfigurationError, match="--reference-prior"):
        ColorizeParams(reference_sha256=SHA, reference_prior=weight)


def test_the_default_weight_is_for_models_with_a_class_head() -> None:
    params = ColorizeParams(reference_sha256=SHA)
    chosen = resolve_reference_prior(params, None, 22)
    # with the class head weighted, the page keeps its own global prior (measured better)
    assert (chosen.reference_prior, chosen.reference_global) == (DEFAULT_REFERENCE_PRIOR, False)
    assert chosen.as_dict()["reference_global"] is False
    plain = resolve_reference_prior(params, None, 0)
    assert (plain.reference_prior, plain.reference_global) == (0.0, True)
    assert "reference_global" not in plain.as_dict()  # the keys of jobs from before
    assert resolve_reference_prior(params, 0.0, 0).reference_prior == 0.0
    assert resolve_reference_prior(params, 2.5, 22).reference_prior == 2.5
    assert resolve_reference_prior(params, 2.5, 22, True).reference_global is True
    assert resolve_reference_prior(params, 0.0, 22, False).reference_global is False
    with pytest.raises(ConfigurationError, match="class head"):
        resolve_reference_prior(params, 1.0, 0)


class _PriorPredictor:
    """Zero chroma on a model with a 22 x 22 class head; records what it was given."""

    class_grid = GRID

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    def predict_ab(
        self,
        lightness: np.ndarray,
        reference: np.ndarray | None = None,
        ab_prior: np.ndarray | None = None,
        prior_weight: float = 1.0,
        prior_floor: float = 0.3,
    ) -> np.ndarray:
        self.calls.append({"reference": reference, "ab_prior": ab_prior, "weight": prior_weight})
        assert prior_floor == AB_PRIOR_FLOOR
        return np.zeros((2, *lightness.shape), dtype=np.float32)


def test_the_pipeline_gives_the_references_colours_to_the_class_head(tmp_path: Path) -> None:
    master = factories.write_gray8(tmp_path / "m.tif", width=64, height=48)
    rgb = np.full((120, 160, 3), 245, dtype=np.uint8)
    rgb[20:100, 25:135] = (90, 120, 210)  # a blue wash
    rgb[::10] = 20
    Image.fromarray(rgb).save(tmp_path / "ref.png")
    ref = load_reference(tmp_path / "ref.png")
    predictor = _PriorPredictor()
    for weight, use_global in ((0.0, True), (1.5, True), (1.5, False)):
        params = ColorizeParams(
            chroma_size=32, reference_sha256=ref.sha256, reference_prior=weight,
            reference_global=use_global,
        )  # fmt: skip
        colorize_master(
            master, tmp_path / f"out-{weight}-{use_global}.tif", predictor, params,
            provenance={"source_sha256": "0" * 64}, reference=ref,
        )  # fmt: skip
    without, with_prior, page_global = predictor.calls
    assert without["ab_prior"] is None and without["reference"] is ref.lightness
    assert with_prior["weight"] == 1.5 and with_prior["reference"] is ref.lightness
    assert page_global["reference"] is None and page_global["ab_prior"] is not None
    np.testing.assert_array_equal(with_prior["ab_prior"], ref.ab_prior(GRID))
    centres = ab_bin_centres(GRID).numpy()
    _, b = centres[int(np.argmax(with_prior["ab_prior"]))]
    assert b < -10  # the blue wash's bin, not the neutral paper around it
