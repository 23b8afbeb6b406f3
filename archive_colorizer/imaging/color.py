"""CIE L*a*b* (D65) ↔ sRGB for 8- and 16-bit images, vectorised in float32.

Conventions used everywhere in archcolor:

* sRGB is IEC 61966-2-1: the piecewise transfer function (linear segment below 0.0031308) and
  the Rec. 709 primaries with a D65 white point.
* The reference white of L*a*b* is the sRGB white itself (the row sums of the sRGB → XYZ
  matrix), so ``a* = b* = 0`` gives exactly neutral R = G = B and a grey pixel round-trips to
  zero chroma.
* A grey master's sample value is sRGB-encoded luminance: its L* is the L* of the sRGB grey with
  that value (:func:`grey_to_lightness`). Masters are thus colorized without a tone shift.
* Integer images are "code values": 0..255 (8-bit) or 0..65535 (16-bit).

Float functions take and return float32 arrays with the channel on the LAST axis for RGB
(``(..., 3)``) and separate ``L, a, b`` planes for Lab, which is what tiles need.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import cache
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = [
    "SRGB_TO_XYZ",
    "STRIP_PIXELS",
    "WHITE_XYZ",
    "XYZ_TO_SRGB",
    "code_max",
    "grey_ab_to_srgb_codes",
    "grey_to_lightness",
    "into_gamut_inplace",
    "lab_to_srgb",
    "lab_to_srgb_codes",
    "lightness_lut",
    "lightness_to_grey",
    "linear_lut",
    "linear_planes_to_codes",
    "linear_to_codes",
    "linear_to_srgb",
    "rgb_codes_to_grey",
    "srgb_codes_to_lab",
    "srgb_to_lab",
    "srgb_to_linear",
]

FloatArray = npt.NDArray[np.float32]

#: linear sRGB → CIE XYZ (IEC 61966-2-1)
SRGB_TO_XYZ = np.array(
    [
        [0.4124, 0.3576, 0.1805],
        [0.2126, 0.7152, 0.0722],
        [0.0193, 0.1192, 0.9505],
    ],
    dtype=np.float64,
)
#: CIE XYZ → linear sRGB (exact inverse of :data:`SRGB_TO_XYZ`)
XYZ_TO_SRGB = np.linalg.inv(SRGB_TO_XYZ)
#: reference white (D65 as realised by the sRGB primaries; Y = 1)
WHITE_XYZ = SRGB_TO_XYZ.sum(axis=1)

_DELTA = 6.0 / 29.0
_DELTA2_3 = 3.0 * _DELTA * _DELTA
_EPSILON = _DELTA**3
_SRGB_LINEAR_LIMIT = 0.0031308
_SRGB_ENCODED_LIMIT = 0.04045


def code_max(bits: int) -> int:
    """Largest code value of an unsigned ``bits``-bit sample (8 → 255, 16 → 65535)."""
    if bits not in (8, 16):
        raise ValueError(f"bits must be 8 or 16, not {bits}")
    return (1 << bits) - 1


def srgb_to_linear(encoded: npt.ArrayLike) -> FloatArray:
    """sRGB-encoded values in 0..1 → linear light in 0..1 (float32)."""
    v = np.asarray(encoded, dtype=np.float32)
    low = v / np.float32(12.92)
    high = np.power((v + np.float32(0.055)) / np.float32(1.055), np.float32(2.4))
    return np.where(v <= np.float32(_SRGB_ENCODED_LIMIT), low, high).astype(np.float32)


def linear_to_srgb(linear: npt.ArrayLike) -> FloatArray:
    """Linear light in 0..1 → sRGB-encoded values in 0..1 (float32; negatives give 0)."""
    v = np.maximum(np.asarray(linear, dtype=np.float32), np.float32(0.0))
    low = v * np.float32(12.92)
    high = np.float32(1.055) * np.power(v, np.float32(1.0 / 2.4)) - np.float32(0.055)
    return np.where(v <= np.float32(_SRGB_LINEAR_LIMIT), low, high).astype(np.float32)


def _f(t: FloatArray) -> FloatArray:
    """The CIE L*a*b* companding function f(t)."""
    return np.where(
        t > np.float32(_EPSILON),
        np.cbrt(t),
        t / np.float32(_DELTA2_3) + np.float32(4.0 / 29.0),
    ).astype(np.float32)


def _f_inverse(t: FloatArray) -> FloatArray:
    """Inverse of :func:`_f` (computed in place on a new array; the linear toe only where used)."""
    out = t * t * t
    toe = t <= np.float32(_DELTA)
    if toe.any():
        out[toe] = np.float32(_DELTA2_3) * (t[toe] - np.float32(4.0 / 29.0))
    return out.astype(np.float32, copy=False)


def srgb_to_lab(rgb: npt.ArrayLike) -> tuple[FloatArray, FloatArray, FloatArray]:
    """sRGB-encoded ``(..., 3)`` values in 0..1 → ``(L*, a*, b*)`` planes (float32)."""
    linear = srgb_to_linear(rgb)
    xyz = linear @ SRGB_TO_XYZ.T.astype(np.float32)
    white = WHITE_XYZ.astype(np.float32)
    fx = _f(xyz[..., 0] / white[0])
    fy = _f(xyz[..., 1] / white[1])
    fz = _f(xyz[..., 2] / white[2])
    lightness = np.float32(116.0) * fy - np.float32(16.0)
    a = np.float32(500.0) * (fx - fy)
    b = np.float32(200.0) * (fy - fz)
    return lightness.astype(np.float32), a.astype(np.float32), b.astype(np.float32)


def _lab_to_linear_planes(
    lightness: FloatArray, a: FloatArray, b: FloatArray
) -> tuple[list[FloatArray], FloatArray]:
    """L*a*b* planes → ([R, G, B] linear planes, luminance Y), not gamut-mapped."""
    fy = (lightness + np.float32(16.0)) * np.float32(1.0 / 116.0)
    fx = fy + a * np.float32(1.0 / 500.0)
    fz = fy - b * np.float32(1.0 / 200.0)
    white = WHITE_XYZ.astype(np.float32)
    x = _f_inverse(fx) * white[0]
    y = _f_inverse(fy)
    z = _f_inverse(fz) * white[2]
    m = XYZ_TO_SRGB.astype(np.float32)
    planes = [m[c, 0] * x + m[c, 1] * y + m[c, 2] * z for c in range(3)]
    return planes, y


def _into_gamut(planes: list[FloatArray], luminance: FloatArray) -> list[FloatArray]:
    """Bring linear RGB into [0, 1] by desaturating toward the grey of the same luminance.

    Each out-of-gamut pixel is mixed with (Y, Y, Y) just enough to fit. Y is a weighted mean
    of R, G, B with weights summing to 1, so the mix keeps Y - and therefore L* - exactly:
    the master's lightness survives any chroma the network predicts; hue is kept too.
    """
    zero, one = np.float32(0.0), np.float32(1.0)
    y = np.clip(luminance, zero, one)
    high = np.maximum(np.maximum(planes[0], planes[1]), planes[2])
    low = np.minimum(np.minimum(planes[0], planes[1]), planes[2])
    over, under = high > one, low < zero
    if not (over.any() or under.any()):
        return planes
    scale = np.ones_like(y)
    # the largest channel limits the mix from above, the smallest from below
    scale[over] = (one - y[over]) / (high[over] - y[over])
    scale[under] = np.minimum(scale[under], y[under] / (y[under] - low[under]))
    return [np.clip(y + scale * (p - y), zero, one) for p in planes]


def _lab_to_linear(lightness: FloatArray, a: FloatArray, b: FloatArray) -> FloatArray:
    """L*a*b* planes → in-gamut linear sRGB ``(..., 3)`` (see :func:`_into_gamut`)."""
    planes, y = _lab_to_linear_planes(lightness, a, b)
    return np.stack(_into_gamut(planes, y), axis=-1)


def lab_to_srgb(lightness: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike) -> FloatArray:
    """``L*, a*, b*`` planes → sRGB-encoded ``(..., 3)`` in 0..1 (float32).

    Out-of-gamut colours are desaturated at constant luminance (see ``_into_gamut``).
    """
    linear = _lab_to_linear(
        np.asarray(lightness, dtype=np.float32),
        np.asarray(a, dtype=np.float32),
        np.asarray(b, dtype=np.float32),
    )
    return np.clip(linear_to_srgb(linear), 0.0, 1.0).astype(np.float32)


@cache
def _encode_lut_8bit() -> npt.NDArray[np.uint8]:
    """Linear light quantised to 1/65535 → 8-bit sRGB code value (rounded)."""
    linear = np.arange(65536, dtype=np.float64) / 65535.0
    encoded = np.where(
        linear <= _SRGB_LINEAR_LIMIT,
        linear * 12.92,
        1.055 * np.power(linear, 1.0 / 2.4) - 0.055,
    )
    return np.clip(np.rint(encoded * 255.0), 0, 255).astype(np.uint8)


def _f_inverse_into(
    t: FloatArray, out: FloatArray, scratch: FloatArray, mask: npt.NDArray[np.bool_]
) -> None:
    """``out = f^-1(t)`` on preallocated buffers (none may alias ``t``)."""
    np.multiply(t, t, out=out)
    np.multiply(out, t, out=out)
    np.less_equal(t, np.float32(_DELTA), out=mask)
    if mask.any():  # dark pixels (L* <= 8): blend in the linear toe arithmetically
        np.subtract(t, np.float32(4.0 / 29.0), out=scratch)
        np.multiply(scratch, np.float32(_DELTA2_3), out=scratch)
        np.subtract(scratch, out, out=scratch)
        np.multiply(scratch, mask, out=scratch)
        np.add(out, scratch, out=out)


#: floor of the gamut-mapping denominators (linear light); see lab_to_srgb_codes
GAMUT_EPSILON = 1e-6


#: pixels per strip of the per-pixel hot paths: their ~10 float32 work buffers of this many
#: pixels stay in a core's L2 cache, which measured ~2x faster than whole 512 x 512 tiles
STRIP_PIXELS = 32768
#: linear light → 16-bit sRGB code table, indexed by the SQUARE ROOT of linear light in steps of
#: 1/2**19 (floor): in that domain the code's slope is at most 1.45 x 65535 (where the linear toe
#: meets the power law), so an entry, the exact code at its step's midpoint rounded, is within
#: 0.09 code values of the exact value anywhere in its step. 1 MiB, half the 2**20-step table of
#: linear light it replaced (pipeline version 4: up to 0.41 code values off in the toe), which
#: thrashed a core's 2 MiB L2 cache next to the tile and the compressor. Coarser tables are faster
#: still but round smooth ramps irregularly, which deflate pays for: 2**17 steps (0.37) made
#: 16-bit derivatives 2-5 % larger, 2**19 makes them ~0.4 % smaller than version 4.
_SQRT_STEPS = 1 << 19


def _strips(n: int) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` of consecutive strips of at most :data:`STRIP_PIXELS` over ``n``."""
    for start in range(0, n, STRIP_PIXELS):
        yield start, min(n, start + STRIP_PIXELS)


