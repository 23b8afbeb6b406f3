"""Image-quality and colour metrics for evaluating colorization (numpy only).

* :func:`psnr` — peak signal-to-noise ratio in dB (``inf`` for identical images).
* :func:`ssim` — structural similarity (Wang et al. 2004: 11x11 Gaussian window, sigma 1.5,
  K1 = 0.01, K2 = 0.03), the mean over the image and over channels.
* :func:`colourfulness` — Hasler & Süsstrunk 2003, on 0..255 sRGB:
  ``sqrt(var_rg + var_yb) + 0.3 sqrt(mean_rg² + mean_yb²)``
  with ``rg = R - G`` and ``yb = (R + G)/2 - B``.
* :func:`colour_cast` — mean a*, b* bias of a prediction against the truth.
* :func:`ciede2000` — CIEDE2000 colour difference (Sharma, Wu & Dalal 2005), per pixel.
"""

from __future__ import annotations

import math

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "ciede2000",
    "colour_cast",
    "colourfulness",
    "psnr",
    "ssim",
]

FloatArray = npt.NDArray[np.float64]


def psnr(prediction: npt.ArrayLike, truth: npt.ArrayLike, peak: float = 255.0) -> float:
    """PSNR in dB between two images of the same shape (``inf`` when identical)."""
    x = np.asarray(prediction, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"psnr: shapes differ {x.shape} vs {y.shape}")
    mse = float(np.mean((x - y) ** 2))
    if mse == 0.0:
        return math.inf
    return 10.0 * math.log10(peak * peak / mse)


def _gaussian_filter(image: FloatArray) -> FloatArray:
    return np.asarray(
        cv2.GaussianBlur(image, (11, 11), 1.5, borderType=cv2.BORDER_REFLECT), dtype=np.float64
    )


def _ssim_plane(x: FloatArray, y: FloatArray, peak: float) -> float:
    c1 = (0.01 * peak) ** 2
    c2 = (0.03 * peak) ** 2
    mu_x, mu_y = _gaussian_filter(x), _gaussian_filter(y)
    var_x = _gaussian_filter(x * x) - mu_x * mu_x
    var_y = _gaussian_filter(y * y) - mu_y * mu_y
    cov = _gaussian_filter(x * y) - mu_x * mu_y
    numerator = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    denominator = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return float(np.mean(numerator / denominator))


def ssim(prediction: npt.ArrayLike, truth: npt.ArrayLike, peak: float = 255.0) -> float:
    """Mean SSIM of grey ``(H, W)`` or colour ``(H, W, C)`` images (channel mean)."""
    x = np.asarray(prediction, dtype=np.float64)
    y = np.asarray(truth, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"ssim: shapes differ {x.shape} vs {y.shape}")
    if x.ndim == 2:
        return _ssim_plane(x, y, peak)
    return float(np.mean([_ssim_plane(x[..., c], y[..., c], peak) for c in range(x.shape[-1])]))


def colourfulness(rgb: npt.ArrayLike) -> float:
    """Hasler & Süsstrunk colourfulness of an sRGB image with values in 0..255."""
    image = np.asarray(rgb, dtype=np.float64)
    red, green, blue = image[..., 0], image[..., 1], image[..., 2]
    rg = red - green
    yb = 0.5 * (red + green) - blue
    spread = math.sqrt(float(np.var(rg)) + float(np.var(yb)))
    centre = math.sqrt(float(np.mean(rg)) ** 2 + float(np.mean(yb)) ** 2)
    return spread + 0.3 * centre


def colour_cast(
    predicted_a: npt.ArrayLike,
    predicted_b: npt.ArrayLike,
    true_a: npt.ArrayLike,
    true_b: npt.ArrayLike,
) -> tuple[float, float]:
    """Mean a* and b* bias of the prediction: ``(mean(a_pred - a_true), mean(b_pred - b_true))``."""
    da = float(np.mean(np.asarray(predicted_a, np.float64) - np.asarray(true_a, np.float64)))
    db = float(np.mean(np.asarray(predicted_b, np.float64) - np.asarray(true_b, np.float64)))
    return da, db


def ciede2000(
    lab1: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
    lab2: tuple[npt.ArrayLike, npt.ArrayLike, npt.ArrayLike],
) -> FloatArray:
    """CIEDE2000 ΔE00 between ``(L, a, b)`` planes (broadcasting), kL = kC = kH = 1."""
    l1, a1, b1 = (np.asarray(v, dtype=np.float64) for v in lab1)
    l2, a2, b2 = (np.asarray(v, dtype=np.float64) for v in lab2)
    c1 = np.hypot(a1, b1)
    c2 = np.hypot(a2, b2)
    c_bar = (c1 + c2) / 2.0
    c_bar7 = c_bar**7
    g = 0.5 * (1.0 - np.sqrt(c_bar7 / (c_bar7 + 25.0**7)))
    a1p = (1.0 + g) * a1
    a2p = (1.0 + g) * a2
    c1p = np.hypot(a1p, b1)
    c2p = np.hypot(a2p, b2)
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360.0)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360.0)

    delta_l = l2 - l1
    delta_c = c2p - c1p
    product = c1p * c2p
    dh = h2p - h1p
    dh = np.where(dh > 180.0, dh - 360.0, np.where(dh < -180.0, dh + 360.0, dh))
    dh = np.where(product == 0, 0.0, dh)
    delta_h = 2.0 * np.sqrt(product) * np.sin(np.radians(dh / 2.0))

    l_bar = (l1 + l2) / 2.0
    c_bar_p = (c1p + c2p) / 2.0
    h_sum = h1p + h2p
    h_bar = np.where(
        product == 0,
        h_sum,
        np.where(
            np.abs(h1p - h2p) <= 180.0,
            h_sum / 2.0,
            np.where(h_sum < 360.0, (h_sum + 360.0) / 2.0, (h_sum - 360.0) / 2.0),
        ),
    )
    t = (
        1.0
        - 0.17 * np.cos(np.radians(h_bar - 30.0))
        + 0.24 * np.cos(np.radians(2.0 * h_bar))
        + 0.32 * np.cos(np.radians(3.0 * h_bar + 6.0))
        - 0.20 * np.cos(np.radians(4.0 * h_bar - 63.0))
    )
    delta_theta = 30.0 * np.exp(-(((h_bar - 275.0) / 25.0) ** 2))
    c_bar_p7 = c_bar_p**7
    r_c = 2.0 * np.sqrt(c_bar_p7 / (c_bar_p7 + 25.0**7))
    l_term = (l_bar - 50.0) ** 2
    s_l = 1.0 + 0.015 * l_term / np.sqrt(20.0 + l_term)
    s_c = 1.0 + 0.045 * c_bar_p
    s_h = 1.0 + 0.015 * c_bar_p * t
    r_t = -np.sin(np.radians(2.0 * delta_theta)) * r_c
    result = np.sqrt(
        (delta_l / s_l) ** 2
        + (delta_c / s_c) ** 2
        + (delta_h / s_h) ** 2
        + r_t * (delta_c / s_c) * (delta_h / s_h)
    )
    return np.asarray(result, dtype=np.float64)
