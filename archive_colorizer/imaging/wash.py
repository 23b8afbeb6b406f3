"""Wash rendering: the master's own tones x a transparent watercolour wash (hand-colouring).

An engraving is black ink on white paper; an 1820s colourist laid transparent watercolour washes
over the print. Keeping the master's L* and swapping in a*, b* (``luminance`` rendering) cannot
colour white paper at all: sRGB has no chroma at L* 100. A wash can, because it darkens the
paper it sits on. This module defines the ``wash`` rendering exactly:

1. **The master** is read as sRGB-encoded grey (8 or 16 bit; a bilevel master arrives as 8-bit
   0/255, see :mod:`archive_colorizer.imaging.tiff_read`) and converted to linear light
   ``Y_m = linear_lut(bits)[grey]`` in 0..1 (paper ≈ 1, ink ≈ 0).
2. **The wash** is a colour layer given by its CIE a*, b* (D65, the sRGB white: see
   :mod:`archive_colorizer.imaging.color`), predicted by the network at working resolution and
   enlarged bilinearly. Its lightness is not free: a watercolour wash is lighter the less
   pigment it holds, so ``L*_w = 100 - darkening · C*_w`` with ``C*_w = hypot(a*, b*)``
   (``darkening`` fitted on real hand-coloured prints; :data:`WASH_DARKENING`). The wash
   colour ``(L*_w, a*, b*)`` is converted to linear sRGB ``W`` and brought into gamut by
   desaturating at constant luminance (as everywhere in archcolor). A neutral wash
   (``a* = b* = 0``) is ``W = (1, 1, 1)``: clear water.
3. **Strength** ``s`` in 0..1 per pixel (1 inside the picture, 0 on page margins and blank
   paper, feathered between) thins the wash toward clear water in linear light:
   ``W_s = 1 - s · (1 - W)``.
4. **Output** in linear light is the product ``Y_m · W_s`` per channel (a transparent layer
   multiplies the light the paper reflects), encoded with the sRGB transfer function into
   8-bit (8-bit and bilevel masters) or 16-bit (16-bit masters) code values.

Properties (tested): black ink stays black (``Y_m = 0`` gives 0 whatever the wash); under a
neutral wash or zero strength the output is the master's grey on all three channels, exactly
up to quantisation; every channel is non-increasing in the strength; the operation is per pixel,
so tiled output equals untiled output.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from archive_colorizer.imaging.color import (
    _into_gamut,
    _lab_to_linear_planes,
    linear_lut,
    linear_to_codes,
)

__all__ = ["WASH_DARKENING", "render_wash_codes", "wash_lightness", "wash_linear"]

F32 = npt.NDArray[np.float32]

#: L* lost per unit of wash chroma (``L*_w = 100 - WASH_DARKENING · C*``), fitted on real
#: hand-coloured prints (see models/*/MODEL_CARD.md for the fit of the shipped model).
WASH_DARKENING = 0.53


def wash_lightness(a: npt.ArrayLike, b: npt.ArrayLike, darkening: float = WASH_DARKENING) -> F32:
    """L* of the wash with chroma ``hypot(a*, b*)``: ``100 - darkening · C*`` (floored at 0)."""
    chroma = np.hypot(np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32))
    lightness = np.float32(100.0) - np.float32(darkening) * chroma
    return np.asarray(np.maximum(lightness, np.float32(0.0)), dtype=np.float32)


def wash_linear(
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    strength: npt.ArrayLike | None = None,
    darkening: float = WASH_DARKENING,
) -> F32:
    """The wash layer's linear-sRGB transmittance ``(..., 3)`` in 0..1 (1 = clear water)."""
    if not np.isfinite(darkening) or darkening < 0:
        raise ValueError(f"darkening must be a finite number >= 0, not {darkening!r}")
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    planes, luminance = _lab_to_linear_planes(wash_lightness(a, b, darkening), a, b)
    planes = _into_gamut(planes, luminance)
    one = np.float32(1.0)
    if strength is not None:
        s = np.clip(np.asarray(strength, dtype=np.float32), 0.0, 1.0)
        planes = [one - s * (one - np.clip(p, 0.0, 1.0)) for p in planes]
    return np.asarray(np.clip(np.stack(planes, axis=-1), 0.0, 1.0), dtype=np.float32)


def render_wash_codes(
    grey: npt.NDArray[Any],
    bits: int,
    a: npt.ArrayLike,
    b: npt.ArrayLike,
    strength: npt.ArrayLike | None = None,
    darkening: float = WASH_DARKENING,
) -> npt.NDArray[Any]:
    """Grey master codes ``(h, w)`` x a wash ``a*, b*`` ``(h, w)`` → sRGB codes ``(h, w, 3)``.

    ``bits`` is the master's (8 or 16; uint8 resp. uint16 codes in and out). ``strength``
    (``(h, w)`` in 0..1, default 1) thins the wash toward clear water; see the module docstring.
    """
    expected = np.uint8 if bits == 8 else np.uint16
    if grey.dtype != expected:
        raise TypeError(f"{bits}-bit grey must be {np.dtype(expected).name}, not {grey.dtype}")
    master_linear = linear_lut(bits)[grey]
    layer = wash_linear(a, b, strength, darkening)
    return linear_to_codes(layer * master_linear[..., None], bits)