def _code_dtype(bits: int) -> type[np.unsignedinteger[Any]]:
    return np.uint8 if code_max(bits) == 255 else np.uint16


@cache
def _encode_lut_16bit() -> npt.NDArray[np.uint16]:
    """Step ``i`` of the square root of linear light, ``[i, i + 1) / 2**19``, → the 16-bit sRGB
    code value of its midpoint (rounded; the last entry, ``sqrt >= 1``, is white; 1 MiB)."""
    root = (np.arange(_SQRT_STEPS + 1, dtype=np.float64) + 0.5) / _SQRT_STEPS
    linear = np.minimum(root * root, 1.0)
    encoded = np.where(
        linear <= _SRGB_LINEAR_LIMIT,
        linear * 12.92,
        1.055 * np.power(linear, 1.0 / 2.4) - 0.055,
    )
    table = np.clip(np.rint(encoded * 65535.0), 0, 65535).astype(np.uint16)
    table.setflags(write=False)
    return table


class _Buffers:
    """Float32 work buffers (and one mask) of a strip, reused across the strips of a call."""

    def __init__(self, count: int, n: int) -> None:
        size = min(n, STRIP_PIXELS)
        self._floats = [np.empty(size, dtype=np.float32) for _ in range(count)]
        self._mask = np.empty(size, dtype=np.bool_)

    def views(self, size: int) -> tuple[list[FloatArray], npt.NDArray[np.bool_]]:
        return [buffer[:size] for buffer in self._floats], self._mask[:size]


