"""Colorize one master page into a derivative TIFF of the same dimensions.

The data path (memory O(tile), not O(page), at the default chroma size):

1. **read + reduce** — stream the master's normalised grey band by band (``tiff_read``), convert
   to CIE L* and area-average it to the working (chroma) size, optionally through a low-pass;
2. **network** — ``predictor.predict_ab(L_work)`` gives a*, b* at the working size;
   The plate strength (:func:`~archive_colorizer.imaging.paper.plate_strength`: 1 on the printed
   image, paper inside the picture included, 0 on the page around it) is computed from the same
   working L* when ``paper_mask`` is on;
3. **upsample + colour** — for each output tile, a*, b* (and the strength) are interpolated
   bilinearly at the tile's full-resolution pixel centres in whole-image coordinates (so any
   tiling gives the same pixels) and combined with the master's own full-resolution tones by
   the ``render`` mode: ``luminance`` keeps the master's ORIGINAL L* and takes a*, b* times the
   strength (L*a*b* → sRGB); ``wash`` multiplies the master by a transparent watercolour wash
   of that a*, b* thinned to clear water by the strength
   (:func:`~archive_colorizer.imaging.wash.render_wash_codes`), so ink stays ink and paper
   inside the picture takes colour. 8-bit sRGB for 8-bit/bilevel/palette masters, 16-bit for
   16-bit masters;
4. **write** — tiles stream into ``tiff_write`` (temp file beside the target, fsync, rename) with
   the master's resolution, an sRGB ICC profile and the provenance XMP packet.

Full-resolution a*/b* (and strength) exist only per tile. ``chroma_size=0`` (full-resolution
chroma) makes the working image as large as the page, which costs ~12 bytes per pixel for L*
and a*/b* (16 with the strength).

Determinism: for the same master, predictor output, parameters and ``provenance`` the
derivative is byte-identical. The TIFF DateTime and ``xmp:CreateDate`` are therefore taken from
``provenance["datetime"]`` (the caller decides what time to record — for example the job's
creation time) and are omitted when it is absent; nothing reads the clock.
"""

from __future__ import annotations

import functools
import inspect
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import numpy.typing as npt

from archive_colorizer import __version__
from archive_colorizer.config import DEFAULT_CHROMA_SIZE, DEFAULT_PIXEL_LIMIT
from archive_colorizer.errors import ConfigurationError, InferenceError, OutputError
from archive_colorizer.imaging import color, metadata
from archive_colorizer.imaging.geometry import linear_taps, working_size
from archive_colorizer.imaging.hint_propagation import (
    DEFAULT_PROPAGATION,
    HintPropagation,
    propagate_hints,
)
from archive_colorizer.imaging.paper import plate_strength
from archive_colorizer.imaging.reference import (
    AB_PRIOR_FLOOR,
    AB_PRIOR_MIN_CHROMA,
    AB_PRIOR_SMOOTHING,
    ReferenceImage,
    transfer_palette,
)
from archive_colorizer.imaging.resample import area_reduce, gaussian_lowpass
from archive_colorizer.imaging.tiff_read import MasterPage, open_master
from archive_colorizer.imaging.tiff_write import COMPRESSIONS, write_tiled_tiff
from archive_colorizer.imaging.wash import RENDER_MODES, WASH_DARKENING, render_wash_codes

if TYPE_CHECKING:
    from archive_colorizer.services.hints import PageHintSet

__all__ = [
    "DEFAULT_CHROMA_SIZE",
    "DEFAULT_LOWPASS",
    "DEFAULT_REFERENCE_PALETTE",
    "DEFAULT_REFERENCE_PRIOR",
    "OUTPUT_TILE",
    "PIPELINE_VERSION",
    "RENDERS",
    "STAGES",
    "ChromaPredictor",
    "ColorizeParams",
    "ColorizeResult",
    "ModelBinding",
    "colorize_master",
    "colorize_master_late",
    "predict_chroma",
    "resolve_reference_prior",
    "resolve_render",
    "resolve_rendering",
    "working_lightness",
]

