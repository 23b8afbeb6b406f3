"""Metric code against cases with known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from archive_colorizer.imaging.metrics import ciede2000, colour_cast, colourfulness, psnr, ssim

# Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
# supplementary test data, and mathematical observations", Table 1: L1 a1 b1 L2 a2 b2 ΔE00
SHARMA = [
    (50.0000, 2.6772, -79.7751, 50.0000, 0.0000, -82.7485, 2.0425),
    (50.0000, 3.1571, -77.2803, 50.0000, 0.0000, -82.7485, 2.8615),
    (50.0000, 2.8361, -74.0200, 50.0000, 0.0000, -82.7485, 3.4412),
    (50.0000, -1.3802, -84.2814, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -1.1848, -84.8006, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, -0.9009, -85.5211, 50.0000, 0.0000, -82.7485, 1.0000),
    (50.0000, 0.0000, 0.0000, 50.0000, -1.0000, 2.0000, 2.3669),
    (50.0000, -1.0000, 2.0000, 50.0000, 0.0000, 0.0000, 2.3669),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0009, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0010, 7.1792),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0011, 7.2195),
    (50.0000, 2.4900, -0.0010, 50.0000, -2.4900, 0.0012, 7.2195),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0009, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0010, -2.4900, 4.8045),
    (50.0000, -0.0010, 2.4900, 50.0000, 0.0011, -2.4900, 4.7461),
    (50.0000, 2.5000, 0.0000, 50.0000, 0.0000, -2.5000, 4.3065),
    (50.0000, 2.5000, 0.0000, 73.0000, 25.0000, -18.0000, 27.1492),
    (50.0000, 2.5000, 0.0000, 61.0000, -5.0000, 29.0000, 22.8977),
    (50.0000, 2.5000, 0.0000, 56.0000, -27.0000, -3.0000, 31.9030),
    (50.0000, 2.5000, 0.0000, 58.0000, 24.0000, 15.0000, 19.4535),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.1736, 0.5854, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2972, 0.0000, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 1.8634, 0.5757, 1.0000),
    (50.0000, 2.5000, 0.0000, 50.0000, 3.2592, 0.3350, 1.0000),
    (60.2574, -34.0099, 36.2677, 60.4626, -34.1751, 39.4387, 1.2644),
    (63.0109, -31.0961, -5.8663, 62.8187, -29.7946, -4.0864, 1.2630),
    (61.2901, 3.7196, -5.3901, 61.4292, 2.2480, -4.9620, 1.8731),
    (35.0831, -44.1164, 3.7933, 35.0232, -40.0716, 1.5901, 1.8645),
    (22.7233, 20.0904, -46.6940, 23.0331, 14.9730, -42.5619, 2.0373),
    (36.4612, 47.8580, 18.3852, 36.2715, 50.5065, 21.2231, 1.4146),
    (90.8027, -2.0831, 1.4410, 91.1528, -1.6435, 0.0447, 1.4441),
    (90.9257, -0.5406, -0.9208, 88.6381, -0.8985, -0.7239, 1.5381),
    (6.7747, -0.2908, -2.4247, 5.8714, -0.0985, -2.2286, 0.6377),
    (2.0776, 0.0795, -1.1350, 0.9033, -0.0636, -0.5514, 0.9082),
]


def test_ciede2000_matches_sharma_test_data() -> None:
    table = np.array(SHARMA)
    got = ciede2000(
        (table[:, 0], table[:, 1], table[:, 2]), (table[:, 3], table[:, 4], table[:, 5])
    )
    np.testing.assert_allclose(got, table[:, 6], atol=5e-5)


def test_ciede2000_is_symmetric_and_zero_on_equal_colours() -> None:
    table = np.array(SHARMA)
    first = (table[:, 0], table[:, 1], table[:, 2])
    second = (table[:, 3], table[:, 4], table[:, 5])
    np.testing.assert_allclose(ciede2000(first, second), ciede2000(second, first), atol=1e-9)
    assert np.all(ciede2000(first, first) == 0.0)


def test_psnr_of_a_known_error() -> None:
    truth = np.zeros((10, 10, 3), dtype=np.uint8)
    prediction = truth.copy()
    prediction[..., 0] = 3  # MSE = 9 / 3 = 3
    assert psnr(prediction, truth) == pytest.approx(10 * math.log10(255**2 / 3.0))
    assert psnr(truth, truth) == math.inf


def test_ssim_is_one_for_identical_and_lower_for_noise() -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 256, size=(32, 40, 3)).astype(np.float64)
    assert ssim(image, image) == pytest.approx(1.0)
    noisy = np.clip(image + rng.normal(0, 40, size=image.shape), 0, 255)
    assert ssim(noisy, image) < 0.9
    assert ssim(noisy, image) == pytest.approx(ssim(image, noisy))


def test_ssim_of_constant_images_follows_the_luminance_term() -> None:
    x = np.full((20, 20), 100.0)
    y = np.full((20, 20), 150.0)
    c1 = (0.01 * 255) ** 2
    expected = (2 * 100 * 150 + c1) / (100**2 + 150**2 + c1)
    assert ssim(x, y) == pytest.approx(expected, rel=1e-9)


def test_colourfulness_known_values() -> None:
    grey = np.full((8, 8, 3), 128, dtype=np.uint8)
    assert colourfulness(grey) == pytest.approx(0.0)
    red = np.zeros((8, 8, 3))
    red[..., 0] = 255
    assert colourfulness(red) == pytest.approx(0.3 * math.hypot(255.0, 127.5))
    half = np.zeros((2, 2, 3))
    half[0, :, 0] = 255  # rg = 255 / 0, yb = 127.5 / 0 on two halves
    expected = math.hypot(127.5, 63.75) + 0.3 * math.hypot(127.5, 63.75)
    assert colourfulness(half) == pytest.approx(expected)


def test_colour_cast_is_the_mean_bias() -> None:
    true_a = np.zeros((4, 4))
    true_b = np.ones((4, 4))
    assert colour_cast(true_a + 2.0, true_b - 3.0, true_a, true_b) == pytest.approx((2.0, -3.0))
