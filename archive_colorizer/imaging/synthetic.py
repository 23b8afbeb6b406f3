"""Synthetic "scanned gravure" pages: engraving-like TIFF masters for the demo and benchmarks.

A page is a paper margin around a printed plate (plate mark, double border line) showing a sky
gradient with clouds, a horizon, a building with a tower and windows, and a standing figure.
That smooth luminance field is rendered as engraved line hatching: line width follows darkness,
cross-hatching appears in the shadows, lines wobble slightly; paper tone and scanner noise on top.

Everything is a pure function of (scene, pixel coordinates), so any tile of a page can be rendered
on its own: :func:`write_large_master` streams tiles to tifffile and never holds the whole image.
Deterministic for a given seed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

__all__ = [
    "make_sample_volume",
]

FloatArray = NDArray[np.float32]

#: compression names (as PageFacts reports them) -> tifffile's name
_TIFFFILE_COMPRESSION: dict[str, str | None] = {
    "none": None,
    "lzw": "lzw",
    "deflate": "adobe_deflate",
    "zstd": "zstd",
    "packbits": "packbits",
    "jpeg": "jpeg",
}
PHOTOMETRICS = ("minisblack", "miniswhite", "rgb")
#: classic TIFF offsets are 32-bit; switch to BigTIFF with a margin below 4 GiB
_BIGTIFF_THRESHOLD = 3_900_000_000


@dataclass(frozen=True)
class Scene:
    """Where things are on a page, in page-relative units (0..1), drawn from a seed."""

    margin: float
    horizon: float
    building_left: float
    building_right: float
    building_top: float
    roof_height: float
    tower_left: float
    tower_top: float
    figure_x: float
    figure_top: float
    figure_height: float
    clouds: tuple[tuple[float, float, float], ...]  # (x, y, radius)
    hatch_angle: float  # radians
    period_px: float  # line spacing in pixels (at the page's size)
    wobble_phase: float
    noise_seed: int

    @classmethod
    def from_seed(cls, seed: int, *, period_px: float = 7.0) -> Scene:
        rng = np.random.default_rng(seed)
        left = float(rng.uniform(0.15, 0.45))
        width = float(rng.uniform(0.2, 0.35))
        clouds = tuple(
            (
                float(rng.uniform(0.15, 0.85)),
                float(rng.uniform(0.12, 0.4)),
                float(rng.uniform(0.05, 0.1)),
            )
            for _ in range(3)
        )
        return cls(
            margin=float(rng.uniform(0.05, 0.09)),
            horizon=float(rng.uniform(0.58, 0.7)),
            building_left=left,
            building_right=left + width,
            building_top=float(rng.uniform(0.4, 0.5)),
            roof_height=float(rng.uniform(0.06, 0.12)),
            tower_left=left + width * float(rng.uniform(0.1, 0.6)),
            tower_top=float(rng.uniform(0.18, 0.3)),
            figure_x=float(rng.uniform(0.7, 0.85)),
            figure_top=float(rng.uniform(0.55, 0.62)),
            figure_height=float(rng.uniform(0.2, 0.28)),
            clouds=clouds,
            hatch_angle=float(rng.uniform(-0.25, 0.25)),
            period_px=period_px,
            wobble_phase=float(rng.uniform(0, 2 * math.pi)),
            noise_seed=int(rng.integers(0, 2**31)),
        )


def luminance(scene: Scene, u: FloatArray, v: FloatArray) -> FloatArray:
    """Tone of the printed picture (1 = paper white, 0 = black) at page coordinates (u, v)."""
    m = scene.margin
    # plate area in plate-relative coordinates
    pu = (u - m) / (1 - 2 * m)
    pv = (v - m) / (1 - 2 * m)
    sky = 0.9 - 0.35 * np.clip(pv / scene.horizon, 0, 1)
    for cx, cy, radius in scene.clouds:
        d2 = ((pu - cx) / (2.2 * radius)) ** 2 + ((pv - cy) / radius) ** 2
        sky = sky + 0.12 * np.exp(-d2)
    ground = 0.5 - 0.25 * np.clip((pv - scene.horizon) / (1 - scene.horizon), 0, 1)
    tone = np.where(pv < scene.horizon, sky, ground)
    # building: walls, a triangular roof, a tower, lighter windows
    in_walls = (pu > scene.building_left) & (pu < scene.building_right)
    walls = in_walls & (pv > scene.building_top) & (pv < scene.horizon + 0.02)
    mid = 0.5 * (scene.building_left + scene.building_right)
    half = 0.5 * (scene.building_right - scene.building_left)
    roof = (pv <= scene.building_top) & (
        pv > scene.building_top - scene.roof_height * (1 - np.abs(pu - mid) / half)
    )
    roof = roof & in_walls
    tower = (pu > scene.tower_left) & (pu < scene.tower_left + 0.05)
    tower = tower & (pv > scene.tower_top) & (pv < scene.horizon)
    tone = np.where(walls | tower, 0.3 - 0.1 * (pu - scene.building_left), tone)
    tone = np.where(roof, 0.18, tone)
    window_u = np.mod((pu - scene.building_left) * 18, 1.0)
    window_v = np.mod((pv - scene.building_top) * 14, 1.0)
    windows = walls & (window_u > 0.35) & (window_u < 0.65) & (window_v > 0.3) & (window_v < 0.7)
    tone = np.where(windows, 0.7, tone)
    # standing figure: head and body
    head_r = scene.figure_height * 0.09
    head = ((pu - scene.figure_x) / head_r) ** 2 + (
        (pv - scene.figure_top - head_r) / head_r
    ) ** 2 < 1
    body_v = (pv - scene.figure_top - 2 * head_r) / (scene.figure_height - 2 * head_r)
    body_half = 0.02 + 0.03 * np.clip(body_v, 0, 1)
    body = (body_v > 0) & (body_v < 1) & (np.abs(pu - scene.figure_x) < body_half)
    tone = np.where(head | body, 0.1, tone)
    # plate: double border line inside the plate edge; paper outside
    edge = np.minimum(np.minimum(pu, 1 - pu), np.minimum(pv, 1 - pv))
    tone = np.where((edge > 0.004) & (edge < 0.007), 0.0, tone)
    tone = np.where((edge > 0.010) & (edge < 0.012), 0.0, tone)
    tone = np.where(edge < 0, 1.0, tone)
    return np.clip(tone, 0, 1).astype(np.float32)


def render_ink(
    scene: Scene, y0: int, x0: int, height: int, width: int, page_h: int, page_w: int
) -> FloatArray:
    """Ink coverage (0 = bare paper, 1 = full ink) of the window at (y0, x0) of a page.

    The result depends only on absolute page coordinates, so windows tile seamlessly.
    """
    ys = np.arange(y0, y0 + height, dtype=np.float32)[:, None]
    xs = np.arange(x0, x0 + width, dtype=np.float32)[None, :]
    u = xs / np.float32(page_w)
    v = ys / np.float32(page_h)
    tone = luminance(scene, u, v)
    darkness = 1.0 - tone
    period = np.float32(scene.period_px)
    cos_a, sin_a = np.float32(math.cos(scene.hatch_angle)), np.float32(math.sin(scene.hatch_angle))
    wobble = 0.8 * np.sin(xs * np.float32(2 * math.pi / 300.0) + np.float32(scene.wobble_phase))
    phase = (ys * cos_a - xs * sin_a + wobble) / period
    line = np.abs(np.mod(phase, 1.0) - 0.5) * 2  # 0 at the line's centre, 1 between lines
    # a line covers a band whose width follows darkness; soft edges over ~1 px
    soft = np.float32(1.0) / period
    ink = np.clip((darkness * 0.95 - line) / soft + 0.5, 0, 1)
    cross_phase = (ys * sin_a + xs * cos_a) / (period * np.float32(1.3))
    cross_line = np.abs(np.mod(cross_phase, 1.0) - 0.5) * 2
    cross = np.clip(((darkness - 0.45) * 1.2 - cross_line) / soft + 0.5, 0, 1)
    ink = np.maximum(ink, cross)
    paper = tone >= 0.999  # margins: no engraving at all
    return np.where(paper, np.float32(0), ink).astype(np.float32)


def render_gray(
    scene: Scene, y0: int, x0: int, height: int, width: int, page_h: int, page_w: int
) -> FloatArray:
    """Scanned grey (1 = white) of a window: ink on toned paper with scanner noise."""
    ink = render_ink(scene, y0, x0, height, width, page_h, page_w)
    rng = np.random.default_rng([scene.noise_seed, y0, x0])
    noise = rng.standard_normal(ink.shape, dtype=np.float32) * np.float32(0.02)
    paper = np.float32(0.93)
    gray = paper - ink * np.float32(0.8) + noise
    return np.clip(gray, 0, 1).astype(np.float32)


def _encode(gray: FloatArray, bits: int, photometric: str) -> NDArray[Any]:
    """Stored samples of a grey window for the given bit depth and photometric."""
    if bits == 1:
        ink = gray < 0.5
        return ink if photometric == "miniswhite" else ~ink
    dtype = np.uint8 if bits == 8 else np.uint16
    top = float(np.iinfo(dtype).max)
    if photometric == "rgb":  # warm paper and brownish ink, as colour scans of old prints look
        tint = np.array([1.0, 0.94, 0.82], dtype=np.float32)
        rgb = gray[..., None] * tint + (1 - gray[..., None]) * np.array(
            [0.12, 0.09, 0.07], dtype=np.float32
        )
        return np.rint(np.clip(rgb, 0, 1) * top).astype(dtype)
    values = gray if photometric == "minisblack" else 1 - gray
    return np.rint(values * top).astype(dtype)


def _check(bits: int, photometric: str, compression: str) -> None:
    if bits not in (1, 8, 16):
        raise ValueError("bits must be 1, 8 or 16")
    if photometric not in PHOTOMETRICS:
        raise ValueError(f"photometric must be one of {PHOTOMETRICS}")
    if bits == 1 and photometric == "rgb":
        raise ValueError("a bilevel page cannot be RGB")
    if compression not in _TIFFFILE_COMPRESSION and compression != "ccitt_g4":
        raise ValueError(f"unknown compression {compression!r}")
    if compression == "ccitt_g4" and bits != 1:
        raise ValueError("ccitt_g4 compression needs bits=1")
    if compression == "jpeg" and bits != 8:
        raise ValueError("jpeg compression needs bits=8")


def render_page(
    width: int,
    height: int,
    *,
    bits: int = 8,
    photometric: str = "minisblack",
    seed: int = 0,
) -> NDArray[Any]:
    """The whole page as an array (for small pages; large ones: :func:`write_large_master`)."""
    _check(bits, photometric, "none")
    scene = Scene.from_seed(seed, period_px=max(3.0, min(width, height) / 250))
    return _encode(render_gray(scene, 0, 0, height, width, height, width), bits, photometric)


def write_synthetic_page(
    path: Path,
    *,
    width: int = 1200,
    height: int = 1600,
    bits: int = 8,
    photometric: str = "minisblack",
    tiled: bool = False,
    tile: tuple[int, int] = (256, 256),
    compression: str = "none",
    dpi: float | None = 600.0,
    byteorder: str = "little",
    bigtiff: bool = False,
    seed: int = 0,
) -> Path:
    """Write one synthetic gravure page as a TIFF and return its path.

    ``bits`` 1 (bilevel), 8 or 16; ``photometric`` "minisblack", "miniswhite" or "rgb";
    ``compression`` "none", "lzw", "deflate", "zstd", "packbits", "jpeg" (8-bit) or
    "ccitt_g4" (bilevel, striped, little-endian; written with Pillow/libtiff).
    """
    import tifffile

    _check(bits, photometric, compression)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = render_page(width, height, bits=bits, photometric=photometric, seed=seed)
    if compression == "ccitt_g4":
        from PIL import Image

        if tiled or bigtiff or byteorder != "little":
            raise ValueError("ccitt_g4 pages are written striped, little-endian, classic")
        image = Image.fromarray(data if photometric == "minisblack" else ~data)
        options: dict[str, Any] = {"compression": "group4"}
        options["tiffinfo"] = {262: 0 if photometric == "miniswhite" else 1}
        if dpi is not None:
            options["dpi"] = (dpi, dpi)
        image.save(path, format="TIFF", **options)
        return path
    kwargs: dict[str, Any] = {
        "photometric": photometric,
        "compression": _TIFFFILE_COMPRESSION[compression],
        "metadata": None,
        "software": "archcolor synthetic gravure",
    }
    if tiled:
        kwargs["tile"] = tile
    else:
        kwargs["rowsperstrip"] = max(1, (64 * 1024) // max(1, data[0].nbytes))
    if dpi is not None:
        kwargs["resolution"] = (dpi, dpi)
        kwargs["resolutionunit"] = "INCH"
    tifffile.imwrite(
        path, data, bigtiff=bigtiff, byteorder="<" if byteorder == "little" else ">", **kwargs
    )
    return path


def dimensions_for_bytes(
    target_bytes: int, *, bits: int = 8, aspect: float = 0.75
) -> tuple[int, int]:
    """(width, height) of a grey page of about ``target_bytes`` uncompressed, multiples of 16."""
    pixels = target_bytes * 8 / bits
    height = math.sqrt(pixels / aspect)
    width = aspect * height
    return max(16, int(width) // 16 * 16), max(16, int(height) // 16 * 16)


def write_large_master(
    path: Path,
    *,
    width: int,
    height: int,
    bits: int = 8,
    tile: tuple[int, int] = (512, 512),
    compression: str = "none",
    dpi: float | None = 600.0,
    bigtiff: bool | None = None,
    scale: int | None = None,
    seed: int = 0,
) -> Path:
    """Stream a large tiled grey master to ``path``, one tile row at a time (flat memory).

    Suited to 35-600+ megapixel benchmark files: only one row of tiles exists at a time.
    ``scale`` renders every ``scale``-th pixel and enlarges (1, 2, 4 or 8; ``None`` picks the
    smallest keeping the rendering under ~25 megapixels, so a 1 GB master takes seconds).
    ``bigtiff=None`` picks BigTIFF when the file could pass 4 GiB.
    """
    import tifffile

    _check(bits, "minisblack", compression)
    if bits == 1:
        raise ValueError("large masters are 8- or 16-bit grey")
    tile_h, tile_w = tile
    if scale is None:
        scale = next((s for s in (1, 2, 4, 8) if width * height / (s * s) <= 25e6), 8)
    if scale not in (1, 2, 4, 8) or tile_h % scale:
        raise ValueError("scale must be 1, 2, 4 or 8 and divide the tile height")
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    dtype = np.uint8 if bits == 8 else np.uint16
    if bigtiff is None:
        bigtiff = width * height * (bits // 8) > _BIGTIFF_THRESHOLD
    low_h, low_w = -(-height // scale), -(-width // scale)
    scene = Scene.from_seed(seed, period_px=max(3.0, min(low_w, low_h) / 300))
    columns = -(-width // tile_w) * tile_w

    def tiles() -> Iterator[NDArray[Any]]:
        band_h = tile_h // scale
        for y0 in range(0, height, tile_h):
            # render a whole row of tiles at once (cheaper than tile by tile), then cut it
            low = render_gray(scene, y0 // scale, 0, band_h, low_w, low_h, low_w)
            row = _encode(low, bits, "minisblack")
            if scale > 1:
                row = np.repeat(np.repeat(row, scale, axis=0), scale, axis=1)
            padded = np.zeros((tile_h, columns), dtype=dtype)
            padded[:, :width] = row[:tile_h, :width]
            for x0 in range(0, width, tile_w):
                yield padded[:, x0 : x0 + tile_w]

    kwargs: dict[str, Any] = {
        "shape": (height, width),
        "dtype": dtype,
        "tile": tile,
        "photometric": "minisblack",
        "compression": _TIFFFILE_COMPRESSION[compression],
        "metadata": None,
        "software": "archcolor synthetic gravure",
    }
    if dpi is not None:
        kwargs["resolution"] = (dpi, dpi)
        kwargs["resolutionunit"] = "INCH"
    tifffile.imwrite(path, tiles(), bigtiff=bigtiff, **kwargs)
    return path


#: the sample volume's pages cycle through these layouts (bits, photometric, tiled, compression)
SAMPLE_LAYOUTS: tuple[tuple[int, str, bool, str], ...] = (
    (8, "minisblack", False, "lzw"),
    (16, "minisblack", True, "deflate"),
    (1, "miniswhite", False, "ccitt_g4"),
    (8, "rgb", False, "none"),
    (8, "minisblack", True, "zstd"),
    (1, "minisblack", True, "none"),
)


def make_sample_volume(dest: Path, pages: int = 6, seed: int = 0) -> list[Path]:
    """Write a small synthetic scanned volume under ``dest/volume-01/`` and return the paths.

    Pages are ``page-0001.tif``... mixing bit depths, photometrics, tiled/striped layouts and
    compressions, 1000-2000 pixels on a side at 600 dpi; deterministic for a given seed.
    """
    if pages < 1:
        raise ValueError("pages must be at least 1")
    folder = Path(dest) / "volume-01"
    rng = np.random.default_rng(seed)
    paths = []
    for number in range(1, pages + 1):
        bits, photometric, tiled, compression = SAMPLE_LAYOUTS[(number - 1) % len(SAMPLE_LAYOUTS)]
        width = int(rng.integers(1000, 1500)) // 16 * 16
        height = int(rng.integers(1400, 2000)) // 16 * 16
        paths.append(
            write_synthetic_page(
                folder / f"page-{number:04d}.tif",
                width=width,
                height=height,
                bits=bits,
                photometric=photometric,
                tiled=tiled,
                compression=compression,
                seed=seed * 1000 + number,
            )
        )
    return paths
