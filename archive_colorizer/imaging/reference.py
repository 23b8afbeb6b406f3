"""A colour reference's palette, and moving a page's predicted colour towards it.

A curator's colour reference (a coloured copy of a plate, an approved page of the volume, a
painting) says which colours a volume's colourist used. Besides the network's global prior
(computed from the reference's L*, Iizuka et al. 2016 §5), its *colours* can anchor the page:

* :func:`reference_palette`: the reference's wash as a print would have it
  (:func:`~archive_colorizer.imaging.prints.decompose_print`: the colouring relative to its
  paper, ink removed), summarised by the mean and standard deviation of its a*, b*;
* :func:`transfer_palette`: the predicted a*, b* moved towards that palette, Reinhard et al.
  (2001) style in the a*b* plane: ``ab' = ab + s (mu_ref - mu_pred)`` (``spread=False``), or
  with the spread matched as well, ``ab' = mu + (ab - mu_pred) sigma_ref / sigma_pred`` blended
  by ``s``. Statistics of the prediction are weighted by ``weights`` (the plate strength, so
  page margins neither count nor move);
* :func:`ab_counts` / :func:`ab_prior`: the reference's wash as a histogram over the ab plane
  (its chromatic pixels, weighted by the plate strength: the paper between and around the
  washes says nothing about the colourist's colours), rebinned onto a colorization network's
  quantised ab bins, smoothed and floored so that no colour is impossible: a prior on the
  network's class distribution relative to the page's own mean class distribution
  ``m`` (``log p'(q) = log p(q) + beta (log h(q) - log m(q))``, applied under
  ``archive_colorizer.inference``): colours the reference has more of than the page's
  prediction gain, those it has less of lose;
* :func:`load_reference`: a reference image file (JPEG, PNG or TIFF; colour or grey) as a
  :class:`ReferenceImage`: the sha256 of its bytes (what jobs and provenance name), its L*
  area-reduced to at most :data:`PRIOR_MAX_SIDE` px (the network's global prior sees 224 px)
  and its palette (computed at most :data:`PALETTE_MAX_SIDE` px). The file is read once, and
  read-only; the sha256 is that of exactly the bytes decoded. Its pixels are taken as sRGB
  (an embedded ICC profile is not applied) and its orientation tag is applied for JPEG/PNG.

numpy, Pillow and tifffile; O(working image) besides the decoded reference.
"""

from __future__ import annotations

import hashlib
import io
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import tifffile
from PIL import Image, ImageOps, UnidentifiedImageError

from archive_colorizer.errors import InputError, PathNotFoundError
from archive_colorizer.imaging.color import srgb_codes_to_lab
from archive_colorizer.imaging.paper import plate_strength
from archive_colorizer.imaging.prints import decompose_print
from archive_colorizer.imaging.resample import StreamingAreaReducer
from archive_colorizer.imaging.row_reducer import RowAreaReducer, reduced_size

