"""Write small TIFFs of every layout archcolor must handle, and hostile files, for tests.

Every ``write_*`` function takes the destination path first, writes the file (creating parent
folders) and returns the path. Pixel content is deterministic (seeded). Nothing here needs the
network. Stable API used by many test modules:

Good masters
    write_tiff(path, layout, *, width, height, pages, compression, tiled, tile, byteorder,
               bigtiff, resolution, resolution_unit, orientation, icc_profile, thumbnail, seed)
    write_gray8, write_gray16, write_rgb8, write_rgb16, write_palette,
    write_bilevel(path, *, miniswhite=True, compression="none" | "ccitt_g4"),
    write_multipage(path, pages=3), write_with_thumbnail(path, *, as_subifd=False),
    write_bigtiff(path, *, byteorder="little"), write_big_endian(path),
    write_tiled(path), write_striped(path)
    LAYOUTS: layout name -> (samples_per_pixel, bits_per_sample, photometric)
    COMPRESSIONS: compression names accepted by write_tiff (the names PageFacts reports)

Hostile files
    write_zero_byte, write_truncated(path, *, at="data" | "ifd" | "header"), write_wrong_magic,
    write_huge_declared_dimensions(path, width=100_000, height=100_000), write_png_named_tif,
    write_other_format(path, kind)  (kind in OTHER_FORMATS), write_corrupt_ifd(path, *, kind),
    write_ifd_loop, write_missing_tag(path, tag), write_symlink_loop(folder),
    write_unreadable(path), raw_classic_tiff(...) and gray8_entries(...) (build any IFD by hand)
"""

from __future__ import annotations

import io
import struct
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image

#: layout -> (samples per pixel, bits per sample, photometric as PageFacts reports it)
LAYOUTS: dict[str, tuple[int, int, str]] = {
    "gray8": (1, 8, "minisblack"),
    "gray16": (1, 16, "minisblack"),
    "rgb8": (3, 8, "rgb"),
    "rgb16": (3, 16, "rgb"),
    "palette": (1, 8, "palette"),
    "bilevel_miniswhite": (1, 1, "miniswhite"),
    "bilevel_minisblack": (1, 1, "minisblack"),
}

#: compression names (as PageFacts reports them) -> tifffile's name
COMPRESSIONS: dict[str, str | None] = {
    "none": None,
    "lzw": "lzw",
    "deflate": "adobe_deflate",
    "zstd": "zstd",
    "jpeg": "jpeg",
    "packbits": "packbits",
    "ccitt_g4": "ccitt_g4",  # bilevel only, written with Pillow/libtiff
}

#: what write_other_format can produce, and the words read_facts names it with
OTHER_FORMATS: dict[str, str] = {
    "png": "PNG",
    "jpeg": "JPEG",
    "gif": "GIF",
    "bmp": "BMP",
    "webp": "WebP",
    "pdf": "PDF",
    "zip": "ZIP",
    "jpeg2000": "JPEG 2000",
    "text": "text",
}

TIFF_SHORT = 3
TIFF_LONG = 4
TIFF_RATIONAL = 5


def _icc_profile_bytes() -> bytes:
    from PIL import ImageCms

    return bytes(ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes())


