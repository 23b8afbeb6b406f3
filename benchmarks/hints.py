"""Benchmark a page with colour hints against the same page without, on any model.

    python benchmarks/hints.py                              # an untrained hint model, 1200 x 1600
    python benchmarks/hints.py --model iizuka-effl0.hinted --hints 30 --repeat 5 --json
    python benchmarks/hints.py --width 3000 --height 4000 --device cuda

The page is a synthetic gravure master (``imaging.synthetic``); ``--hints K`` points and short
strokes (a fixed seed) are rasterised at the working size, given to a network with hint inputs
and spread over the prediction (``imaging.hint_propagation``) by ``colorize_master(hints=...)``,
as the runner does for a page with a hint set. Without ``--model`` an untrained
``iizuka-effl0`` with hint inputs (non-zero hint weights) is written to a temporary models
folder. The two variants alternate, each warmed up once, then timed ``--repeat`` times; the
median and minimum page seconds, the median CPU seconds of the process (all threads), the
median ``network`` stage (which includes the rasterisation and the propagation of the hints)
and the ratios with/without are printed (on a shared CPU the minimum and the CPU seconds are
the steadier figures). Target: ratio <= 1.1.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np


def _hint_model(models: Path) -> str:
    from archive_colorizer.inference.fixture import write_hint_fixture

    return write_hint_fixture(models)


def _hints(count: int, width: int, height: int) -> tuple[dict[str, Any], ...]:
    rng = np.random.default_rng(7)
    hints: list[dict[str, Any]] = []
    for index in range(count):
        colour = "#" + "".join(f"{int(v):02x}" for v in rng.integers(0, 256, 3))
        x, y = float(rng.uniform(0, width - 1)), float(rng.uniform(0, height - 1))
        if index % 3 == 2:  # every third a short stroke
            end = [min(width - 1.0, x + width / 20), min(height - 1.0, y + height / 40)]
            hints.append({"stroke": [[x, y], end], "radius": width / 200, "color": colour})
        else:
            hints.append({"point": [x, y], "radius": width / 150, "color": colour})
    return tuple(hints)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="a model with hint inputs")
    parser.add_argument("--width", type=int, default=1200)
    parser.add_argument("--height", type=int, default=1600)
    parser.add_argument("--hints", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--chroma-size", type=int, default=None)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from archive_colorizer.imaging.synthetic import write_synthetic_page
    from archive_colorizer.inference.registry import ENV_MODELS_DIR, load_predictor
    from archive_colorizer.services.colorize import ColorizeParams, colorize_master
    from archive_colorizer.services.hints import PageHintSet, canonical_sha256, parse_hints

    with tempfile.TemporaryDirectory() as folder:
        work = Path(folder)
        model = args.model
        if model is None:
            os.environ[ENV_MODELS_DIR] = str(work / "models")
            model = _hint_model(work / "models")
        predictor = load_predictor(model, device=args.device)
        master = write_synthetic_page(
            work / "page.tif", width=args.width, height=args.height, compression="deflate"
        )
        document = {
            "format": "archcolor-hints/1",
            "volume": "bench",
            "pages": [{"file": "page.tif", "hints": list(_hints(args.hints, args.width,
                                                                 args.height))}],
        }  # fmt: skip
        canonical = tuple(parse_hints(document).pages[0].hints)
        hint_set = PageHintSet(hints=canonical, sha256=canonical_sha256(canonical))
        base = ColorizeParams() if args.chroma_size is None else ColorizeParams(
            chroma_size=args.chroma_size)  # fmt: skip
        variants = {
            "without": (base, None),
            "with": (ColorizeParams(**{**_fields(base), "hints_sha256": hint_set.sha256}),
                     hint_set),
        }  # fmt: skip
        seconds: dict[str, list[float]] = {name: [] for name in variants}
        network: dict[str, list[float]] = {name: [] for name in variants}
        cpu: dict[str, list[float]] = {name: [] for name in variants}
        provenance = {"source_sha256": "0" * 64}
        for round_ in range(args.repeat + 1):
            for name, (params, hints) in variants.items():
                started, cpu_started = time.perf_counter(), time.process_time()
                result = colorize_master(master, work / f"{name}.tif", predictor, params,
                                         provenance=provenance, hints=hints)  # fmt: skip
                if round_:  # the first round warms up
                    seconds[name].append(time.perf_counter() - started)
                    cpu[name].append(time.process_time() - cpu_started)
                    network[name].append(result.stage_seconds["network"])
        figures = {
            "model": predictor.model_name,
            "page": f"{args.width}x{args.height}",
            "working": f"{result.working_width}x{result.working_height}",
            "hints": args.hints,
            "device": str(predictor.device),
            "repeat": args.repeat,
            **{f"page_seconds_{n}": round(statistics.median(v), 3) for n, v in seconds.items()},
            **{f"network_seconds_{n}": round(statistics.median(v), 3) for n, v in network.items()},
        }
        figures.update({f"page_seconds_min_{n}": round(min(v), 3) for n, v in seconds.items()})
        figures.update({f"cpu_seconds_{n}": round(statistics.median(v), 3) for n, v in cpu.items()})
        figures["cpu_ratio"] = round(
            figures["cpu_seconds_with"] / figures["cpu_seconds_without"], 3
        )
        figures["ratio"] = round(figures["page_seconds_with"] / figures["page_seconds_without"], 3)
        figures["ratio_min"] = round(min(seconds["with"]) / min(seconds["without"]), 3)
    if args.json:
        print(json.dumps(figures))
    else:
        for key, value in figures.items():
            print(f"{key:>24}: {value}")


def _fields(params: Any) -> dict[str, Any]:
    from dataclasses import fields

    return {field.name: getattr(params, field.name) for field in fields(params)}


if __name__ == "__main__":
    main()