__all__ = [
    "AB_PRIOR_FLOOR",
    "AB_PRIOR_MIN_CHROMA",
    "AB_PRIOR_SMOOTHING",
    "AB_RANGE",
    "PALETTE_MAX_SIDE",
    "PRIOR_MAX_SIDE",
    "REFERENCE_BYTE_LIMIT",
    "REFERENCE_PIXEL_LIMIT",
    "Palette",
    "ReferenceImage",
    "ab_counts",
    "ab_prior",
    "load_reference",
    "reference_colours",
    "reference_palette",
    "transfer_palette",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
#: a spread below this (Lab units) is not divided by (a flat prediction stays flat)
MIN_SPREAD = 0.5


@dataclass(frozen=True)
class Palette:
    """Mean and standard deviation of a*, b* (Lab units)."""

    mean_a: float
    mean_b: float
    std_a: float
    std_b: float

    def as_dict(self) -> dict[str, float]:
        return {
            "mean_a": round(self.mean_a, 3),
            "mean_b": round(self.mean_b, 3),
            "std_a": round(self.std_a, 3),
            "std_b": round(self.std_b, 3),
        }


def _stats(a: F32, b: F32, weights: F32 | None) -> Palette:
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if w is not None and float(w.sum()) <= 0:
        w = None
    mean_a = float(np.average(a, weights=w))
    mean_b = float(np.average(b, weights=w))
    std_a = float(np.sqrt(np.average((a - mean_a) ** 2, weights=w)))
    std_b = float(np.sqrt(np.average((b - mean_b) ** 2, weights=w)))
    return Palette(mean_a, mean_b, std_a, std_b)


def reference_palette(rgb: npt.NDArray[np.uint8]) -> Palette:
    """The palette of an 8-bit sRGB reference ``(H, W, 3)``: its wash relative to its paper."""
    return reference_colours(rgb)[0]


def reference_colours(rgb: npt.NDArray[np.uint8]) -> tuple[Palette, F64]:
    """The palette (:func:`reference_palette`) and the :func:`ab_counts` of an 8-bit sRGB
    reference's wash, the latter of its chromatic pixels (chroma >= AB_PRIOR_MIN_CHROMA)
    weighted by the plate strength of its ink layer (the page around the plate is left out)."""
    layers = decompose_print(np.asarray(rgb, dtype=np.uint8))
    chromatic = np.hypot(layers.wash_a, layers.wash_b) >= AB_PRIOR_MIN_CHROMA
    strength = plate_strength(layers.ink_lightness) * chromatic
    palette = _stats(layers.wash_a, layers.wash_b, None)
    return palette, ab_counts(layers.wash_a, layers.wash_b, strength)


#: the ab plane covered (Lab units either side of 0), as the networks' quantised ab bins cover it
AB_RANGE = 110.0
#: fine bins of :func:`ab_counts` per axis (1 Lab unit each); a network's grid must divide it
AB_FINE_BINS = 220
#: default Gaussian smoothing of :func:`ab_prior`, in (coarse) bins
AB_PRIOR_SMOOTHING = 1.0
#: default share of :func:`ab_prior` spread uniformly over all bins (no colour impossible)
AB_PRIOR_FLOOR = 0.3
#: wash pixels with at least this chroma count in a reference's colours (the paper between the
#: washes, and faint washes, say nothing about which colours the colourist used)
AB_PRIOR_MIN_CHROMA = 6.0


def ab_counts(a: npt.ArrayLike, b: npt.ArrayLike, weights: npt.ArrayLike | None = None) -> F64:
    """Weighted counts of ``a``, ``b`` on 1-unit bins over ``±AB_RANGE`` (``(220, 220)``
    float64, a-major; values outside are counted in the edge bins)."""
    a_values = np.asarray(a, dtype=np.float64).reshape(-1)
    b_values = np.asarray(b, dtype=np.float64).reshape(-1)
    w = None if weights is None else np.asarray(weights, dtype=np.float64).reshape(-1)
    scale = AB_FINE_BINS / (2.0 * AB_RANGE)
    ia = np.clip(((a_values + AB_RANGE) * scale).astype(np.int64), 0, AB_FINE_BINS - 1)
    ib = np.clip(((b_values + AB_RANGE) * scale).astype(np.int64), 0, AB_FINE_BINS - 1)
    flat = np.bincount(ia * AB_FINE_BINS + ib, weights=w, minlength=AB_FINE_BINS**2)
    return np.asarray(flat.reshape(AB_FINE_BINS, AB_FINE_BINS), dtype=np.float64)


def _gaussian_rows(plane: F64, sigma: float) -> F64:
    radius = max(1, int(np.ceil(3.0 * sigma)))
    x = np.arange(-radius, radius + 1, dtype=np.float64)
    kernel = np.exp(-0.5 * (x / sigma) ** 2)
    kernel /= kernel.sum()
    # "full" and cut: "same" would return the kernel's length for rows shorter than it
    return np.stack([np.convolve(row, kernel)[radius : radius + len(row)] for row in plane])


def ab_prior(
    counts: npt.ArrayLike,
    grid: int,
    smoothing: float = AB_PRIOR_SMOOTHING,
    floor: float = AB_PRIOR_FLOOR,
) -> F64:
    """:func:`ab_counts` as a distribution over ``grid`` x ``grid`` ab bins (``(grid * grid,)``,
    a-major like the networks' classes; sums to 1): rebinned, Gaussian-smoothed by
    ``smoothing`` bins (0: not), then ``(1 - floor) h + floor / grid²`` so every bin keeps at
    least ``floor / grid²``. Empty counts give the uniform distribution."""
    fine = np.asarray(counts, dtype=np.float64)
    if fine.shape != (AB_FINE_BINS, AB_FINE_BINS):
        raise ValueError(f"counts must be {AB_FINE_BINS}x{AB_FINE_BINS}, got {fine.shape}")
    if grid < 1 or AB_FINE_BINS % grid:
        raise ValueError(f"the ab grid {grid} must divide {AB_FINE_BINS}")
    if not 0.0 < floor <= 1.0:
        raise ValueError(f"floor must lie in (0, 1], got {floor}")
    if not (math.isfinite(smoothing) and smoothing >= 0.0):
        raise ValueError(f"smoothing must be >= 0, got {smoothing}")
    step = AB_FINE_BINS // grid
    coarse = fine.reshape(grid, step, grid, step).sum(axis=(1, 3))
    if smoothing > 0:
        coarse = _gaussian_rows(_gaussian_rows(coarse, smoothing).T, smoothing).T
    total = float(coarse.sum())
    shape = coarse / total if total > 0 else np.full_like(coarse, 1.0 / coarse.size)
    prior = (1.0 - floor) * shape.reshape(-1) + floor / coarse.size
    return np.asarray(prior / prior.sum(), dtype=np.float64)


def transfer_palette(
    ab: npt.ArrayLike,
    palette: Palette,
    strength: float = 1.0,
    spread: bool = False,
    weights: npt.ArrayLike | None = None,
) -> F32:
    """``ab`` ``(2, h, w)`` moved towards ``palette`` by ``strength`` (0: unchanged, 1: the
    prediction's weighted mean — and with ``spread`` its standard deviation — is the
    palette's)."""
    values = np.asarray(ab, dtype=np.float32)
    if values.ndim != 3 or values.shape[0] != 2:
        raise ValueError(f"ab must be (2, h, w), got {values.shape}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must lie in [0, 1], got {strength}")
    w = None if weights is None else np.asarray(weights, dtype=np.float32)
    own = _stats(values[0], values[1], w)
    moved = np.empty_like(values)
    for index, (mean, std, ref_mean, ref_std) in enumerate(
        ((own.mean_a, own.std_a, palette.mean_a, palette.std_a),
         (own.mean_b, own.std_b, palette.mean_b, palette.std_b))
    ):  # fmt: skip
        plane = values[index]
        if spread and std >= MIN_SPREAD:
            target = ref_mean + (plane - mean) * (ref_std / std)
        else:
            target = plane + (ref_mean - mean)
        moved[index] = plane + strength * (target - plane)
    if w is not None:  # where the plate strength is 0 (page margins) nothing moves
        moved = values + np.clip(w, 0.0, 1.0)[None] * (moved - values)
    return moved.astype(np.float32)


#: long side of the reference's L* kept for the network's global prior (px)
PRIOR_MAX_SIDE = 512
#: long side at which the reference's palette is measured (px; ink lines still resolved)
PALETTE_MAX_SIDE = 1024
#: a reference may not declare more pixels than this (it is decoded whole, in memory)
REFERENCE_PIXEL_LIMIT = 64_000_000
#: nor be a larger file (it is read into memory once, hashed and decoded from there)
REFERENCE_BYTE_LIMIT = 512 * 1024 * 1024
#: rows converted to L* at a time
_STRIP = 256
_TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")
_PIL_FORMATS = ("JPEG", "PNG")


@dataclass(frozen=True)
class ReferenceImage:
    """A colour reference as the pipeline uses it (see :func:`load_reference`)."""

    path: Path
    #: sha256 of the file's bytes
    sha256: str
    width: int
    height: int
    #: CIE L* float32 ``(h, w)``, long side at most :data:`PRIOR_MAX_SIDE`
    lightness: npt.NDArray[np.float32]
    palette: Palette
    #: :func:`ab_counts` of its wash, weighted by its plate strength (see :func:`ab_prior`)
    colour_counts: F64

    def ab_prior(
        self, grid: int, smoothing: float = AB_PRIOR_SMOOTHING, floor: float = AB_PRIOR_FLOOR
    ) -> F64:
        """Its colours as a prior over a network's ``grid`` x ``grid`` ab classes."""
        return ab_prior(self.colour_counts, grid, smoothing, floor)

    @property
    def file_name(self) -> str:
        return self.path.name

    def describe(self) -> dict[str, Any]:
        """What provenance records of it: sha256, file name, size and palette."""
        return {
            "sha256": self.sha256,
            "file_name": self.file_name,
            "width": self.width,
            "height": self.height,
            "palette": self.palette.as_dict(),
        }


def _refuse(path: Path, why: str) -> InputError:
    return InputError(
        f"{path}: cannot be used as a colour reference: {why}; give a JPEG, PNG or TIFF image "
        f"(colour or grey, at most {REFERENCE_PIXEL_LIMIT // 1_000_000} MP)"
    )


def _check_size(path: Path, width: int, height: int) -> None:
    if width < 1 or height < 1:
        raise _refuse(path, f"it has no pixels ({width}x{height})")
    if width * height > REFERENCE_PIXEL_LIMIT:
        raise _refuse(
            path,
            f"it declares {width}x{height} = {width * height:,} pixels, more than the "
            f"{REFERENCE_PIXEL_LIMIT:,} a reference may have (a reduced copy serves as well)",
        )


def _tiff_codes(path: Path, data: bytes) -> tuple[npt.NDArray[Any], int]:
    try:
        with tifffile.TiffFile(io.BytesIO(data)) as tiff:
            page = tiff.pages.first
            _check_size(path, int(page.imagewidth), int(page.imagelength))
            photometric = int(page.photometric)
            if photometric not in (0, 1, 2, 3, 6) or page.dtype not in (
                np.dtype(np.uint8),
                np.dtype(np.uint16),
                np.dtype(np.bool_),
            ):
                raise _refuse(
                    path, f"its TIFF layout (photometric {photometric}, {page.dtype}) is not read"
                )
            array = np.asarray(page.asarray())
            colormap = page.colormap if photometric == 3 else None
            axes = str(page.axes)
    except InputError:
        raise
    except Exception as error:  # tifffile and imagecodecs raise many types
        raise _refuse(path, f"the TIFF cannot be decoded ({error})") from None
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * np.uint8(255)
    if "S" in axes and axes.index("S") < axes.index("Y"):  # planar: samples first
        array = np.moveaxis(array, axes.index("S"), -1)
    if colormap is not None:  # palette → RGB (16-bit colour map)
        array = np.moveaxis(np.asarray(colormap)[:, array], 0, -1)
    elif photometric == 0:  # min-is-white
        array = np.iinfo(array.dtype).max - array
    bits = 16 if array.dtype == np.uint16 else 8
    return array, bits


def _pil_codes(path: Path, data: bytes) -> tuple[npt.NDArray[Any], int]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)
        with image:
            _check_size(path, image.width, image.height)
            upright: Image.Image = ImageOps.exif_transpose(image) or image
            if upright.mode in ("I;16", "I;16B", "I;16L", "I"):
                return np.asarray(upright, dtype=np.int64).clip(0, 65535).astype(np.uint16), 16
            mode = "L" if upright.mode in ("1", "L", "LA") else "RGB"
            return np.asarray(upright.convert(mode), dtype=np.uint8), 8
    except InputError:
        raise
    except UnidentifiedImageError:
        raise _refuse(path, "its format is not recognised") from None
    except (OSError, ValueError, Image.DecompressionBombError) as error:
        raise _refuse(path, f"its pixels cannot be decoded ({error})") from None