def lab_to_srgb_codes(
    lightness: npt.ArrayLike, a: npt.ArrayLike, b: npt.ArrayLike, bits: int
) -> npt.NDArray[Any]:
    """``L*, a*, b*`` planes → sRGB code values ``(..., 3)`` (uint8 for 8 bits, uint16 for 16).

    Out-of-gamut colours are desaturated at constant luminance (as in :func:`lab_to_srgb`), so
    L* is kept up to quantisation. Linear light is encoded through tables (8 bit: 65536 steps of
    linear light, 16 bit: 2**19 steps of its square root), each within one code value of exact
    rounding. This is a per-pixel hot
    path, so it works in cache-sized strips on a few reused buffers with plain ufuncs.
    """
    code_max(bits)  # validates bits
    lightness = np.asarray(lightness, dtype=np.float32)
    shape = lightness.shape
    n = lightness.size
    lab_l = lightness.reshape(n)
    lab_a = np.asarray(a, dtype=np.float32).reshape(n)
    lab_b = np.asarray(b, dtype=np.float32).reshape(n)
    out = np.empty((n, 3), dtype=_code_dtype(bits))
    buffers = _Buffers(9, n)
    zero, one = np.float32(0.0), np.float32(1.0)
    for start, stop in _strips(n):
        floats, mask = buffers.views(stop - start)
        f_y, _f_z, scratch, x, y, z = floats[:6]
        np.add(lab_l[start:stop], np.float32(16.0), out=f_y)
        np.multiply(f_y, np.float32(1.0 / 116.0), out=f_y)
        _f_inverse_into(f_y, y, scratch, mask)
        planes = _xyz_planes(f_y, y, lab_a[start:stop], lab_b[start:stop], floats, mask)
        np.maximum(y, zero, out=y)  # (np.clip with out= is several times slower)
        np.minimum(y, one, out=y)
        into_gamut_inplace(planes, y, x, z, f_y, scratch)
        _codes_into(planes, bits, out[start:stop])
    return out.reshape(*shape, 3)


