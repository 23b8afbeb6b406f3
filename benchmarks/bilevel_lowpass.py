"""Colour of bilevel scans against the network input's low-pass (descreening), on real prints.

A bilevel (1-bit) master records tone only as the density of its lines and dots. Each val
print's ink layer is thresholded (L* below ``--cut`` becomes black, the rest white: what a
bilevel scan of the uncoloured plate records), made into the pipeline's network input as
``services.colorize.working_lightness`` makes it (area-reduced to twice the working size, a
Gaussian of ``sigma`` working px, area-reduced to the working size), coloured by the default
model and rendered as a wash on the bilevel master. Scored with the prints metrics against the
real colouring, and with the report's chromatic share (the derivative at 320 px).
Prints one JSON object per sigma (means over the prints).

    PYTHONPATH=$PWD nice -n 10 python benchmarks/bilevel_lowpass.py --half A --sigmas 0.5,1,2,3
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import cv2
import numpy as np

from archive_colorizer.config import DEFAULT_CHROMA_SIZE
from archive_colorizer.imaging.geometry import working_size
from archive_colorizer.imaging.resample import area_reduce, gaussian_lowpass
from archive_colorizer.inference.device import set_threads
from archive_colorizer.inference.registry import load_predictor
from archive_colorizer.services.colorize import predict_chroma
from archive_colorizer.services.evaluate import resolve_items
from archive_colorizer.services.evaluate_prints import (
    load_print_truth,
    print_metrics,
    render_candidate,
)
from archive_colorizer.services.report import MEASURE_SIZE, chromatic_share, reduce_pixels

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "colorization"


def network_input(lightness: np.ndarray, sigma: float, chroma_size: int) -> np.ndarray:
    """The pipeline's working L* of a full-size L* (``working_lightness`` on an array)."""
    height, width = lightness.shape
    w, h = working_size(width, height, chroma_size)
    if sigma <= 0:
        return area_reduce(lightness, w, h)
    grid_w, grid_h = min(width, 2 * w), min(height, 2 * h)
    grid = (
        area_reduce(lightness, grid_w, grid_h)
        if (grid_w, grid_h) != (width, height)
        else (lightness.astype(np.float32))
    )
    blurred = gaussian_lowpass(grid, sigma * grid_w / w, sigma * grid_h / h)
    return blurred if (grid_w, grid_h) == (w, h) else area_reduce(blurred, w, h)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DATA)
    parser.add_argument("--half", default=None)
    parser.add_argument("--sigmas", default="0.5,1,2,3")
    parser.add_argument("--cut", type=float, default=55.0, help="ink L* threshold")
    parser.add_argument("--chroma-size", type=int, default=DEFAULT_CHROMA_SIZE)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    set_threads(2)
    predictor = load_predictor(None, device="cpu", half=False)
    darkening = float(predictor.card.wash_darkening or 0.9)
    items = resolve_items(args.data, "val", None, args.half, "prints")
    items = items[: args.limit] if args.limit else items
    sigmas = [float(value) for value in args.sigmas.split(",")]
    rows: dict[float, list[dict[str, float]]] = {sigma: [] for sigma in sigmas}
    started = time.time()
    for item in items:
        truth = load_print_truth(item)
        bilevel = np.where(truth.master_lightness < args.cut, 0.0, 100.0).astype(np.float32)
        master = np.where(bilevel > 0, 255, 0).astype(np.uint8)
        height, width = master.shape
        for sigma in sigmas:
            ab = predict_chroma(predictor, network_input(bilevel, sigma, args.chroma_size))
            full = [
                cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR) for plane in ab
            ]
            candidate = render_candidate(master, full[0], full[1], "wash", darkening)
            metrics = print_metrics(candidate, truth.truth)
            metrics["report_chromatic"] = chromatic_share(reduce_pixels(candidate, MEASURE_SIZE))
            rows[sigma].append(metrics)
    for sigma in sigmas:
        means = {
            key: round(float(np.mean([r[key] for r in rows[sigma]])), 3) for key in rows[sigma][0]
        }
        print(json.dumps({"sigma": sigma, "cut": args.cut, "images": len(items), **means}))
    print(json.dumps({"seconds": round(time.time() - started, 1)}))


if __name__ == "__main__":
    main()