def _pixels(layout: str, width: int, height: int, seed: int) -> np.ndarray:
    """Deterministic content: a diagonal ramp plus noise, in the layout's dtype/shape."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    ramp = (x + y) / max(1, width + height - 2)
    noisy = np.clip(ramp + rng.normal(0, 0.05, size=ramp.shape), 0, 1)
    spp, bits, _ = LAYOUTS[layout]
    if bits == 1:
        return noisy > 0.5
    dtype = np.uint8 if bits == 8 else np.uint16
    scaled = (noisy * np.iinfo(dtype).max).astype(dtype)
    if spp == 3:
        return np.stack([scaled, scaled[::-1, :], scaled[:, ::-1]], axis=-1)
    return scaled


def _mkparent(path: Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def write_tiff(
    path: Path,
    layout: str = "gray8",
    *,
    width: int = 64,
    height: int = 48,
    pages: int = 1,
    compression: str = "none",
    tiled: bool = False,
    tile: tuple[int, int] = (16, 16),
    rows_per_strip: int | None = None,
    byteorder: str = "little",
    bigtiff: bool = False,
    resolution: tuple[float, float] | None = (600.0, 600.0),
    resolution_unit: str = "inch",
    orientation: int | None = None,
    icc_profile: bool | bytes = False,
    thumbnail: str | None = None,
    seed: int = 0,
) -> Path:
    """Write a TIFF of ``layout`` (a key of LAYOUTS) with ``pages`` full-resolution pages.

    ``thumbnail`` adds a half-size reduced-resolution subfile (NewSubfileType=1) after each
    page: ``"page"`` in the main IFD chain, ``"subifd"`` as a SubIFD of the page.
    ``compression="ccitt_g4"`` needs a bilevel layout and supports only single-page,
    little-endian, striped classic files (it is written by Pillow/libtiff).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r}; choose from {sorted(LAYOUTS)}")
    if compression not in COMPRESSIONS:
        raise ValueError(f"unknown compression {compression!r}; choose from {sorted(COMPRESSIONS)}")
    path = _mkparent(path)
    _spp, bits, photometric = LAYOUTS[layout]
    if compression == "ccitt_g4":
        if bits != 1 or pages != 1 or tiled or bigtiff or byteorder != "little" or thumbnail:
            raise ValueError("ccitt_g4 factory supports single-page little-endian striped bilevel")
        return _write_g4(path, photometric, width, height, resolution, seed)
    if compression == "jpeg" and bits != 8:
        raise ValueError("JPEG compression needs 8-bit samples")
    icc: bytes | None = None
    if icc_profile is True:
        icc = _icc_profile_bytes()
    elif isinstance(icc_profile, bytes):
        icc = icc_profile
    extratags: list[tuple[Any, ...]] = []
    if orientation is not None:
        extratags.append((274, "H", 1, orientation, False))
    common: dict[str, Any] = {
        "photometric": photometric,
        "compression": COMPRESSIONS[compression],
        "metadata": None,
        "extratags": extratags,
    }
    if tiled:
        common["tile"] = tile
    elif rows_per_strip is not None:
        common["rowsperstrip"] = rows_per_strip
    if resolution is not None:
        common["resolution"] = resolution
        common["resolutionunit"] = resolution_unit.upper()
    if icc is not None:
        common["iccprofile"] = icc
    if photometric == "palette":
        ramp = np.linspace(0, 65535, 256).astype(np.uint16)
        common["colormap"] = np.stack([ramp, ramp[::-1], ramp])
    with tifffile.TiffWriter(
        path, bigtiff=bigtiff, byteorder="<" if byteorder == "little" else ">"
    ) as writer:
        for page in range(pages):
            data = _pixels(layout, width, height, seed + page)
            if thumbnail == "subifd":
                writer.write(data, subifds=1, **common)
            else:
                writer.write(data, **common)
            if thumbnail in ("page", "subifd"):
                small = {k: v for k, v in common.items() if k not in ("extratags", "iccprofile")}
                writer.write(data[::2, ::2], subfiletype=1, **small)
            elif thumbnail is not None:
                raise ValueError("thumbnail must be None, 'page' or 'subifd'")
    return path


def _write_g4(
    path: Path,
    photometric: str,
    width: int,
    height: int,
    resolution: tuple[float, float] | None,
    seed: int,
) -> Path:
    ink = _pixels("bilevel_minisblack", width, height, seed)
    image = Image.fromarray(ink if photometric == "minisblack" else ~ink)
    info = {262: 0 if photometric == "miniswhite" else 1}
    kwargs: dict[str, Any] = {"compression": "group4", "tiffinfo": info}
    if resolution is not None:
        kwargs["dpi"] = resolution
    image.save(path, format="TIFF", **kwargs)
    return path


def write_gray8(path: Path, width: int = 64, height: int = 48, **opts: Any) -> Path:
    """8-bit greyscale (MinIsBlack)."""
    return write_tiff(path, "gray8", width=width, height=height, **opts)


def write_gray16(path: Path, width: int = 64, height: int = 48, **opts: Any) -> Path:
    """16-bit greyscale (MinIsBlack)."""
    return write_tiff(path, "gray16", width=width, height=height, **opts)


def write_rgb8(path: Path, width: int = 64, height: int = 48, **opts: Any) -> Path:
    """8-bit RGB."""
    return write_tiff(path, "rgb8", width=width, height=height, **opts)


def write_rgb16(path: Path, width: int = 64, height: int = 48, **opts: Any) -> Path:
    """16-bit RGB."""
    return write_tiff(path, "rgb16", width=width, height=height, **opts)


def write_palette(path: Path, width: int = 64, height: int = 48, **opts: Any) -> Path:
    """8-bit palette (with ColorMap)."""
    return write_tiff(path, "palette", width=width, height=height, **opts)