def _xyz_planes(
    f_y: FloatArray,
    y: FloatArray,
    lab_a: FloatArray,
    lab_b: FloatArray,
    floats: list[FloatArray],
    mask: npt.NDArray[np.bool_],
) -> list[FloatArray]:
    """Linear R, G, B (``floats[6:9]``) of f(Y) ``f_y``, Y ``y`` and a*, b*; X, Z are left in
    ``floats[3]`` and ``floats[5]``, ``floats[1:3]`` are overwritten."""
    f_z, scratch, x, z = floats[1], floats[2], floats[3], floats[5]
    white = WHITE_XYZ.astype(np.float32)
    np.multiply(lab_a, np.float32(1.0 / 500.0), out=f_z)  # f_x, in the f_z buffer
    np.add(f_y, f_z, out=f_z)
    _f_inverse_into(f_z, x, scratch, mask)
    np.multiply(x, white[0], out=x)
    np.multiply(lab_b, np.float32(-1.0 / 200.0), out=f_z)
    np.add(f_y, f_z, out=f_z)
    _f_inverse_into(f_z, z, scratch, mask)
    np.multiply(z, white[2], out=z)
    m = XYZ_TO_SRGB.astype(np.float32)
    planes = floats[6:9]
    for channel, plane in enumerate(planes):
        np.multiply(x, m[channel, 0], out=plane)
        np.multiply(y, m[channel, 1], out=scratch)
        np.add(plane, scratch, out=plane)
        np.multiply(z, m[channel, 2], out=scratch)
        np.add(plane, scratch, out=plane)
    return planes


