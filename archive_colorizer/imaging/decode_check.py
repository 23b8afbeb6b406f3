"""Decode one page of a master in a child process with a time limit and an address-space limit.

A hostile or broken file can hang a decoder or make it allocate without bound; running the decode
in ``python -m archive_colorizer.imaging.decode_check`` under ``RLIMIT_AS`` and a wall-clock
timeout means the worst it can do is fail this check. The child decodes strip by strip (tile by
tile), so a large master needs little memory, and reports one JSON line on stdout.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

from archive_colorizer.config import (
    DEFAULT_DECODE_MEMORY_LIMIT_BYTES,
    DEFAULT_DECODE_TIMEOUT_S,
    DEFAULT_PAGE_LIMIT,
    DEFAULT_PIXEL_LIMIT,
)
from archive_colorizer.errors import CorruptTiffError, MasterError, PixelLimitError
from archive_colorizer.imaging.tiff_facts import TiffFacts, read_facts

__all__ = [
    "DEFAULT_MEMORY_LIMIT_BYTES",
    "DEFAULT_TIMEOUT_S",
    "decode_check",
]

#: default wall-clock limit for decoding one page
DEFAULT_TIMEOUT_S = DEFAULT_DECODE_TIMEOUT_S
#: default address-space limit of the child (interpreter, numpy and codecs take ~0.5 GiB of it)
DEFAULT_MEMORY_LIMIT_BYTES = DEFAULT_DECODE_MEMORY_LIMIT_BYTES

_EXIT_OK = 0
_EXIT_DECODE_FAILED = 2
_EXIT_OUT_OF_MEMORY = 3
_EXIT_BOMB = 4


class _BombError(Exception):
    """A segment declares more than its strip/tile (raised in the child)."""


def decode_check(
    path: Path,
    *,
    page_index: int = 0,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES,
    pixel_limit: int = DEFAULT_PIXEL_LIMIT,
    page_limit: int = DEFAULT_PAGE_LIMIT,
    facts: TiffFacts | None = None,
) -> None:
    """Fully decode image page ``page_index`` of ``path`` in a child process; return if it decodes.

    The tags are checked first in this process (:func:`read_facts`, no pixels: the same page
    definition and page rules as ingest and the worker), then the child checks each segment's
    own declared size (:mod:`page_rules`) before decoding it, as the worker does. Raises
    CorruptTiffError when the pixel data does not decode (or the decoder crashes), MasterError
    when the decode runs past ``timeout_s`` seconds or needs more than ``memory_limit_bytes`` of
    address space, and whatever :func:`read_facts` raises for a file that is not a usable TIFF.
    """
    path = Path(path)
    if facts is None:  # pass the file's facts when checking several pages: read them once
        facts = read_facts(path, pixel_limit=pixel_limit, page_limit=page_limit)
    if not 0 <= page_index < len(facts.pages):
        raise MasterError(
            f"{path.name}: no image page {page_index} (the file has {len(facts.pages)})"
        )
    page = facts.pages[page_index]
    where = f"{path.name}: page {page_index}"
    command = [
        sys.executable,
        "-m",
        "archive_colorizer.imaging.decode_check",
        str(path),
        str(page.ifd_offset),
        str(memory_limit_bytes),
    ]
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[var] = "1"  # thread pools reserve address space; the decode is single-threaded
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=timeout_s,
            env=env,
            stdin=subprocess.DEVNULL,
            check=False,
        )
    except subprocess.TimeoutExpired as error:
        raise MasterError(
            f"{where}: decoding did not finish within {timeout_s:g} s (stopped; the file may be "
            "hostile or damaged)"
        ) from error
    report = _last_json_line(result.stdout)
    reason = str(report.get("reason", "")) if report else ""
    if result.returncode == _EXIT_OK:
        return
    if result.returncode == _EXIT_OUT_OF_MEMORY:
        raise MasterError(
            f"{where}: decoding needed more than {memory_limit_bytes / 1024**2:.0f} MiB of "
            "memory (stopped; the file may be a decompression bomb)"
        )
    if result.returncode == _EXIT_BOMB:
        raise PixelLimitError(f"{where}: {reason}")
    if result.returncode == _EXIT_DECODE_FAILED:
        raise CorruptTiffError(f"{where}: pixel data does not decode: {reason}")
    if result.returncode < 0:
        signame = _signal_name(-result.returncode)
        raise CorruptTiffError(f"{where}: the decoder crashed ({signame})")
    tail = (result.stderr.strip().splitlines() or ["no message"])[-1]
    raise CorruptTiffError(
        f"{where}: decode check failed (exit status {result.returncode}): {tail[:300]}"
    )


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def _last_json_line(stdout: str) -> dict[str, object] | None:
    for line in reversed(stdout.strip().splitlines()):
        try:
            value = json.loads(line)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
    return None


# --- child side --------------------------------------------------------------------------------


def _limit_address_space(limit: int) -> None:
    import resource

    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))


def decode_page_segments(path: Path, ifd_offset: int) -> int:
    """Decode every strip/tile of the page whose IFD is at ``ifd_offset``, one at a time, after
    checking each one's declared size (:func:`page_rules.segment_header_problem`); return the
    number decoded.

    Raises ValueError (or a codec error) when a segment does not decode to its declared shape.
    Meant to run in the child process.
    """
    import numpy as np
    import tifffile

    from archive_colorizer.imaging import page_rules, tiff_tags
    from archive_colorizer.imaging.tiff_read import page_at

    decoded = 0
    with tifffile.TiffFile(path) as tif:
        page = page_at(tif, ifd_offset)
        if page.is_tiled:
            segment_width, segment_rows = int(page.tilewidth), int(page.tilelength)
        else:
            segment_width = int(page.imagewidth)
            segment_rows = min(int(page.rowsperstrip or page.imagelength), int(page.imagelength))
        compression = int(page.compression)
        decode = page.decode
        kwargs: dict[str, object] = {}
        if compression in tiff_tags.ANY_JPEG_CODES:
            kwargs = {"jpegtables": page.jpegtables, "jpegheader": page.jpegheader}
        handle = tif.filehandle
        for index, (offset, count) in enumerate(
            zip(page.dataoffsets, page.databytecounts, strict=True)
        ):
            if not count:
                continue  # sparse segment: nothing stored, nothing to decode
            handle.seek(offset)
            data = handle.read(count)
            problem = page_rules.segment_header_problem(
                compression, data, segment_width, segment_rows
            )
            if problem is not None:
                raise _BombError(f"segment {index}: {problem}")
            segment, _position, shape = decode(data, index, **kwargs)
            expected = int(np.prod(shape))
            if not isinstance(segment, np.ndarray) or segment.size < expected:
                got = segment.size if isinstance(segment, np.ndarray) else type(segment).__name__
                raise ValueError(f"segment {decoded} decoded to {got} values, expected {expected}")
            decoded += 1
    return decoded


def _child(argv: list[str]) -> int:
    path, ifd_offset, memory_limit = Path(argv[0]), int(argv[1]), int(argv[2])
    import numpy  # noqa: F401 - load the codecs before the limit, so it bounds decoding alone
    import tifffile  # noqa: F401

    import archive_colorizer.imaging.tiff_read  # noqa: F401

    _limit_address_space(memory_limit)
    try:
        segments = decode_page_segments(path, ifd_offset)
    except _BombError as error:
        print(json.dumps({"ok": False, "reason": str(error)}), flush=True)
        return _EXIT_BOMB
    except MemoryError:
        print(json.dumps({"ok": False, "reason": "out of memory"}), flush=True)
        return _EXIT_OUT_OF_MEMORY
    except Exception as error:  # any codec/structure failure is the answer we are looking for
        message = " ".join(str(error).split())[:300] or type(error).__name__
        print(json.dumps({"ok": False, "reason": message}), flush=True)
        return _EXIT_DECODE_FAILED
    print(json.dumps({"ok": True, "segments": segments}), flush=True)
    return _EXIT_OK


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.stderr.write(
            "usage: python -m archive_colorizer.imaging.decode_check PATH IFD_OFFSET BYTES\n"
        )
        sys.exit(64)
    sys.exit(_child(sys.argv[1:]))