def _reduced(codes: npt.NDArray[Any], bits: int) -> tuple[npt.NDArray[np.float32], Any]:
    """(L* reduced for the prior, 8-bit RGB reduced for the palette), strip by strip."""
    height, width = codes.shape[:2]
    prior_w, prior_h = reduced_size(width, height, PRIOR_MAX_SIDE)
    palette_w, palette_h = reduced_size(width, height, PALETTE_MAX_SIDE)
    lightness = StreamingAreaReducer(width, height, prior_w, prior_h)
    colours = RowAreaReducer(width, height, palette_w, palette_h, channels=3)
    rows: list[npt.NDArray[np.float32]] = []
    scale = np.float32(255.0 / (65535.0 if bits == 16 else 255.0))
    for y0 in range(0, height, _STRIP):
        strip = codes[y0 : y0 + _STRIP]
        rgb = strip if strip.ndim == 3 else np.repeat(strip[..., None], 3, axis=2)
        rgb = rgb[..., :3]
        lightness.add(np.ascontiguousarray(srgb_codes_to_lab(rgb, bits)[0], dtype=np.float32))
        done = colours.add(np.asarray(rgb, dtype=np.float32) * scale)
        if len(done):
            rows.append(done)
    palette_rgb = np.clip(np.rint(np.concatenate(rows)), 0, 255).astype(np.uint8)
    return lightness.result(), palette_rgb