def write_bilevel(
    path: Path,
    width: int = 64,
    height: int = 48,
    *,
    miniswhite: bool = True,
    compression: str = "none",
    **opts: Any,
) -> Path:
    """1-bit bilevel, MinIsWhite (default) or MinIsBlack; compression "none" or "ccitt_g4"."""
    layout = "bilevel_miniswhite" if miniswhite else "bilevel_minisblack"
    return write_tiff(path, layout, width=width, height=height, compression=compression, **opts)


def write_multipage(path: Path, pages: int = 3, layout: str = "gray8", **opts: Any) -> Path:
    """``pages`` full-resolution pages in the main IFD chain."""
    return write_tiff(path, layout, pages=pages, **opts)


def write_with_thumbnail(
    path: Path, layout: str = "gray8", *, as_subifd: bool = False, **opts: Any
) -> Path:
    """One page plus a reduced-resolution subfile (NewSubfileType=1): chained or as a SubIFD."""
    return write_tiff(path, layout, thumbnail="subifd" if as_subifd else "page", **opts)


def write_bigtiff(
    path: Path, layout: str = "gray8", *, byteorder: str = "little", **opts: Any
) -> Path:
    """A BigTIFF (64-bit offsets), little- or big-endian."""
    return write_tiff(path, layout, bigtiff=True, byteorder=byteorder, **opts)


def write_big_endian(path: Path, layout: str = "gray8", **opts: Any) -> Path:
    """A classic big-endian ("MM") TIFF."""
    return write_tiff(path, layout, byteorder="big", **opts)


def write_tiled(path: Path, layout: str = "gray8", **opts: Any) -> Path:
    """A tiled TIFF (16x16 tiles unless ``tile`` given)."""
    return write_tiff(path, layout, tiled=True, **opts)


def write_striped(path: Path, layout: str = "gray8", **opts: Any) -> Path:
    """A striped TIFF with several strips (8 rows per strip unless ``rows_per_strip`` given)."""
    opts.setdefault("rows_per_strip", 8)
    return write_tiff(path, layout, **opts)


# --- hand-built TIFF structures ------------------------------------------------------------

Entry = tuple[int, int, Sequence[int]]  # (tag, TIFF type: SHORT/LONG/RATIONAL, values)


def raw_classic_tiff(
    ifds: Sequence[Sequence[Entry]],
    *,
    data: bytes = b"",
    byteorder: str = "little",
    next_offset_override: dict[int, int] | None = None,
    entry_count_override: dict[int, int] | None = None,
) -> bytes:
    """Bytes of a classic TIFF built by hand: header, ``data`` at offset 8, then the IFDs.

    Strip offsets in ``ifds`` should point into ``data`` (which starts at byte 8). RATIONAL
    values are given as flat (numerator, denominator, ...) lists. ``next_offset_override`` sets
    the next-IFD offset written after IFD *i* (to make loops or dangling pointers) and
    ``entry_count_override`` the entry count written for IFD *i*.
    """
    bo = "<" if byteorder == "little" else ">"
    codes = {TIFF_SHORT: "H", TIFF_LONG: "I", TIFF_RATIONAL: "I"}
    out = bytearray(b"II*\x00" if bo == "<" else b"MM\x00*")
    out += struct.pack(bo + "I", 0)  # patched below
    out += data
    if len(out) % 2:
        out += b"\x00"
    ifd_offsets: list[int] = []
    for index, entries in enumerate(ifds):
        ifd_start = len(out)
        ifd_offsets.append(ifd_start)
        entries = sorted(entries, key=lambda e: e[0])
        table_size = 2 + 12 * len(entries) + 4
        extra = bytearray()
        table = bytearray()
        count = (entry_count_override or {}).get(index, len(entries))
        table += struct.pack(bo + "H", count)
        for tag, type_, values in entries:
            packed = struct.pack(bo + codes[type_] * len(values), *values)
            n = len(values) // 2 if type_ == TIFF_RATIONAL else len(values)
            if len(packed) <= 4:
                table += struct.pack(bo + "HHI", tag, type_, n) + packed.ljust(4, b"\x00")
            else:
                offset = ifd_start + table_size + len(extra)
                table += struct.pack(bo + "HHII", tag, type_, n, offset)
                extra += packed
                if len(extra) % 2:
                    extra += b"\x00"
        table += struct.pack(bo + "I", 0)  # next IFD, patched below
        out += table + extra
    for index, start in enumerate(ifd_offsets):
        nxt = ifd_offsets[index + 1] if index + 1 < len(ifd_offsets) else 0
        nxt = (next_offset_override or {}).get(index, nxt)
        n_entries = len(ifds[index])
        struct.pack_into(bo + "I", out, start + 2 + 12 * n_entries, nxt)
    struct.pack_into(bo + "I", out, 4, ifd_offsets[0] if ifd_offsets else 0)
    return bytes(out)