#: bump when a change to this pipeline changes output pixels or bytes (part of job keys)
#: 2: paper/ink mask keeps blank paper and margins neutral (``ColorizeParams.paper_mask``)
#: 3: ``render`` (luminance | wash); the paper mask keeps only the page around the plate neutral
#:    (paper inside the picture takes colour), in both modes
#: 4: 16-bit codes from a 2**20-step table of linear light (within one code value of 3)
#: 5: 16-bit derivatives with the horizontal predictor and deflate level 1; 16-bit codes from a
#:    2**19-step table of the square root of linear light (within one code value of 4); the
#:    sRGB profile's creation date fixed (every derivative's bytes)
#: 6: bilevel masters descreened before the network (``bilevel_lowpass``)
PIPELINE_VERSION = 6
#: long side of the working image. Chroma is low-frequency (the eye resolves colour far more
#: coarsely than luminance), the network's global features see 224 px anyway, and ~1 MP keeps
#: the network at seconds on a CPU while a 30000 px master still gets a colour sample every
#: ~30 px — far finer than any colour boundary a viewer can place in an engraving.
#: Gaussian sigma in WORKING pixels. The master is area-reduced to twice the working size,
#: blurred with sigma 2 x 0.5 = 1 px there (the classic anti-alias filter for a 2x decimation)
#: and area-reduced by 2. This removes the moiré that engraved line and halftone screens leave
#: after a plain box reduction, while blurring chroma-relevant structure by under one working px.
DEFAULT_LOWPASS = 0.5
#: low-pass sigma (working px) for bilevel masters: their lines and dots are their only tone,
#: so the network sees them descreened (measured: benchmarks/bilevel_lowpass.py)
DEFAULT_BILEVEL_LOWPASS = 2.0
#: how far a colour reference's palette moves the page's predicted a*, b* towards it (0..1, see
#: :func:`~archive_colorizer.imaging.reference.transfer_palette`); 0: the reference acts through
#: the network's global prior only
DEFAULT_REFERENCE_PALETTE = 0.0
#: the weight ``beta`` of a colour reference's ab histogram ``h`` as a prior on the network's
#: class distribution relative to the page's own mean ``m`` (``p' ∝ p (h / m)^beta``,
#: :meth:`ReferenceImage.ab_prior`) when none is asked for and the model has a class head;
#: chosen on half A of the val prints (lowest CIEDE2000; see the CHANGELOG)
DEFAULT_REFERENCE_PRIOR = 0.25
#: the largest weight accepted
MAX_REFERENCE_PRIOR = 10.0
#: output TIFF tile edge (px)
OUTPUT_TILE = 512
#: how colour is combined with the master's tones (see the module docstring); the first is the
#: default for models whose card names no mode
RENDERS = RENDER_MODES
#: stage names of ColorizeResult.stage_seconds
STAGES = ("read", "reduce", "network", "upsample_colour", "write")


class ChromaPredictor(Protocol):
    """Anything that predicts chroma for a working-resolution lightness image."""

    def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
        """lightness: float32 (h, w) CIE L* in 0..100 at the working resolution (C-contiguous).
        Returns float32 (2, h, w): CIE a*, b* at the same resolution."""
        ...