def load_reference(path: Path) -> ReferenceImage:
    """Read the colour reference at ``path`` (read-only; see the module docstring).

    InputError (one line naming the file) when it is missing, too large, unreadable or of an
    unsupported layout.
    """
    path = Path(path)
    if not path.exists():
        raise PathNotFoundError(f"{path}: no such colour reference; check the path")
    if not path.is_file():
        raise _refuse(path, "it is not a file")
    try:
        size = path.stat().st_size
        if size > REFERENCE_BYTE_LIMIT:
            raise _refuse(path, f"it is {size:,} bytes, more than {REFERENCE_BYTE_LIMIT:,}")
        with open(path, "rb") as stream:
            data = stream.read(REFERENCE_BYTE_LIMIT + 1)
    except OSError as error:
        raise _refuse(path, f"it cannot be read ({error.strerror or error})") from None
    if len(data) > REFERENCE_BYTE_LIMIT:
        raise _refuse(path, f"it is more than {REFERENCE_BYTE_LIMIT:,} bytes")
    digest = hashlib.sha256(data).hexdigest()
    is_tiff = data[:4] in _TIFF_MAGIC
    codes, bits = _tiff_codes(path, data) if is_tiff else _pil_codes(path, data)
    del data
    if codes.ndim == 3 and codes.shape[2] < 3:  # grey + alpha
        codes = codes[..., 0]
    if codes.ndim not in (2, 3):
        raise _refuse(path, f"its pixels have the shape {codes.shape}")
    lightness, palette_rgb = _reduced(codes, bits)
    palette, counts = reference_colours(palette_rgb)
    return ReferenceImage(
        path=path,
        sha256=digest,
        width=int(codes.shape[1]),
        height=int(codes.shape[0]),
        lightness=np.ascontiguousarray(lightness, dtype=np.float32),
        palette=palette,
        colour_counts=counts,
    )
