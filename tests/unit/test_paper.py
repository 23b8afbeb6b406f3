"""The paper/ink mask neutralises margins and blank paper but keeps colour on the print."""

from __future__ import annotations

import numpy as np
import pytest

from archive_colorizer.imaging.paper import mean_chroma, neutralise_paper, paper_mask


def page(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """L* of a 200x160 page: paper (L* ~92) with a hatched plate in the middle; plate mask."""
    rng = np.random.default_rng(seed)
    lightness = 92.0 + rng.normal(0, 1.0, size=(200, 160))
    plate = np.zeros_like(lightness, dtype=bool)
    plate[40:160, 30:130] = True
    y, x = np.mgrid[0:200, 0:160]
    lines = ((x + y) % 5) < 2  # diagonal hatching, 40 % ink
    lightness[plate & lines] = 25.0
    return lightness.astype(np.float32), plate


def test_margins_become_exactly_neutral_and_the_plate_keeps_its_colour() -> None:
    lightness, plate = page()
    ab = np.stack((np.full(lightness.shape, 20.0), np.full(lightness.shape, -15.0)))
    out = neutralise_paper(lightness, ab)
    margin = np.ones_like(plate)
    margin[30:170, 20:140] = False  # 10 px away from the plate
    assert mean_chroma(out, margin) == 0.0
    inner = np.zeros_like(plate)
    inner[50:150, 40:120] = True
    assert mean_chroma(out, inner) == pytest.approx(25.0, rel=0.02)


def test_mask_is_one_on_blank_paper_and_zero_on_ink() -> None:
    blank = np.full((50, 50), 90.0, dtype=np.float32)
    assert np.all(paper_mask(blank) == 1.0)
    lightness, plate = page(1)
    mask = paper_mask(lightness)
    assert mask[plate].mean() < 0.05
    assert mask.min() >= 0.0 and mask.max() <= 1.0


def test_shape_errors_are_reported() -> None:
    with pytest.raises(ValueError, match="2-D"):
        paper_mask(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="ab must be"):
        neutralise_paper(np.zeros((4, 4)), np.zeros((2, 3, 3)))