@dataclass(frozen=True)
class ColorizeParams:
    """Parameters of the pipeline that change the output (the network's own are the caller's).

    ``chroma_size``: long side of the working image in px; 0 = full resolution.
    ``lowpass``: Gaussian sigma in working-image px applied before the network to suppress
    line/dot screens (see DEFAULT_LOWPASS); 0 = off (plain area average). ``bilevel_lowpass``
    takes its place for bilevel (1-bit) masters, whose tone is all screen (descreening).
    ``compression``: none | lzw | deflate | zstd for the derivative; deflate is the default
    because it is lossless, compact and read by every TIFF consumer archives use (zstd is not
    read by Photoshop or older libtiff).
    ``paper_mask``: keep the page around the printed image (margins, blank paper around the
    plate, captions) at its own tone with zero chroma (:mod:`archive_colorizer.imaging.paper`);
    paper inside the picture takes colour.
    ``render``: ``luminance`` (the master's L* kept, a*, b* swapped in: for continuous-tone
    masters) or ``wash`` (master x transparent watercolour wash: for engravings and bilevel
    masters, whose paper has no room for chroma at its own L*); see :func:`resolve_render`.
    """

    chroma_size: int = DEFAULT_CHROMA_SIZE
    lowpass: float = DEFAULT_LOWPASS
    #: the low-pass sigma used instead of ``lowpass`` when the master is bilevel (1-bit)
    bilevel_lowpass: float = DEFAULT_BILEVEL_LOWPASS
    compression: str = "deflate"
    paper_mask: bool = True
    render: str = RENDERS[0]
    #: wash mode: L* the wash loses per unit of chroma (the model card's ``wash_darkening``)
    wash_darkening: float = WASH_DARKENING
    #: sha256 of the colour reference's file whose L* gives the network's global prior (Iizuka
    #: et al. 2016 §5) and whose palette the colour moves towards; None: the page's own
    reference_sha256: str | None = None
    #: with a reference: palette transfer strength, 0 (global prior only) .. 1
    reference_palette: float = DEFAULT_REFERENCE_PALETTE
    #: with a reference: weight of its ab histogram as a prior on the class head (0: none;
    #: the commands' default is :func:`resolve_reference_prior`'s)
    reference_prior: float = 0.0
    #: with a reference: its L* gives the network's global prior (False: the page's own; the
    #: commands' default is :func:`resolve_reference_prior`'s)
    reference_global: bool = True
    #: sha256 of the page's colour hint set (``services.hints``: the canonical hints): spread
    #: over the prediction of any model (``hint_propagation``; a model with hint inputs also
    #: takes them as inputs); None: no hints
    hints_sha256: str | None = None
    #: how hints correct the prediction (:mod:`~archive_colorizer.imaging.hint_propagation`)
    hint_propagation: HintPropagation = DEFAULT_PROPAGATION

    def __post_init__(self) -> None:
        if isinstance(self.hint_propagation, Mapping):  # a job's stored parameters
            try:
                stored = HintPropagation.from_dict(self.hint_propagation)
            except (TypeError, ValueError) as error:
                raise ConfigurationError(f"hint propagation parameters: {error}") from error
            object.__setattr__(self, "hint_propagation", stored)
        if not isinstance(self.chroma_size, int) or self.chroma_size < 0:
            raise ConfigurationError(
                f"--chroma-size must be a whole number of pixels >= 0 (0 = full resolution), "
                f"not {self.chroma_size!r}"
            )
        for name, sigma in (("low-pass", self.lowpass), ("bilevel low-pass", self.bilevel_lowpass)):
            if not math.isfinite(sigma) or sigma < 0:
                raise ConfigurationError(f"{name} sigma must be >= 0, not {sigma!r}")
        if self.compression not in COMPRESSIONS:
            raise ConfigurationError(
                f"--compression must be one of {', '.join(COMPRESSIONS)}, not {self.compression!r}"
            )
        if self.render not in RENDERS:
            raise ConfigurationError(
                f"--render must be {' or '.join(RENDERS)}, not {self.render!r}"
            )
        if not math.isfinite(self.wash_darkening) or self.wash_darkening < 0:
            raise ConfigurationError(
                f"wash darkening must be a number >= 0, not {self.wash_darkening!r}"
            )
        if not _is_sha256(self.reference_sha256):
            raise ConfigurationError(
                f"a colour reference is named by the lower-case hex sha256 of its file, "
                f"not {self.reference_sha256!r}"
            )
        if not _is_sha256(self.hints_sha256):
            raise ConfigurationError(
                f"a hint set is named by the lower-case hex sha256 of its canonical hints, "
                f"not {self.hints_sha256!r}"
            )
        if not 0.0 <= self.reference_prior <= MAX_REFERENCE_PRIOR:  # also refuses NaN
            raise ConfigurationError(
                f"--reference-prior must lie in 0..{MAX_REFERENCE_PRIOR:g}, "
                f"not {self.reference_prior!r}"
            )
        if not 0.0 <= self.reference_palette <= 1.0:  # also refuses NaN
            raise ConfigurationError(
                f"--reference-palette must lie in 0..1, not {self.reference_palette!r}"
            )

    def as_dict(self) -> dict[str, Any]:
        """Everything this pipeline's output depends on besides inputs and model (JSON-able)."""
        return {
            "chroma_size": self.chroma_size,
            "lowpass": float(self.lowpass),
            "bilevel_lowpass": float(self.bilevel_lowpass),
            "compression": self.compression,
            "output_tile": OUTPUT_TILE,
            "paper_mask": bool(self.paper_mask),
            "pipeline_version": PIPELINE_VERSION,
            "render": self.render,
            # only the wash depends on it: luminance jobs keep their parameters
            **({"wash_darkening": float(self.wash_darkening)} if self.render == "wash" else {}),
            # only with a reference: every job key and parameter set without one is unchanged
            **(
                {
                    "reference_sha256": self.reference_sha256,
                    "reference_palette": float(self.reference_palette),
                    **self._prior_dict(),
                    **({} if self.reference_global else {"reference_global": False}),
                }
                if self.reference_sha256 is not None
                else {}
            ),
            # only with hints: pages without hints keep their keys
            **(
                {
                    "hints_sha256": self.hints_sha256,
                    "hint_propagation": self.hint_propagation.as_dict(),
                }
                if self.hints_sha256 is not None
                else {}
            ),
        }

    def _prior_dict(self) -> dict[str, float]:
        """The reference prior's parameters; none at weight 0 (jobs from before it keep their
        keys)."""
        if self.reference_prior <= 0:
            return {}
        return {
            "reference_prior": float(self.reference_prior),
            "reference_prior_smoothing": AB_PRIOR_SMOOTHING,
            "reference_prior_floor": AB_PRIOR_FLOOR,
            "reference_prior_min_chroma": AB_PRIOR_MIN_CHROMA,
        }


