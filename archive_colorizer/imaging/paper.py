"""Keep paper paper: a paper/ink mask at the working resolution that neutralises chroma.

Colorization networks put colour everywhere, including blank paper, plate margins and page
margins, which on a print must keep their own tone with zero chroma. :func:`paper_mask` finds
paper as pixels whose neighbourhood carries (almost) no ink:

1. the paper tone is a high percentile of the page's L* (``paper_percentile``);
2. a pixel is *ink* when it is darker than the paper tone by more than ``ink_contrast`` L*;
3. the ink coverage around each pixel is the fraction of ink pixels in a window of
   ``window`` working px (a box filter);
4. paper-ness falls from 1 (coverage <= ``coverage_low``) to 0 (coverage >= ``coverage_high``),
   and the mask is feathered with a Gaussian of ``feather`` px so that colour fades into the
   margins rather than stopping at a hard edge.

:func:`neutralise_paper` multiplies a*, b* by ``1 - mask``. Hatched skies and shaded areas have
ink coverage well above a few per cent and keep their colour; margins and blank paper go to
exactly zero chroma. numpy + OpenCV; memory O(working image).
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

F32 = npt.NDArray[np.float32]


@dataclass(frozen=True)
class PaperParams:
    """Tuning of :func:`paper_mask` (working-resolution pixels and L* units)."""

    paper_percentile: float = 95.0
    ink_contrast: float = 12.0
    window: int = 15
    coverage_low: float = 0.01
    coverage_high: float = 0.06
    feather: float = 2.0


def paper_mask(lightness: npt.ArrayLike, params: PaperParams | None = None) -> F32:
    """Paper-ness in 0..1 per working pixel (1 = blank paper) from L* ``(h, w)`` in 0..100."""
    p = params or PaperParams()
    image = np.asarray(lightness, dtype=np.float32)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"lightness must be a non-empty 2-D array, got shape {image.shape}")
    paper_tone = float(np.percentile(image, p.paper_percentile))
    ink = (image < paper_tone - p.ink_contrast).astype(np.float32)
    window = max(1, int(p.window)) | 1
    coverage = cv2.blur(ink, (window, window), borderType=cv2.BORDER_REFLECT)
    span = max(p.coverage_high - p.coverage_low, 1e-6)
    paperness = np.clip((p.coverage_high - coverage) / span, 0.0, 1.0)
    # ink pixels themselves are never paper
    paperness = paperness * (1.0 - ink)
    if p.feather > 0:
        paperness = cv2.GaussianBlur(
            paperness, (0, 0), float(p.feather), borderType=cv2.BORDER_REFLECT
        )
        # fully blank neighbourhoods stay exactly neutral after feathering
        paperness = np.where(coverage <= p.coverage_low, 1.0, paperness)
    return np.asarray(np.clip(paperness, 0.0, 1.0), dtype=np.float32)


def neutralise_paper(
    lightness: npt.ArrayLike, ab: npt.ArrayLike, params: PaperParams | None = None
) -> F32:
    """a*, b* ``(2, h, w)`` with the chroma of paper removed (see the module docstring)."""
    chroma = np.asarray(ab, dtype=np.float32)
    mask = paper_mask(lightness, params)
    if chroma.shape != (2, *mask.shape):
        raise ValueError(f"ab must be (2, {mask.shape[0]}, {mask.shape[1]}), got {chroma.shape}")
    return np.asarray(chroma * (1.0 - mask)[None], dtype=np.float32)


def mean_chroma(ab: npt.ArrayLike, region: npt.ArrayLike | None = None) -> float:
    """Mean sqrt(a*² + b*²) over ``region`` (a boolean mask; default everywhere)."""
    chroma = np.hypot(*np.asarray(ab, dtype=np.float64))
    if region is None:
        return float(chroma.mean())
    selected = chroma[np.asarray(region, dtype=bool)]
    return float(selected.mean()) if selected.size else 0.0
