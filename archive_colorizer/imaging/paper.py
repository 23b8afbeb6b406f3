"""Keep the page paper: masks at the working resolution that say where colour may go.

Colorization networks put colour everywhere, including page margins, blank paper around the
plate and captions, which on a print must keep their own tone with zero chroma. Paper *inside*
the picture is different: a colourist laid the wash over it (a sky between engraved lines, the
white of a line drawing), so it must take colour.

:func:`page_mask` (used by the pipeline) is 1 only OUTSIDE the printed image and 0 on the
plate, paper inside the picture included:

1. *ink*: pixels darker than the paper tone (the ``paper_percentile`` of the page's L*) by more
   than ``ink_contrast`` L* whose ``window`` neighbourhood holds at least ``coverage_low`` ink
   (isolated specks of dust or foxing are not ink);
2. a morphological closing with a disc of ``closing`` x the long side joins the strokes of one
   picture into one region;
3. each region (outer contour) that is large enough (``min_area`` of the page) and not shaped
   like a line of text (at most ``text_height`` of the page high and ``text_aspect`` times as
   wide as high: captions, titles, page numbers, rules) is replaced by its filled convex hull:
   the plate. Paper enclosed by or between the strokes of one picture is therefore plate;
4. the plate is grown by ``outset`` px and its strength ramps (smoothstep) from 0 at its edge to
   1 at ``ramp`` px inside, so colour fades in at the plate's edge while everything farther than
   ``outset`` px from the printed image is exactly 0 (the page keeps exactly its own tone).

:func:`plate_strength` is ``1 - page_mask``: the wash strength of ``wash`` rendering and the
factor on a*, b* of ``luminance`` rendering (:func:`neutralise_paper`). A page without ink gets
no colour at all; a continuous-tone image (photograph, painting) is one large region: all plate,
except bright areas at its edge (a sky running off a photograph), which look like paper (as they
did to the older mask): colorize such masters with ``--no-paper-mask``.

An older paper/ink mask that also neutralised paper *inside* the picture (pipeline version
2) left a line drawing almost nothing to colour; it was removed with pipeline version 3.
numpy + OpenCV; memory O(working image).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "mean_chroma",
    "neutralise_paper",
    "plate_strength",
]

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PageParams:
    """Tuning of :func:`page_mask` (working px, L* units and fractions of the page)."""

    paper_percentile: float = 95.0
    ink_contrast: float = 12.0
    window: int = 15
    coverage_low: float = 0.01
    #: closing disc diameter as a fraction of the long side
    closing: float = 0.03
    #: smallest region kept as (part of) the plate, as a fraction of the page's area
    min_area: float = 0.002
    #: a region at most this fraction of the page's height high ...
    text_height: float = 0.08
    #: ... and at least this many times as wide as high is a line/block of text, not plate
    text_aspect: float = 3.0
    #: the plate is grown by this many px (the outermost lines take the full wash)
    outset: int = 3
    #: strength rises from 0 to 1 over this many px inside the grown plate
    ramp: float = 3.0


def _ink(image: F32, p: PageParams) -> npt.NDArray[np.uint8]:
    """Ink pixels (0/1) with enough ink around them (specks are not ink)."""
    paper_tone = float(np.percentile(image, p.paper_percentile))
    ink = (image < paper_tone - p.ink_contrast).astype(np.uint8)
    window = max(1, int(p.window)) | 1
    coverage = cv2.blur(ink.astype(np.float32), (window, window), borderType=cv2.BORDER_REFLECT)
    return np.asarray(ink & (coverage >= p.coverage_low), dtype=np.uint8)


def plate_region(
    lightness: npt.ArrayLike, params: PageParams | None = None
) -> npt.NDArray[np.bool_]:
    """The printed image (plate) as a boolean mask, before growing and feathering."""
    p = params or PageParams()
    image = np.asarray(lightness, dtype=np.float32)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"lightness must be a non-empty 2-D array, got shape {image.shape}")
    height, width = image.shape
    ink = _ink(image, p)
    side = max(1, round(p.closing * max(height, width))) | 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (side, side))
    padded = cv2.copyMakeBorder(ink, side, side, side, side, cv2.BORDER_CONSTANT, value=0)
    closed = cv2.morphologyEx(padded, cv2.MORPH_CLOSE, disc)[side:-side, side:-side]
    contours, _hierarchy = cv2.findContours(closed, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    plate = np.zeros((height, width), dtype=np.uint8)
    min_area = p.min_area * height * width
    for contour in contours:
        hull = cv2.convexHull(contour)
        _x, _y, box_w, box_h = cv2.boundingRect(hull)
        if cv2.contourArea(hull) < min_area:
            continue  # dust, foxing, a stray mark or a lone line
        if box_h <= p.text_height * height and box_w >= p.text_aspect * box_h:
            continue  # a caption, title, page number or rule: page, not plate
        cv2.fillConvexPoly(plate, hull, 1)
    return plate.astype(bool)


def plate_strength(lightness: npt.ArrayLike, params: PageParams | None = None) -> F32:
    """Colour strength in 0..1 per working pixel: 1 on the plate, 0 on the page around it."""
    p = params or PageParams()
    plate = plate_region(lightness, p).astype(np.uint8)
    if not plate.any():
        return np.zeros(plate.shape, dtype=np.float32)
    if p.outset > 0:
        grow = 2 * int(p.outset) + 1
        disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (grow, grow))
        plate = np.asarray(cv2.dilate(plate, disc), dtype=np.uint8)
    if p.ramp <= 0:
        return plate.astype(np.float32)
    # distance of each plate pixel to the nearest page pixel (the image border is not page)
    inside = cv2.distanceTransform(plate, cv2.DIST_L2, 5)
    t = np.clip(inside / np.float32(p.ramp), 0.0, 1.0)
    return np.asarray(t * t * (3.0 - 2.0 * t), dtype=np.float32)


def page_mask(lightness: npt.ArrayLike, params: PageParams | None = None) -> F32:
    """Page-ness in 0..1 per working pixel: 1 outside the printed image, 0 on the plate."""
    return np.asarray(1.0 - plate_strength(lightness, params), dtype=np.float32)


def neutralise_paper(
    lightness: npt.ArrayLike, ab: npt.ArrayLike, params: PageParams | None = None
) -> F32:
    """a*, b* ``(2, h, w)`` times :func:`plate_strength`: the page around the plate neutral."""
    chroma = np.asarray(ab, dtype=np.float32)
    strength = plate_strength(lightness, params)
    if chroma.shape != (2, *strength.shape):
        raise ValueError(
            f"ab must be (2, {strength.shape[0]}, {strength.shape[1]}), got {chroma.shape}"
        )
    return np.asarray(chroma * strength[None], dtype=np.float32)


def mean_chroma(ab: npt.ArrayLike, region: npt.ArrayLike | None = None) -> float:
    """Mean sqrt(a*² + b*²) over ``region`` (a boolean mask; default everywhere)."""
    chroma = np.hypot(*np.asarray(ab, dtype=np.float64))
    if region is None:
        return float(chroma.mean())
    selected = chroma[np.asarray(region, dtype=bool)]
    return float(selected.mean()) if selected.size else 0.0
