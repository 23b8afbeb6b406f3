"""Benchmark the network's share of a page: a*, b* for one working image at the chroma size.

    python benchmarks/network.py                                  # default model, 1024 px, CPU
    python benchmarks/network.py --model iizuka-effl0.v1 --threads 2 --repeat 5
    python benchmarks/network.py --max-side none,768,512 --json   # compare network input caps

The working image is what the page pipeline hands the predictor at ``--chroma-size`` (default
1024, a 4:3 page: 1024 x 768): a synthetic L* page of engraving-like line screens. Each
configuration is warmed up once, then timed ``--repeat`` times; the median and the minimum are
printed, with the global-prior and local-network seconds of the last run. ``--max-side``
overrides the model card's ``network_max_side`` (``card`` keeps the card's value, ``none`` runs
the working image as is).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any, Literal

import numpy as np


def working_page(height: int, width: int) -> np.ndarray:
    """L* of a synthetic engraving: paper, a plate with hatching whose density follows shading."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    shade = 0.5 + 0.4 * np.sin(x / 97.0) * np.cos(y / 131.0)
    lines = (np.sin((x + y) / 2.1) > 1.0 - 2.0 * shade).astype(np.float32)
    lightness = 92.0 - 70.0 * lines
    margin_y, margin_x = height // 10, width // 10
    lightness[:margin_y] = lightness[-margin_y:] = 93.0
    lightness[:, :margin_x] = lightness[:, -margin_x:] = 93.0
    return lightness.astype(np.float32)


def measure(model: str | None, max_side: str, threads: int, repeat: int, side: int) -> dict:
    import torch

    from archive_colorizer.inference.registry import load_predictor

    torch.set_num_threads(threads)
    cap: int | Literal["card"] | None = "card"
    if max_side != "card":
        cap = None if max_side == "none" else int(max_side)
    predictor = load_predictor(model, device="cpu", half=False, input_cap=cap)
    page = working_page(side * 3 // 4, side)
    predictor.predict_ab(page)  # warm-up
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        predictor.predict_ab(page)
        times.append(time.perf_counter() - started)
    run = predictor.last_run
    return {
        "model": predictor.model_name,
        "working_image": f"{side}x{side * 3 // 4}",
        "network_max_side": predictor.max_side,
        "threads": threads,
        "median_s": statistics.median(times),
        "min_s": min(times),
        "global_s": run.global_seconds,
        "local_s": run.local_seconds,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default=None, help="installed model (default: DEFAULT)")
    parser.add_argument("--chroma-size", type=int, default=1024)
    parser.add_argument("--max-side", default="card", help="comma list of card|none|PX")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    rows: list[dict[str, Any]] = [
        measure(args.model, option, args.threads, args.repeat, args.chroma_size)
        for option in args.max_side.split(",")
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return 0
    print("| model | working image | network max side | threads | median s | min s |")
    print("|---|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['model']} | {row['working_image']} | {row['network_max_side']} | "
            f"{row['threads']} | {row['median_s']:.3f} | {row['min_s']:.3f} |"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