def gray8_entries(
    width: int, height: int, *, strip_offset: int = 8, strip_bytes: int | None = None
) -> list[Entry]:
    """The IFD entries of a minimal uncompressed one-strip 8-bit greyscale page."""
    return [
        (256, TIFF_LONG, [width]),
        (257, TIFF_LONG, [height]),
        (258, TIFF_SHORT, [8]),
        (259, TIFF_SHORT, [1]),
        (262, TIFF_SHORT, [1]),
        (273, TIFF_LONG, [strip_offset]),
        (277, TIFF_SHORT, [1]),
        (278, TIFF_LONG, [height]),
        (279, TIFF_LONG, [width * height if strip_bytes is None else strip_bytes]),
    ]


def _write_bytes(path: Path, data: bytes) -> Path:
    path = _mkparent(path)
    path.write_bytes(data)
    return path


def write_zero_byte(path: Path) -> Path:
    """An empty file."""
    return _write_bytes(path, b"")


def write_truncated(path: Path, *, at: str = "data") -> Path:
    """A TIFF cut short.

    ``at="data"``: the IFD is intact but the pixel data ends early (strip beyond end of file).
    ``at="ifd"``: the file ends in the middle of the first IFD.
    ``at="header"``: only the first 6 bytes of the header remain.
    """
    body = raw_classic_tiff([gray8_entries(64, 48)], data=bytes(64 * 48))
    if at == "data":
        # move the data after the IFD and cut it: write IFD first, data last
        entries = gray8_entries(64, 48, strip_offset=0)
        probe = raw_classic_tiff([entries])
        entries = gray8_entries(64, 48, strip_offset=len(probe))
        full = raw_classic_tiff([entries]) + bytes(64 * 48)
        return _write_bytes(path, full[: len(probe) + 1000])
    if at == "ifd":
        ifd_start = 8 + 64 * 48
        return _write_bytes(path, body[: ifd_start + 2 + 12 * 3])
    if at == "header":
        return _write_bytes(path, body[:6])
    raise ValueError("at must be 'data', 'ifd' or 'header'")


def write_wrong_magic(path: Path) -> Path:
    """A TIFF whose version number is 44 instead of 42/43 (byte-order mark intact)."""
    body = bytearray(raw_classic_tiff([gray8_entries(16, 16)], data=bytes(256)))
    body[2] = 44
    return _write_bytes(path, bytes(body))


def write_huge_declared_dimensions(path: Path, width: int = 100_000, height: int = 100_000) -> Path:
    """A tiny file whose tags declare ``width`` x ``height`` 8-bit pixels (a decompression bomb)."""
    data = bytes(1024)
    return _write_bytes(
        path, raw_classic_tiff([gray8_entries(width, height, strip_bytes=1024)], data=data)
    )


def write_other_format(path: Path, kind: str) -> Path:
    """A non-TIFF file of ``kind`` (a key of OTHER_FORMATS), whatever its name says."""
    image = Image.fromarray(np.full((16, 16), 128, np.uint8))
    buffer = io.BytesIO()
    if kind in ("png", "jpeg", "gif", "bmp", "webp", "pdf"):
        image.save(buffer, format=kind.upper())
        return _write_bytes(path, buffer.getvalue())
    if kind == "zip":
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("page.txt", "hello")
        return _write_bytes(path, buffer.getvalue())
    if kind == "jpeg2000":  # the JP2 signature box followed by filler: enough for sniffing
        return _write_bytes(path, b"\x00\x00\x00\x0cjP  \r\n\x87\n" + bytes(64))
    if kind == "text":
        return _write_bytes(path, b"Volume 1, page 3: see the scan log.\n")
    raise ValueError(f"unknown kind {kind!r}; choose from {sorted(OTHER_FORMATS)}")


def write_png_named_tif(path: Path) -> Path:
    """A PNG image (typically given a ``.tif`` name by the caller)."""
    return write_other_format(path, "png")