def resolve_reference_prior(
    params: ColorizeParams,
    requested: float | None,
    class_grid: int,
    reference_global: bool | None = None,
) -> ColorizeParams:
    """``params`` with the reference prior's weight: ``requested``, else
    :data:`DEFAULT_REFERENCE_PRIOR` for a model with a class head (``class_grid`` > 0) and 0
    for one without (ConfigurationError when a weight > 0 is asked of such a model); and
    whether the reference gives the global prior: ``reference_global``, else not when its
    colours weight the class head (measured better so), else yes."""
    if requested is None:
        requested = DEFAULT_REFERENCE_PRIOR if class_grid else 0.0
    elif requested > 0 and not class_grid:
        raise ConfigurationError(
            "--reference-prior needs a model with a class head (ab_grid > 0); give 0 or "
            "leave it out"
        )
    if reference_global is None:
        reference_global = requested == 0
    return replace(
        params, reference_prior=float(requested), reference_global=bool(reference_global)
    )


def _is_sha256(digest: str | None) -> bool:
    """None, or 64 lower-case hex digits."""
    return digest is None or (
        isinstance(digest, str)
        and len(digest) == 64
        and not digest.strip("0123456789abcdef")
        and digest == digest.lower()
    )


def resolve_render(requested: str | None, card: Any = None) -> str:
    """The render mode to use: ``requested`` when given, else the mode the model's card names
    (``render``: what it was trained and selected for), else ``luminance``."""
    if requested is not None:
        return requested
    stated = getattr(card, "render", None)
    return str(stated) if stated else RENDERS[0]


def resolve_rendering(
    params: ColorizeParams, requested: str | None, card: Any = None
) -> ColorizeParams:
    """``params`` with the render mode of :func:`resolve_render` and the wash darkening the
    model's card names (``wash_darkening``: fitted with the model; else the built-in value)."""
    stated = getattr(card, "wash_darkening", None)
    return replace(
        params,
        render=resolve_render(requested, card),
        wash_darkening=float(stated) if stated is not None else WASH_DARKENING,
    )


@dataclass(frozen=True)
class ColorizeResult:
    """What was written: the derivative's facts and where the time went.

    ``stage_seconds``: ``read`` is time spent waiting for decoded master bands (decoding runs
    ahead on worker threads, overlapping the other stages), ``reduce`` L* conversion, area
    reduction and low-pass, ``network`` the predictor call, ``upsample_colour`` interpolating
    a*/b* and converting tiles to sRGB, ``write`` compressing tiles plus fsync, hashing and
    rename. ``upsample_colour`` and ``write`` run on several worker threads at once and are
    summed over them (thread-seconds), so with more than one worker the stages add up to more
    than the wall time.
    """

    width: int
    height: int
    bits: int
    sha256: str
    bytes: int
    stage_seconds: dict[str, float] = field(default_factory=dict)
    working_width: int = 0
    working_height: int = 0


@dataclass(frozen=True)
class ModelBinding:
    """What a page needs from its model, once the model is loaded (see
    :func:`colorize_master_late`): the predictor, the parameters with the model's rendering and
    the provenance the derivative records (it must contain ``source_sha256``)."""

    predictor: ChromaPredictor
    params: ColorizeParams
    provenance: Mapping[str, Any]


def working_lightness(
    page: MasterPage,
    chroma_size: int,
    lowpass: float,
    *,
    rows: int = OUTPUT_TILE,
    timings: dict[str, float] | None = None,
) -> npt.NDArray[np.float32]:
    """The network input for ``page``: L* area-reduced to the working size, low-passed.

    With ``lowpass > 0`` the page is area-reduced to twice the working size (capped at the
    page), blurred with ``lowpass`` working px (scaled to that grid) and area-reduced to the
    working size; this is the same function training should use to make its inputs.
    """
    w, h = working_size(page.width, page.height, chroma_size)
    if lowpass <= 0:
        return page.reduce_lightness(w, h, rows=rows, timings=timings)
    grid_w, grid_h = min(page.width, 2 * w), min(page.height, 2 * h)
    grid = page.reduce_lightness(grid_w, grid_h, rows=rows, timings=timings)
    started = time.perf_counter()
    blurred = gaussian_lowpass(grid, lowpass * grid_w / w, lowpass * grid_h / h)
    result = blurred if (grid_w, grid_h) == (w, h) else area_reduce(blurred, w, h)
    if timings is not None:
        timings["reduce"] = timings.get("reduce", 0.0) + time.perf_counter() - started
    return np.ascontiguousarray(result, dtype=np.float32)


def _checked_chroma(ab: Any, shape: tuple[int, int], master: Path) -> npt.NDArray[np.float32]:
    array = np.asarray(ab)
    if array.shape != (2, *shape):
        raise InferenceError(
            f"{master}: the model returned chroma of shape {array.shape}, expected "
            f"{(2, *shape)}; the model does not fit this pipeline"
        )
    array = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(array).all():
        raise InferenceError(
            f"{master}: the model returned non-finite chroma; no derivative was written "
            "(try another --device or model)"
        )
    return array