@cache
def _f_y_table(bits: int) -> FloatArray:
    """Per grey code: f(Y) = (L* + 16) / 116 as :func:`lab_to_srgb_codes` computes it from
    :func:`lightness_lut` (the same float32 operations, so the results are bit-identical)."""
    f_y = np.add(lightness_lut(bits), np.float32(16.0))
    np.multiply(f_y, np.float32(1.0 / 116.0), out=f_y)
    f_y.setflags(write=False)
    return f_y


def grey_ab_to_srgb_codes(
    grey: npt.NDArray[np.integer], bits: int, a: npt.ArrayLike, b: npt.ArrayLike
) -> npt.NDArray[Any]:
    """Grey master codes ``(h, w)`` with a*, b* ``(h, w)`` → sRGB codes ``(h, w, 3)``: the
    ``luminance`` rendering, identical to
    ``lab_to_srgb_codes(grey_to_lightness(grey, bits), a, b, bits)`` but with f(Y) read from a
    per-code table instead of computed per pixel. (Y is computed from it: gathers from tables
    of Y and clipped Y measured slower than the arithmetic, at either bit depth.)"""
    if grey.dtype != (np.uint8 if bits == 8 else np.uint16):
        raise TypeError(f"{bits}-bit grey must be {'uint8' if bits == 8 else 'uint16'}")
    n = grey.size
    codes, lab_a, lab_b = _flat_pixels(grey, a, b)
    f_y_table = _f_y_table(bits)
    out = np.empty((n, 3), dtype=_code_dtype(bits))
    buffers = _Buffers(9, n)
    for start, stop in _strips(n):
        floats, mask = buffers.views(stop - start)
        f_y, scratch, x, y, z = floats[0], floats[2], floats[3], floats[4], floats[5]
        strip = codes[start:stop]
        np.take(f_y_table, strip, out=f_y)
        _f_inverse_into(f_y, y, scratch, mask)
        planes = _xyz_planes(f_y, y, lab_a[start:stop], lab_b[start:stop], floats, mask)
        np.maximum(y, np.float32(0.0), out=y)
        np.minimum(y, np.float32(1.0), out=y)
        into_gamut_inplace(planes, y, x, z, f_y, scratch)
        _codes_into(planes, bits, out[start:stop])
    return out.reshape(*grey.shape, 3)


def _flat_pixels(
    grey: npt.NDArray[np.integer], a: npt.ArrayLike, b: npt.ArrayLike
) -> tuple[npt.NDArray[np.integer], FloatArray, FloatArray]:
    """Grey codes and a*, b* of the same ``(h, w)`` as contiguous 1-D rows of pixels."""
    n = grey.size
    codes = np.ascontiguousarray(grey).reshape(n)
    return (
        codes,
        np.asarray(a, dtype=np.float32).reshape(n),
        np.asarray(b, dtype=np.float32).reshape(n),
    )


