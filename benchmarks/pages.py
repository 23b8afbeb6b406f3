#!/usr/bin/env python3
"""Per-page job time of a many-page master: independent of the page count (issue 14, attack 4).

For each page count (default 1,000 and 10,000 pages of 8x8 grey), builds one TIFF, reads its
facts as ingest does (timed: O(pages), once per file), then colorizes a few pages near the end
of the file through ``colorize_master`` — the worker's page path, with a predictor that returns
zero chroma so that the network does not dominate — opening each page by the IFD offset
recorded at ingest (what the worker does now), and, for comparison, by walking the IFD chain
(what rows catalogued without an offset fall back to). Prints one line per size, or JSON::

    python benchmarks/pages.py                       # 1,000 and 10,000 pages
    python benchmarks/pages.py --pages 200 2000 --samples 3 --json
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from archive_colorizer.imaging.tiff_facts import read_facts
from archive_colorizer.services.colorize import ColorizeParams, colorize_master


class _ZeroChroma:
    def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
        return np.zeros((2, *lightness.shape), np.float32)


def build(path: Path, pages: int) -> None:
    page = np.arange(64, dtype=np.uint8).reshape(8, 8)
    with tifffile.TiffWriter(path) as tiff:
        for _ in range(pages):
            tiff.write(page, photometric="minisblack", metadata=None)


def _job_seconds(path: Path, out: Path, index: int, offset: int | None) -> float:
    started = time.perf_counter()
    colorize_master(
        path,
        out,
        _ZeroChroma(),
        ColorizeParams(chroma_size=64, paper_mask=False),
        page_index=index,
        provenance={"source_sha256": "0" * 64},
        ifd_offset=offset,
    )
    return time.perf_counter() - started


def measure(folder: Path, pages: int, samples: int, walk: bool) -> dict[str, Any]:
    path = folder / f"pages-{pages}.tif"
    build(path, pages)
    started = time.perf_counter()
    facts = read_facts(path, pixel_limit=10**9, page_limit=max(pages, 1))
    facts_s = time.perf_counter() - started
    chosen = facts.pages[-samples:]
    by_offset = [_job_seconds(path, folder / "out.tif", p.page_index, p.ifd_offset) for p in chosen]
    result: dict[str, Any] = {
        "pages": pages,
        "file_bytes": path.stat().st_size,
        "ingest_facts_s": round(facts_s, 4),
        "per_page_job_s_by_offset": round(statistics.median(by_offset), 5),
    }
    if walk:
        walked = [_job_seconds(path, folder / "out.tif", p.page_index, None) for p in chosen[:1]]
        result["per_page_job_s_walking_the_chain"] = round(statistics.median(walked), 5)
    path.unlink()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, nargs="+", default=[1_000, 10_000])
    parser.add_argument("--samples", type=int, default=5, help="pages timed per size")
    parser.add_argument("--no-walk", action="store_true", help="skip the chain-walking figure")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    results = []
    with tempfile.TemporaryDirectory(prefix="archcolor-pages-") as folder:
        for pages in args.pages:
            results.append(measure(Path(folder), pages, args.samples, not args.no_walk))
    if args.json:
        print(json.dumps({"sizes": results}))
    else:
        for row in results:
            walked = row.get("per_page_job_s_walking_the_chain")
            print(
                f"{row['pages']:>7,} pages ({row['file_bytes'] / 1e6:.1f} MB): facts "
                f"{row['ingest_facts_s']:.3f} s once; per-page job "
                f"{row['per_page_job_s_by_offset'] * 1000:.1f} ms by IFD offset"
                + (f", {walked * 1000:.1f} ms walking the chain" if walked is not None else "")
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