def _tiff_datetime(value: Any) -> tuple[str | None, str | None]:
    """Caller's datetime → (TIFF DateTime, XMP CreateDate), or (None, None)."""
    if value is None:
        return None, None
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    xmp_date = moment.isoformat()
    if moment.tzinfo is not None and moment.utcoffset() is not None and not moment.utcoffset():
        xmp_date = moment.replace(tzinfo=None).isoformat() + "Z"
    return moment.strftime("%Y:%m:%d %H:%M:%S"), xmp_date


class _ColourTiles:
    """The derivative's tiles row-major, as zero-argument callables that colour one tile.

    The writer calls them on its encoder threads (``tiff_write``), so colour and compression of
    a tile run together on one worker while other workers do other tiles and the read pool
    decodes the next bands: decode ∥ colour + encode over a bounded window of tiles (the writer's
    look-ahead), memory O(band). Each tile is a pure function of its band and the working-size
    layers, so the output does not depend on the number of workers.

    ``layers`` is ``(2, h, w)`` a*, b* or, for ``wash`` with a strength, ``(3, h, w)`` a*, b*,
    strength at the working size; all are enlarged bilinearly together, per tile.
    """

    def __init__(
        self,
        page: MasterPage,
        layers: npt.NDArray[np.float32],
        tile: int,
        timings: dict[str, float],
        render: str = RENDERS[0],
        wash_darkening: float = WASH_DARKENING,
    ) -> None:
        self.page = page
        self.wash_darkening = wash_darkening
        self.ab = layers
        self.tile = tile
        self.timings = timings
        self.render = render
        self._lock = threading.Lock()
        _channels, self.work_h, self.work_w = layers.shape
        self.columns = [(x0, min(page.width, x0 + tile)) for x0 in range(0, page.width, tile)]
        self.column_taps = linear_taps(page.width, self.work_w, 0, page.width)

    def _tile(
        self, grey: npt.NDArray[Any], rows_ab: npt.NDArray[np.float32], x0: int, x1: int
    ) -> npt.NDArray[Any]:
        started = time.perf_counter()
        taps = self.column_taps
        low, high = taps.low[x0:x1], taps.high[x0:x1]
        weight = taps.weight[x0:x1]
        if rows_ab.shape[0] > 2 and rows_ab[2, :, low[0] : high[-1] + 1].min() >= 1.0:
            rows_ab = rows_ab[:2]  # full strength on the whole tile: the same as no strength
        ab = np.take(rows_ab, low, axis=2)
        upper = np.take(rows_ab, high, axis=2)
        np.subtract(upper, ab, out=upper)
        np.multiply(upper, weight, out=upper)
        np.add(ab, upper, out=ab)
        codes = np.ascontiguousarray(grey[:, x0:x1])
        if self.render == "wash":
            strength = ab[2] if ab.shape[0] > 2 else None
            rgb = render_wash_codes(
                codes, self.page.bits, ab[0], ab[1], strength, self.wash_darkening
            )
        else:
            rgb = color.grey_ab_to_srgb_codes(codes, self.page.bits, ab[0], ab[1])
        self._add("upsample_colour", time.perf_counter() - started)
        return rgb

    def _add(self, stage: str, seconds: float) -> None:
        with self._lock:
            self.timings[stage] += seconds

    def __iter__(self) -> Iterator[Callable[[], npt.NDArray[Any]]]:
        source = self.page.grey_bands(self.tile)
        while True:
            started = time.perf_counter()
            item = next(source, None)
            read_done = time.perf_counter()
            self._add("read", read_done - started)
            if item is None:
                return
            y0, grey = item
            y1 = y0 + grey.shape[0]
            rows = linear_taps(self.page.height, self.work_h, y0, y1)
            weight = rows.weight[None, :, None]
            rows_ab = (
                self.ab[:, rows.low, :] * (np.float32(1.0) - weight)
                + self.ab[:, rows.high, :] * weight
            )
            self._add("upsample_colour", time.perf_counter() - read_done)
            for x0, x1 in self.columns:
                yield functools.partial(self._tile, grey, rows_ab, x0, x1)


def _workers() -> int:
    return max(1, min(4, os.cpu_count() or 1))