def _codes_into(planes: list[FloatArray], bits: int, out: npt.NDArray[Any]) -> None:
    """Linear R, G, B planes (1-D, overwritten) → ``out`` ``(n, 3)``.

    The planes must be in 0..1 up to rounding, as gamut mapping leaves them: negatives give 0,
    and the 16-bit table's index is clamped (``mode="clip"``) instead of the value: the same
    codes for any value below 2**24, at one pass over the plane less.
    """
    zero, one = np.float32(0.0), np.float32(1.0)
    for channel, plane in enumerate(planes):
        np.maximum(plane, zero, out=plane)
        if bits == 8:
            np.minimum(plane, one, out=plane)
            np.multiply(plane, np.float32(65535.0), out=plane)
            np.add(plane, np.float32(0.5), out=plane)
            out[:, channel] = np.take(_encode_lut_8bit(), plane.astype(np.uint16))
        else:  # sqrt(x * 2**38) = 2**19 sqrt(x) exactly (a power-of-two scale), floored
            np.multiply(plane, np.float32(_SQRT_STEPS * _SQRT_STEPS), out=plane)
            np.sqrt(plane, out=plane)
            out[:, channel] = np.take(_encode_lut_16bit(), plane.astype(np.int32), mode="clip")


def linear_planes_to_codes(
    planes: list[FloatArray], shape: tuple[int, ...], bits: int
) -> npt.NDArray[Any]:
    """Linear R, G, B planes (1-D; clipped to 0..1, then overwritten) → sRGB codes
    ``(*shape, 3)``.

    Encoded through tables (8 bit: 65536 steps of linear light, 16 bit: 2**19 steps of its
    square root), each within one code value of exact rounding.
    """
    code_max(bits)
    for plane in planes:
        np.minimum(plane, np.float32(1.0), out=plane)
    out = np.empty((planes[0].size, 3), dtype=_code_dtype(bits))
    _codes_into(planes, bits, out)
    return out.reshape(*shape, 3)


def into_gamut_inplace(
    planes: list[FloatArray],
    y: FloatArray,
    high: FloatArray,
    low: FloatArray,
    scale: FloatArray,
    scratch: FloatArray,
) -> None:
    """Desaturate linear R, G, B ``planes`` (1-D, in place) toward (Y, Y, Y) until they fit 0..1.

    ``y`` (in 0..1) is each pixel's luminance; ``high``, ``low``, ``scale`` and ``scratch`` are
    work buffers of the same size (overwritten). Each pixel is mixed toward its grey by the
    largest factor <= 1 that fits. The largest channel is >= Y and the smallest <= Y (Y is their
    weighted mean), so (1 - Y) / (max - Y) and Y / (Y - min) are >= 1 for in-gamut pixels. For
    neutral pixels both denominators are 0 up to float rounding, of either sign: they are floored
    at GAMUT_EPSILON so that such a pixel's factor is >= 1 (or its deviation from grey below
    GAMUT_EPSILON anyway). The mix is written ``p + (factor - 1)(p - Y)``, so an in-gamut pixel
    (factor 1) is left exactly as it is whatever its neighbours: strictly per pixel, as tiling
    needs. Y, and therefore L*, is kept.
    """
    one, zero = np.float32(1.0), np.float32(0.0)
    np.maximum(planes[0], planes[1], out=high)
    np.maximum(high, planes[2], out=high)
    np.minimum(planes[0], planes[1], out=low)
    np.minimum(low, planes[2], out=low)
    if not (high.max(initial=0.0) > one or low.min(initial=1.0) < zero):
        return
    with np.errstate(divide="ignore", invalid="ignore"):
        epsilon = np.float32(GAMUT_EPSILON)
        np.subtract(high, y, out=high)
        np.maximum(high, epsilon, out=high)
        np.subtract(one, y, out=scratch)
        np.divide(scratch, high, out=scale)
        np.fmin(scale, one, out=scale)
        np.subtract(y, low, out=low)
        np.maximum(low, epsilon, out=low)
        np.divide(y, low, out=scratch)
        np.fmin(scale, scratch, out=scale)
    np.subtract(scale, one, out=scale)
    for plane in planes:
        np.subtract(plane, y, out=scratch)
        np.multiply(scratch, scale, out=scratch)
        np.add(plane, scratch, out=plane)


