"""Prints evaluation: the metrics on known images, the baselines on synthetic prints."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archive_colorizer.imaging.color import lab_to_srgb_codes, linear_to_codes
from archive_colorizer.imaging.datasets import ImageItem
from archive_colorizer.imaging.wash import wash_linear
from archive_colorizer.services.evaluate_prints import (
    chromatic_share,
    evaluate_prints,
    hue_entropy,
    load_print_truth,
    print_metrics,
    render_candidate,
)

SOURCE = "gitenberg-print"


def lab_image(
    lightness: float, a: float, b: float, shape: tuple[int, int] = (32, 32)
) -> np.ndarray:
    planes = [np.full(shape, v, np.float32) for v in (lightness, a, b)]
    return np.asarray(lab_to_srgb_codes(*planes, 8), dtype=np.uint8)


def test_hue_entropy_counts_bits_of_hue_bins() -> None:
    assert hue_entropy([20.0, 20.0], [0.0, 0.0]) == 0.0
    # two equally used hues 180° apart: one bit
    assert hue_entropy([20.0, -20.0], [0.0, 0.0]) == pytest.approx(1.0)
    # four hues in four bins: two bits; grey pixels do not count
    assert hue_entropy([20, 0, -20, 0, 1], [0, 20, 0, -20, 1]) == pytest.approx(2.0)
    assert hue_entropy([1.0, 2.0], [0.0, 3.0]) == 0.0


def test_chromatic_share_uses_chroma_above_six() -> None:
    assert chromatic_share([0.0, 5.9, 7.0, 3.0], [0.0, 0.0, 0.0, 6.0]) == pytest.approx(0.5)


def test_identical_images_score_perfectly() -> None:
    image = lab_image(70.0, 25.0, 10.0)
    metrics = print_metrics(image, image)
    assert metrics["ciede2000"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["ab_rmse"] == pytest.approx(0.0, abs=1e-9)
    assert metrics["cf_pred"] == pytest.approx(metrics["cf_true"])
    assert metrics["chromatic_pred"] == metrics["chromatic_true"] == 1.0
    assert metrics["hue_entropy_pred"] == 0.0


def test_ab_rmse_is_the_rms_over_both_channels() -> None:
    truth = lab_image(60.0, 0.0, 0.0)
    shifted = lab_image(60.0, 12.0, 0.0)
    # Δa = 12 everywhere (up to 8-bit quantisation), Δb = 0: RMS over both = 12 / sqrt(2)
    assert print_metrics(shifted, truth)["ab_rmse"] == pytest.approx(12 / math.sqrt(2), abs=0.5)


def test_metrics_need_equal_shapes() -> None:
    with pytest.raises(ValueError, match="differ"):
        print_metrics(lab_image(50, 0, 0, (8, 8)), lab_image(50, 0, 0, (16, 8)))


def write_print(path: Path, a: float, b: float, size: int = 96) -> None:
    """A synthetic coloured print: 1-px ink lines x a flat wash over its middle."""
    ink = np.ones((size, size), np.float32)
    ink[2::6, :] = 0.03
    a_plane = np.zeros((size, size), np.float32)
    b_plane = np.zeros((size, size), np.float32)
    a_plane[16:-16, 16:-16], b_plane[16:-16, 16:-16] = a, b
    linear = ink[..., None] * wash_linear(a_plane, b_plane, darkening=0.53)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(linear_to_codes(linear, 8), dtype=np.uint8)).save(path)


class TruePredictor:
    """Predicts the true wash a*, b* of the print at ``path`` (a perfect model)."""

    def __init__(self, planes: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]]) -> None:
        self.planes = planes

    def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
        return np.stack(self.planes[lightness.shape])


class GreyPredictor:
    def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
        return np.zeros((2, *lightness.shape), np.float32)


@pytest.fixture
def prints(tmp_path: Path) -> list[ImageItem]:
    items = []
    for index, (a, b, size) in enumerate([(30.0, 20.0, 96), (-25.0, 20.0, 104)]):
        path = tmp_path / SOURCE / f"p{index}.png"
        write_print(path, a, b, size)
        items.append(ImageItem(path, SOURCE))
    return items


def test_a_perfect_wash_model_beats_all_baselines(prints: list[ImageItem]) -> None:
    from archive_colorizer.imaging.datasets import load_rgb
    from archive_colorizer.imaging.prints import decompose_print

    planes = {}
    for item in prints:
        layers = decompose_print(load_rgb(item.path))
        planes[layers.wash_a.shape] = (layers.wash_a, layers.wash_b)
    result = evaluate_prints(TruePredictor(planes), prints, "wash", 0.53)
    means = result.means()
    for baseline in ("grey", "best-flat-tint", "flat-wash"):
        assert means["model"]["ciede2000"] < means[baseline]["ciede2000"]
        assert means["model"]["ab_rmse"] < means[baseline]["ab_rmse"]
    assert means["model"]["chromatic_pred"] == pytest.approx(
        means["model"]["chromatic_true"], abs=0.1
    )
    # two hues in the set but one per image
    assert means["grey"]["hue_entropy_true"] == pytest.approx(0.0, abs=0.2)
    assert means["grey"]["chromatic_pred"] == 0.0
    assert result.to_dict()["images"] == 2


def test_a_grey_model_scores_as_the_grey_master(prints: list[ImageItem]) -> None:
    for render in ("wash", "luminance"):
        means = evaluate_prints(GreyPredictor(), prints, render).means()
        assert means["model"]["ciede2000"] == pytest.approx(means["grey"]["ciede2000"], abs=0.05)
        assert means["model"]["cf_pred"] == pytest.approx(0.0, abs=0.01)


def test_the_master_is_the_ink_layer(prints: list[ImageItem]) -> None:
    truth = load_print_truth(prints[0])
    assert truth.master.dtype == np.uint8 and truth.master.ndim == 2
    lines = truth.master[2::6, 20:-20]
    # paper between the lines, inside the wash away from its edge (rows 28..64) and outside it
    inside = truth.master[28:68:6, 28:-28]
    outside = truth.master[4:12:6, :]
    assert lines.max() < 80 and inside.min() > 245 and outside.min() > 245


def test_render_candidate_modes() -> None:
    master = np.full((4, 4), 255, np.uint8)
    wash = render_candidate(master, 30.0, 20.0, "wash", 0.53)
    luminance = render_candidate(master, 30.0, 20.0, "luminance", 0.53)
    # white paper takes colour only under the wash
    assert np.ptp(wash[0, 0].astype(int)) > 20
    assert np.ptp(luminance[0, 0].astype(int)) <= 2
    with pytest.raises(ValueError, match="render"):
        render_candidate(master, 0.0, 0.0, "multiply", 0.53)
    with pytest.raises(ValueError, match="render"):
        evaluate_prints(None, [], "multiply")