def colorize_master(
    master: Path,
    output: Path,
    predictor: ChromaPredictor,
    params: ColorizeParams,
    *,
    page_index: int = 0,
    provenance: Mapping[str, Any],
    ifd_offset: int | None = None,
    pixel_limit: int = DEFAULT_PIXEL_LIMIT,
    workers: int | None = None,
    reference: ReferenceImage | None = None,
    hints: PageHintSet | None = None,
) -> ColorizeResult:
    """Colorize page ``page_index`` of ``master`` into ``output`` (same width, height, resolution).

    ``provenance`` is recorded in the XMP packet. Keys used (others are kept verbatim in
    ``archcolor:Provenance``):

    - ``source_name``: the master's file name (default: ``master.name``)
    - ``source_sha256``: sha256 of the master's bytes (required: ``xmpMM:DerivedFrom``)
    - ``model_name``, ``weights_sha256``: the model that predicted the chroma
    - ``parameters``: everything that influenced the output (default: ``params.as_dict()``)
    - ``archcolor_version`` (default: this package's version)
    - ``datetime``: ``datetime`` or ISO string for TIFF DateTime / xmp:CreateDate (omitted when
      absent, so that reruns are byte-identical)

    ``ifd_offset`` (recorded at ingest) opens the page's IFD directly; ``pixel_limit`` bounds
    what the page and its tiles may declare (see ``tiff_read.open_master``). ``workers``
    threads decode, colour and compress (default: the CPU count, at most 4); the output bytes do
    not depend on it.

    ``reference`` (the colour reference ``params.reference_sha256`` names, loaded with
    :func:`~archive_colorizer.imaging.reference.load_reference`): its L* gives the network's
    global prior, and with ``params.reference_palette`` > 0 the predicted a*, b* move towards its
    palette (weighted by the plate strength, so margins do not move) before the page mask.

    ``hints`` (the hint set ``params.hints_sha256`` names): rasterised at the working size from
    the page's displayed coordinates (:meth:`~archive_colorizer.services.hints.PageHintSet.maps`),
    given to a network with hint inputs as inputs and spread over the prediction of any model
    edge-aware (``params.hint_propagation``, :func:`predict_chroma`).

    The master is only ever opened read-only. Raises MasterError subclasses for unreadable
    masters, InferenceError when the predictor fails, OutputError when writing fails; in every
    failure case no (partial) output file is left behind.
    """
    if "source_sha256" not in provenance:
        raise ValueError("provenance must contain 'source_sha256' (the master's sha256)")
    binding = ModelBinding(predictor, params, provenance)
    return colorize_master_late(
        master,
        output,
        params,
        lambda: binding,
        page_index=page_index,
        ifd_offset=ifd_offset,
        pixel_limit=pixel_limit,
        workers=workers,
        reference=reference,
        hints=hints,
    )


def colorize_master_late(
    master: Path,
    output: Path,
    params: ColorizeParams,
    model: Callable[[], ModelBinding],
    *,
    page_index: int = 0,
    ifd_offset: int | None = None,
    pixel_limit: int = DEFAULT_PIXEL_LIMIT,
    workers: int | None = None,
    reference: ReferenceImage | None = None,
    hints: PageHintSet | None = None,
) -> ColorizeResult:
    """:func:`colorize_master` with the model still loading: ``model()`` is called once, after
    the page's working L* is made (stages read and reduce need only ``params.chroma_size`` and
    ``params.lowpass``), so the caller can load the model on another thread meanwhile. It
    returns the predictor, the parameters with the model's rendering (``render`` and
    ``wash_darkening`` may differ from ``params``, nothing else) and the provenance; its
    exceptions propagate and no output is written.
    """
    master, output = Path(master), Path(output)
    workers = _checked_call(master, output, params, workers, reference, hints)
    timings = dict.fromkeys(STAGES, 0.0)
    spill_dir = output.parent  # temporary files of rotated pages go beside the output
    with open_master(
        master,
        page_index,
        ifd_offset=ifd_offset,
        pixel_limit=pixel_limit,
        spill_dir=spill_dir,
        workers=workers,
    ) as page:
        lowpass = params.bilevel_lowpass if page.bilevel else params.lowpass
        lightness = working_lightness(
            page, params.chroma_size, lowpass, rows=OUTPUT_TILE, timings=timings
        )
        bound = _bound(model(), params)
        predictor, params = bound.predictor, bound.params
        ab, layers = _chroma_layers(
            page, master, lightness, predictor, params, reference, hints, timings
        )
        digest, size = _write_derivative(
            page, output, master, layers, params, bound.provenance, workers, timings
        )
        work_h, work_w = ab.shape[1:]
        return ColorizeResult(
            width=page.width,
            height=page.height,
            bits=page.bits,
            sha256=digest,
            bytes=size,
            stage_seconds={name: round(timings[name], 6) for name in STAGES},
            working_width=int(work_w),
            working_height=int(work_h),
        )


