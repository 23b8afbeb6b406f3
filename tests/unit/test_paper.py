"""The page mask neutralises margins and the paper around the plate but keeps colour on it."""

from __future__ import annotations

import numpy as np
import pytest

from archive_colorizer.imaging.paper import mean_chroma, neutralise_paper, page_mask


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


def test_shape_errors_are_reported() -> None:
    with pytest.raises(ValueError, match="2-D"):
        page_mask(np.zeros((2, 3, 4)))
    with pytest.raises(ValueError, match="ab must be"):
        neutralise_paper(np.zeros((4, 4)), np.zeros((2, 3, 3)))


# --- the page mask: neutral only OUTSIDE the printed image ------------------------------------

PAPER = 93.0
INK = 20.0


def line_drawing(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """L* of a 300x240 page: a framed line drawing whose inside is mostly blank paper (a sky,
    the white of the figures) with wide margins outside; and the frame's inside as a mask."""
    rng = np.random.default_rng(seed)
    lightness = PAPER + rng.normal(0, 1.0, size=(300, 240))
    top, bottom, left, right = 50, 230, 40, 200
    lightness[top : top + 2, left:right] = INK  # the frame (a ruled border)
    lightness[bottom - 2 : bottom, left:right] = INK
    lightness[top:bottom, left : left + 2] = INK
    lightness[top:bottom, right - 2 : right] = INK
    y, x = np.mgrid[0:300, 0:240]
    figure = np.hypot(y - 170, x - 110) < 30  # a round figure drawn in outline only
    outline = figure & (np.hypot(y - 170, x - 110) > 28)
    lightness[outline] = INK
    lightness[200:204, 60:180] = INK  # a ground line
    inside = np.zeros(lightness.shape, dtype=bool)
    inside[top:bottom, left:right] = True
    return lightness.astype(np.float32), inside


def test_paper_inside_the_picture_is_plate_and_the_margins_are_page() -> None:
    lightness, inside = line_drawing()
    mask = page_mask(lightness)
    assert mask.shape == lightness.shape and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    # the blank sky inside the frame (no ink within 60 px) is plate: it takes the wash
    assert float(mask[60:120, 60:180].max()) == 0.0
    # everything more than a few px outside the frame is page, exactly
    outside = np.ones_like(inside)
    outside[44:236, 34:206] = False
    assert float(mask[outside].min()) == 1.0


def test_an_unframed_vignette_is_its_convex_hull() -> None:
    """Strokes with blank paper between them (no frame): the paper between is plate."""
    rng = np.random.default_rng(3)
    lightness = PAPER + rng.normal(0, 1.0, size=(260, 260))
    for row in range(80, 180, 9):  # a hatched tree crown
        lightness[row : row + 2, 90:170] = INK
    lightness[180:230, 125:133] = INK  # its trunk
    lightness[225:229, 40:220] = INK  # the ground
    lightness[60:64, 30:80] = INK  # a bird, apart from the tree
    mask = page_mask(lightness.astype(np.float32))
    assert float(mask[200:222, 60:110].max()) == 0.0  # blank paper between trunk and ground
    assert float(mask[:20, :].min()) == 1.0 and float(mask[:, 240:].min()) == 1.0


def test_captions_dust_and_blank_pages_stay_page() -> None:
    lightness, _inside = line_drawing(1)
    for x0 in range(60, 180, 8):  # a one-line caption under the plate: letters 5 px high
        lightness[250:255, x0 : x0 + 5] = INK
    for y0, x0 in ((10, 10), (280, 220), (20, 225)):  # foxing / dust specks in the margins
        lightness[y0 : y0 + 2, x0 : x0 + 2] = INK + 30
    mask = page_mask(lightness)
    assert float(mask[246:260, 50:190].min()) == 1.0  # the caption keeps its own tone
    assert float(mask[:30, :].min()) == 1.0 and float(mask[270:, :].min()) == 1.0
    blank = np.full((80, 60), PAPER, np.float32)
    assert np.all(page_mask(blank) == 1.0)


def test_a_continuous_tone_image_is_all_plate() -> None:
    """A photograph or painting without margins, white highlights inside it: nowhere page."""
    y, x = np.mgrid[0:120, 0:160]
    lightness = 45.0 + 0.15 * x + 15.0 * np.sin(y / 9.0)
    lightness[np.hypot(y - 60, x - 80) < 25] = 98.0  # a white cloud, as bright as paper
    assert float(page_mask(lightness.astype(np.float32)).max()) == 0.0


def test_neutralise_paper_is_the_page_mask_on_chroma() -> None:
    lightness, _inside = line_drawing(2)
    ab = np.stack((np.full(lightness.shape, 20.0), np.full(lightness.shape, -15.0)))
    out = neutralise_paper(lightness, ab)
    expected = ab * (1.0 - page_mask(lightness))[None]
    np.testing.assert_allclose(out, expected, rtol=0, atol=1e-5)
    assert mean_chroma(out[:, 60:120, 60:180]) == pytest.approx(25.0, rel=1e-5)