def srgb_codes_to_lab(rgb: npt.ArrayLike, bits: int) -> tuple[FloatArray, FloatArray, FloatArray]:
    """sRGB code values ``(..., 3)`` (8- or 16-bit) → ``(L*, a*, b*)`` planes (float32)."""
    values = np.asarray(rgb, dtype=np.float32) / np.float32(code_max(bits))
    return srgb_to_lab(values)


@cache
def lightness_lut(bits: int) -> FloatArray:
    """Table: grey code value (sRGB-encoded luminance) → L* in 0..100 (float32, read-only)."""
    linear = _code_linear(bits)
    f = np.where(linear > _EPSILON, np.cbrt(linear), linear / _DELTA2_3 + 4.0 / 29.0)
    table = (116.0 * f - 16.0).astype(np.float32)
    table.setflags(write=False)
    return table


@cache
def linear_lut(bits: int) -> FloatArray:
    """Table: sRGB code value → linear light in 0..1 (float32, read-only)."""
    table = _code_linear(bits).astype(np.float32)
    table.setflags(write=False)
    return table


def _code_linear(bits: int) -> npt.NDArray[np.float64]:
    """Every sRGB code value's linear light in 0..1 (float64, the sRGB decoding curve)."""
    peak = code_max(bits)
    encoded = np.arange(peak + 1, dtype=np.float64) / peak
    return np.where(
        encoded <= _SRGB_ENCODED_LIMIT, encoded / 12.92, ((encoded + 0.055) / 1.055) ** 2.4
    )


def rgb_codes_to_grey(rgb: npt.NDArray[np.integer], bits: int) -> npt.NDArray[np.integer]:
    """sRGB code values ``(..., 3)`` → grey code values of the same luminance (same dtype).

    Luminance is computed in linear light (Rec. 709 weights, the Y row of the sRGB matrix) and
    encoded back with the sRGB transfer function, so the grey has the colour's L*.
    """
    table = linear_lut(bits)
    weights = SRGB_TO_XYZ[1].astype(np.float32)
    luminance = (
        weights[0] * table[rgb[..., 0]]
        + weights[1] * table[rgb[..., 1]]
        + weights[2] * table[rgb[..., 2]]
    )
    return linear_to_codes(luminance, bits)


def linear_to_codes(linear: npt.ArrayLike, bits: int) -> npt.NDArray[np.integer]:
    """Linear light (clipped to 0..1) → sRGB code values (uint8 for 8 bits, uint16 for 16)."""
    values = np.clip(np.asarray(linear, dtype=np.float32), 0.0, 1.0)
    if bits == 8:
        return _encode_lut_8bit()[np.rint(values * np.float32(65535.0)).astype(np.uint16)]
    peak = code_max(bits)
    return np.clip(np.rint(linear_to_srgb(values) * np.float32(peak)), 0, peak).astype(np.uint16)


def grey_to_lightness(grey: npt.NDArray[np.integer], bits: int) -> FloatArray:
    """Grey code values (uint8 for 8 bits, uint16 for 16) → L* (float32, same shape)."""
    if grey.dtype != (np.uint8 if bits == 8 else np.uint16):
        raise TypeError(f"{bits}-bit grey must be {'uint8' if bits == 8 else 'uint16'}")
    return lightness_lut(bits)[grey]


def lightness_to_grey(lightness: npt.ArrayLike, bits: int) -> npt.NDArray[np.integer]:
    """L* → nearest grey code value (inverse of :func:`grey_to_lightness`)."""
    peak = code_max(bits)
    fy = (np.asarray(lightness, dtype=np.float64) + 16.0) / 116.0
    linear = np.where(fy > _DELTA, fy**3, _DELTA2_3 * (fy - 4.0 / 29.0))
    linear = np.clip(linear, 0.0, 1.0)
    encoded = np.where(
        linear <= _SRGB_LINEAR_LIMIT, linear * 12.92, 1.055 * np.power(linear, 1 / 2.4) - 0.055
    )
    codes = np.clip(np.rint(encoded * peak), 0, peak)
    return codes.astype(np.uint8 if bits == 8 else np.uint16)