def _bound(binding: ModelBinding, started: ColorizeParams) -> ModelBinding:
    """``binding``, checked against the parameters the page was ``started`` with (ValueError:
    only the rendering and the reference prior, which the network stage applies, may change
    once the model is known)."""
    if "source_sha256" not in binding.provenance:
        raise ValueError("provenance must contain 'source_sha256' (the master's sha256)")
    same = replace(
        binding.params,
        render=started.render,
        wash_darkening=started.wash_darkening,
        reference_prior=started.reference_prior,
        reference_global=started.reference_global,
    )
    if same != started:
        raise ValueError(
            f"the model may change only the rendering and the reference prior of the parameters "
            f"the page was started "
            f"with: {started.as_dict()} became {binding.params.as_dict()}"
        )
    return binding


def _checked_call(
    master: Path,
    output: Path,
    params: ColorizeParams,
    workers: int | None,
    reference: ReferenceImage | None,
    hints: PageHintSet | None,
) -> int:
    """Check :func:`colorize_master`'s arguments (in this order) and return the worker count."""
    _check_reference(params, reference)
    _check_hints(params, hints)
    if output.exists() and master.exists() and os.path.samefile(output, master):
        raise OutputError(f"{output}: is the master itself; choose another output path")
    if not output.parent.is_dir():
        raise OutputError(f"{output}: the folder {output.parent} does not exist; create it first")
    if workers is not None and workers < 1:
        raise ValueError(f"workers must be >= 1, not {workers}")
    return workers or _workers()


def _chroma_layers(
    page: MasterPage,
    master: Path,
    lightness: npt.NDArray[np.float32],
    predictor: ChromaPredictor,
    params: ColorizeParams,
    reference: ReferenceImage | None,
    hints: PageHintSet | None,
    timings: dict[str, float],
) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32]]:
    """Stage network on the page's working ``lightness``: the working-size a*, b* and the
    layers the tiles enlarge (a*, b* with the plate strength applied, or stacked with it for
    ``wash``)."""
    started = time.perf_counter()
    maps = None
    if hints is not None:
        work_h, work_w = lightness.shape
        maps = hints.maps((page.width, page.height), (work_w, work_h)).stacked()
    ab_prior = None
    if reference is not None and params.reference_prior > 0:
        ab_prior = reference.ab_prior(int(getattr(predictor, "class_grid", 0) or 0))
    ab = predict_chroma(
        predictor,
        lightness,
        reference=(
            reference.lightness if reference is not None and params.reference_global else None
        ),
        ab_prior=ab_prior,
        prior_weight=params.reference_prior,
        hints=maps,
        propagation=params.hint_propagation,
        checked=functools.partial(_checked_chroma, master=master),
        render=params.render,
    )
    strength = None
    if reference is not None and params.reference_palette > 0:
        strength = plate_strength(lightness)
        ab = transfer_palette(ab, reference.palette, params.reference_palette, False, strength)
    layers = ab
    if params.paper_mask:
        strength = plate_strength(lightness) if strength is None else strength
        if params.render == "wash":  # the wash thins to clear water on the page
            layers = np.concatenate([ab, strength[None]])
        else:  # the page keeps its own tone with zero chroma
            layers = np.asarray(ab * strength[None], dtype=np.float32)
    timings["network"] = time.perf_counter() - started
    return ab, layers


def _write_derivative(
    page: MasterPage,
    output: Path,
    master: Path,
    layers: npt.NDArray[np.float32],
    params: ColorizeParams,
    provenance: Mapping[str, Any],
    workers: int,
    timings: dict[str, float],
) -> tuple[str, int]:
    """Stages upsample_colour and write: the derivative's tiles into ``output`` with the
    provenance XMP; returns its sha256 and size."""
    version = str(provenance.get("archcolor_version") or __version__)
    tiff_datetime, xmp_date = _tiff_datetime(provenance.get("datetime"))
    xmp = metadata.build_xmp(
        source_file_name=str(provenance.get("source_name") or master.name),
        source_sha256=str(provenance["source_sha256"]),
        model_name=_optional_text(provenance.get("model_name")),
        weights_sha256=_optional_text(provenance.get("weights_sha256")),
        archcolor_version=version,
        parameters=provenance.get("parameters") or params.as_dict(),
        provenance=provenance,
        create_date=xmp_date,
    )
    resolution = None
    if page.x_resolution and page.y_resolution:
        resolution = (page.x_resolution, page.y_resolution)
    tiles = _ColourTiles(page, layers, OUTPUT_TILE, timings, params.render, params.wash_darkening)
    return write_tiled_tiff(
        output,
        width=page.width,
        height=page.height,
        dtype=np.uint8 if page.bits == 8 else np.uint16,
        tiles=iter(tiles),
        tile=OUTPUT_TILE,
        compression=params.compression,
        resolution=resolution,
        resolution_unit=page.resolution_unit,
        icc_profile=metadata.srgb_icc_profile(),
        xmp=xmp,
        software=f"archcolor {version}",
        datetime=tiff_datetime,
        workers=workers,
        timings=timings,
    )