def write_corrupt_ifd(path: Path, *, kind: str = "entry_count") -> Path:
    """A TIFF whose first IFD is corrupt.

    ``kind="entry_count"``: the IFD claims 4000 entries, running past the end of the file.
    ``kind="zero_entries"``: the IFD has no entries at all.
    ``kind="value_offset"``: the BitsPerSample values point beyond the end of the file (RGB).
    ``kind="next_offset"``: the next-IFD pointer points beyond the end of the file.
    """
    data = bytes(16 * 16)
    if kind == "entry_count":
        body = raw_classic_tiff([gray8_entries(16, 16)], data=data, entry_count_override={0: 4000})
    elif kind == "zero_entries":
        body = raw_classic_tiff([[]], data=data)
    elif kind == "value_offset":
        entries = gray8_entries(16, 16, strip_bytes=16 * 16)
        entries = [e for e in entries if e[0] not in (258, 262, 277)]
        entries += [(258, TIFF_SHORT, [8, 8, 8]), (262, TIFF_SHORT, [2]), (277, TIFF_SHORT, [3])]
        edited = bytearray(raw_classic_tiff([entries], data=bytes(16 * 16 * 3)))
        ifd = struct.unpack_from("<I", edited, 4)[0]
        count = struct.unpack_from("<H", edited, ifd)[0]
        for i in range(count):
            pos = ifd + 2 + 12 * i
            if struct.unpack_from("<H", edited, pos)[0] == 258:
                struct.pack_into("<I", edited, pos + 8, 10_000_000)
        body = bytes(edited)
    elif kind == "next_offset":
        body = raw_classic_tiff([gray8_entries(16, 16)], data=data, next_offset_override={0: 10**9})
    else:
        raise ValueError("kind must be entry_count, zero_entries, value_offset or next_offset")
    return _write_bytes(path, body)


def write_ifd_loop(path: Path) -> Path:
    """Two IFDs whose next-IFD pointers form a cycle (IFD 1 points back to IFD 0)."""
    entries = gray8_entries(16, 16)
    probe = raw_classic_tiff([entries, entries], data=bytes(256))
    first = struct.unpack_from("<I", probe, 4)[0]
    return _write_bytes(
        path,
        raw_classic_tiff([entries, entries], data=bytes(256), next_offset_override={1: first}),
    )


#: tag names write_missing_tag understands
REQUIRED_TAGS = {
    "ImageWidth": 256,
    "ImageLength": 257,
    "PhotometricInterpretation": 262,
    "StripOffsets": 273,
    "StripByteCounts": 279,
}


def write_missing_tag(path: Path, tag: str = "ImageWidth") -> Path:
    """A one-page 8-bit TIFF lacking the required tag ``tag`` (a key of REQUIRED_TAGS)."""
    code = REQUIRED_TAGS[tag]
    entries = [e for e in gray8_entries(16, 16) if e[0] != code]
    return _write_bytes(path, raw_classic_tiff([entries], data=bytes(256)))


def write_symlink_loop(folder: Path) -> Path:
    """Inside ``folder``, ``loop/a -> ../loop`` (a directory symlink cycle); returns ``loop``."""
    loop = Path(folder) / "loop"
    loop.mkdir(parents=True, exist_ok=True)
    (loop / "a").symlink_to(loop, target_is_directory=True)
    return loop


def write_unreadable(path: Path) -> Path:
    """A valid TIFF with all permissions removed (still readable when running as root)."""
    path = write_gray8(path)
    path.chmod(0)
    return path


def write_hint_model(models: Path) -> str:
    """An untrained iizuka-effl0 with hint inputs whose hint weights are not zero."""
    from archive_colorizer.inference.fixture import write_hint_fixture

    return write_hint_fixture(models)


def processed_volume(db: list[str], root: Path, name: str = "vol") -> list[str]:
    """Two small synthetic pages in ``root/name`` ingested as volume ``name`` and colorized by
    ``process --pending`` (the fixture model, working size 32) through the CLI with the global
    options ``db``; returns the `process` argv to run again."""
    from archive_colorizer.cli.app import run
    from archive_colorizer.imaging.synthetic import write_synthetic_page

    folder = root / name
    for number in range(2):
        write_synthetic_page(folder / f"p{number}.tif", width=64, height=48, seed=number)
    assert run([*db, "ingest", str(folder), "--volume", name]) == 0
    process = [*db, "process", "--pending", "--chroma-size", "32", "--json"]
    assert run(process) == 0
    return process
