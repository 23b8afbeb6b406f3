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
3. **Strength** ``s`` in 0..1 per pixel (1 inside the picture, its blank paper included, 0 on
   the page around it: margins, blank paper around the plate, captions; feathered between: see
   :func:`archive_colorizer.imaging.paper.plate_strength`) thins the wash toward clear water
   in linear light:
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

from archive_colorizer.config import RENDER_MODES
from archive_colorizer.imaging.color import (
    _DELTA,
    _DELTA2_3,
    WHITE_XYZ,
    XYZ_TO_SRGB,
    _Buffers,
    _codes_into,
    _flat_pixels,
    _into_gamut,
    _lab_to_linear_planes,
    _strips,
    into_gamut_inplace,
    linear_lut,
)

__all__ = ["RENDER_MODES", "WASH_DARKENING", "render_wash_codes", "wash_lightness", "wash_linear"]

F32 = npt.NDArray[np.float32]

#: the ways archcolor combines predicted colour with a master's tones: ``luminance`` keeps the
#: master's L* and swaps in a*, b*; ``wash`` is this module's master x wash. The first is the
#: default of models whose card names no mode.

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

    This is the per-pixel hot path of ``wash`` colorization: it computes
    ``linear_to_codes(wash_linear(a, b, strength, darkening) * Y_m, bits)`` in cache-sized
    strips on a few reused buffers with plain ufuncs (equal to that composition within one code
    value; tested), and
    strictly per pixel (an in-gamut pixel is never touched by the gamut mapping of others).
    """
    expected = np.uint8 if bits == 8 else np.uint16
    if grey.dtype != expected:
        raise TypeError(f"{bits}-bit grey must be {np.dtype(expected).name}, not {grey.dtype}")
    if not np.isfinite(darkening) or darkening < 0:
        raise ValueError(f"darkening must be a finite number >= 0, not {darkening!r}")
    n = grey.size
    codes, wash_a, wash_b = _flat_pixels(grey, a, b)
    thinning = None if strength is None else np.asarray(strength, dtype=np.float32).reshape(n)
    out = np.empty((n, 3), dtype=expected)
    buffers = _Buffers(9, n)
    for start, stop in _strips(n):
        floats, _mask = buffers.views(stop - start)
        _wash_strip(
            codes[start:stop],
            bits,
            wash_a[start:stop],
            wash_b[start:stop],
            None if thinning is None else thinning[start:stop],
            darkening,
            floats,
        )
        _codes_into(floats[6:9], bits, out[start:stop])
    return out.reshape(*grey.shape, 3)


def _wash_strip(
    grey: npt.NDArray[Any],
    bits: int,
    wash_a: F32,
    wash_b: F32,
    strength: F32 | None,
    darkening: float,
    floats: list[F32],
) -> None:
    """One strip of :func:`render_wash_codes`: linear R, G, B of the output in ``floats[6:9]``."""
    f_y, x, y, z, scratch, master = floats[:6]
    np.take(linear_lut(bits), grey, out=master)
    # f(Y) of the wash: L*_w = max(100 - darkening C*, 0), f_y = (L*_w + 16) / 116
    np.multiply(wash_a, wash_a, out=f_y)
    np.multiply(wash_b, wash_b, out=scratch)
    np.add(f_y, scratch, out=f_y)
    np.sqrt(f_y, out=f_y)
    np.multiply(f_y, np.float32(-darkening), out=f_y)
    np.add(f_y, np.float32(100.0), out=f_y)
    np.maximum(f_y, np.float32(0.0), out=f_y)
    np.add(f_y, np.float32(16.0), out=f_y)
    np.multiply(f_y, np.float32(1.0 / 116.0), out=f_y)
    _cube_into(f_y, y)
    np.multiply(wash_a, np.float32(1.0 / 500.0), out=scratch)
    np.add(f_y, scratch, out=scratch)
    _cube_into(scratch, x)
    np.multiply(wash_b, np.float32(-1.0 / 200.0), out=scratch)
    np.add(f_y, scratch, out=scratch)
    _cube_into(scratch, z)
    white = WHITE_XYZ.astype(np.float32)
    m = XYZ_TO_SRGB.astype(np.float32)
    planes = floats[6:9]
    for channel, plane in enumerate(planes):
        np.multiply(x, m[channel, 0] * white[0], out=plane)
        np.multiply(y, m[channel, 1], out=scratch)
        np.add(plane, scratch, out=plane)
        np.multiply(z, m[channel, 2] * white[2], out=scratch)
        np.add(plane, scratch, out=plane)
    # gamut: desaturate toward (Y, Y, Y) at constant luminance, strictly per pixel; Y = f_y^3
    # is in (0, 1] here
    one, zero = np.float32(1.0), np.float32(0.0)
    into_gamut_inplace(planes, y, x, z, f_y, scratch)
    # the transparent layer: out = Y_m W_s with W_s = 1 - s (1 - W), i.e. Y_m - (Y_m s)(1 - W)
    thinned = None
    if strength is not None:
        thinned = y  # Y_m s
        np.maximum(strength, zero, out=thinned)
        np.minimum(thinned, one, out=thinned)
        np.multiply(thinned, master, out=thinned)
    for plane in planes:
        np.subtract(one, plane, out=plane)  # absorbed share 1 - W, in 0..1
        np.maximum(plane, zero, out=plane)
        np.minimum(plane, one, out=plane)
        np.multiply(plane, master if thinned is None else thinned, out=plane)
        np.subtract(master, plane, out=plane)


def _cube_into(t: F32, out: F32) -> None:
    """``out = f^-1(t)`` (the CIE L*a*b* inverse companding) without touching ``t``."""
    np.multiply(t, t, out=out)
    np.multiply(out, t, out=out)
    if t.min(initial=1.0) <= np.float32(_DELTA):  # the linear toe (rare for a wash)
        toe = t <= np.float32(_DELTA)
        out[toe] = np.float32(_DELTA2_3) * (t[toe] - np.float32(4.0 / 29.0))