def _check_reference(params: ColorizeParams, reference: ReferenceImage | None) -> None:
    """The reference given is the one the parameters name (ConfigurationError otherwise)."""
    given, path = (None, None) if reference is None else (reference.sha256, reference.path)
    _check_named(
        "colour reference",
        params.reference_sha256,
        given,
        lambda named: (
            f"{path}: the colour reference has sha256 {given}, the "
            f"parameters name {named}; the file changed — give the reference again"
        ),
    )


def _check_hints(params: ColorizeParams, hints: PageHintSet | None) -> None:
    """The hint set given is the one the parameters name (ConfigurationError otherwise)."""
    given = None if hints is None else hints.sha256
    _check_named(
        "colour hint set",
        params.hints_sha256,
        given,
        lambda named: (
            f"the colour hints given have sha256 {given}, the parameters name {named}; "
            "give the hint set the parameters name"
        ),
    )


def _check_named(
    what: str, named: str | None, given: str | None, changed: Callable[[str | None], str]
) -> None:
    """An input ``given`` (its sha256; None: not given) is the one the parameters name
    (ConfigurationError otherwise: ``changed(named)`` says so when the sha256 differs)."""
    if given is None and named is None:
        return
    if given is None:
        raise ConfigurationError(
            f"the parameters name the {what} with sha256 {named}, but none was given"
        )
    if given != named:
        raise ConfigurationError(changed(named))


def predict_chroma(
    predictor: ChromaPredictor,
    lightness: npt.NDArray[np.float32],
    *,
    reference: npt.NDArray[np.float32] | None = None,
    ab_prior: npt.NDArray[np.floating[Any]] | None = None,
    prior_weight: float = 0.0,
    hints: npt.NDArray[np.float32] | None = None,
    propagation: HintPropagation = DEFAULT_PROPAGATION,
    checked: Callable[[Any, tuple[int, int]], npt.NDArray[np.float32]] | None = None,
    render: str | None = None,
) -> npt.NDArray[np.float32]:
    """The a*, b* ``(2, h, w)`` of ``lightness`` ``(h, w)``: what every path that colours takes
    (``colorize``, ``process``, ``evaluate``).

    ``reference``: a colour reference's L* (any size) for the network's global prior.
    ``ab_prior``: a colour reference's ab histogram over the model's class bins
    (:meth:`~archive_colorizer.imaging.reference.ReferenceImage.ab_prior`), a prior of weight
    ``prior_weight`` on the class head (only used when ``prior_weight`` > 0).
    ``hints``: hint maps ``(3, h, w)`` (a*, b*, mask): a model with hint inputs takes them as
    inputs too, and for every model they are spread over the prediction edge-aware along
    ``lightness`` (:func:`~archive_colorizer.imaging.hint_propagation.propagate_hints` with
    ``propagation``); without a hinted pixel the prediction is returned as it is.
    ``checked``: checks the network's output (shape, finite) before the hints are spread.
    ``render``: how the a*, b* will be rendered (a model card may decode differently per
    rendering, ``ModelCard.render_config``).
    """
    image = np.ascontiguousarray(lightness, dtype=np.float32)
    extra: dict[str, Any] = {}
    guided: Any = predictor  # NetworkPredictor.predict_ab takes reference=, ab_prior=, hints=
    name = getattr(predictor, "model_name", "") or "?"
    takes_prior = ab_prior is not None and prior_weight > 0
    if reference is not None or takes_prior or (hints is not None and _takes_hints(predictor)):
        accepted = inspect.signature(guided.predict_ab).parameters
        if reference is not None:
            if "reference" not in accepted:
                raise ConfigurationError(
                    f"the model {name} takes no colour reference; leave --reference out or use "
                    "a network model"
                )
            extra["reference"] = reference
        if takes_prior:
            if not getattr(guided, "class_grid", 0) or "ab_prior" not in accepted:
                raise ConfigurationError(
                    f"the model {name} has no class head for a colour reference's prior; "
                    "give --reference-prior 0"
                )
            extra.update(ab_prior=ab_prior, prior_weight=prior_weight, prior_floor=AB_PRIOR_FLOOR)
        if hints is not None and _takes_hints(predictor):
            extra["hints"] = hints
    card = getattr(predictor, "card", None)
    if render is not None and card is not None and card.decoding(render):
        extra["render"] = render
    raw = predictor.predict_ab(image, **extra)
    ab = np.asarray(raw, dtype=np.float32) if checked is None else checked(raw, image.shape)
    if hints is None:
        return ab
    return propagate_hints(ab, hints, image, propagation)


def _takes_hints(predictor: ChromaPredictor) -> bool:
    """Whether the predictor's network takes hints as inputs (``NetworkPredictor.hint_inputs``)."""
    return bool(getattr(predictor, "hint_inputs", False))


def _optional_text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
