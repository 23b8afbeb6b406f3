"""Sweep the confidence-adaptive decoding of iizuka-effl0 (``confidence_gain``, ``confidence``,
``confidence_pool``, with ``mix`` and ``temperature``) over the val prints.

The network's heads are computed once per print (``--half A|B``, or all) with the page's own
global prior as ``archcolor evaluate --mode prints`` does; every decoding in ``--settings`` (a
JSON list of config overrides; ``"uniform": g``, a control, multiplies the card's output by
``g`` everywhere) is then applied with the network's own ``combine``, rendered as a
wash and scored with the prints metrics. Prints one JSON object per setting (overrides, means).

    PYTHONPATH=$PWD nice -n 10 python benchmarks/confidence_decoding.py --half A \\
        --settings '[{}, {"confidence_gain": 1.0}]' --out sweep-A.json

The sweeps of issue 20 (half A, 2 x 10 settings; rule: CIEDE2000 < 16.70 and ab RMSE < 11.85,
then the highest CF) chose ``{"confidence_gain": 0.2, "confidence": "chromatic"}`` (15.77,
11.77, CF 22.7 against the card's 15.91, 11.61, 19.8), no better than a uniform chroma gain
of 1.15 at the same ab RMSE (15.83, 11.74, 22.4): the measures do not tell where the hue is
right (benchmarks/confidence_diagnostics.py: AUC 0.50-0.52).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.nn import functional

from archive_colorizer.inference.device import set_threads
from archive_colorizer.inference.inferer import network_input_size
from archive_colorizer.inference.networks.base import pad_to_multiple, resize_for_global
from archive_colorizer.inference.networks.iizuka_effl0 import class_confidence
from archive_colorizer.inference.registry import load_predictor
from archive_colorizer.services.evaluate import resolve_items
from archive_colorizer.services.evaluate_prints import (
    load_print_truth,
    print_metrics,
    render_candidate,
)

DATA = Path("/work/shared/data/colorization")
DECODING = (
    "mix",
    "temperature",
    "confidence_gain",
    "confidence",
    "confidence_pool",
    "confidence_floor",
)


def network_image(lightness: np.ndarray, max_side: int) -> tuple[torch.Tensor, tuple[int, int]]:
    """The L* ``(h, w)`` as the network sees it (area-reduced to ``max_side``) and ``(h, w)``."""
    image = torch.from_numpy(np.ascontiguousarray(lightness, dtype=np.float32))[None, None]
    height, width = image.shape[-2:]
    reduced = network_input_size(height, width, max_side)
    if reduced != (height, width):
        image = functional.interpolate(image, size=reduced, mode="area")
    return image, (height, width)


def heads(net: Any, lightness: np.ndarray, max_side: int) -> Any:
    small, (height, width) = network_image(lightness, max_side)
    padded = pad_to_multiple(small, net.stride)
    features = net.encoder.features(net.encoder_input(padded), depth=16)
    vec = net.global_features(resize_for_global(small, net.global_size))
    return net.decode_heads(features, vec), small.shape[-2:], (height, width)


def to_full(quarter: torch.Tensor, small: Any, full: Any) -> np.ndarray:
    x = functional.interpolate(quarter, scale_factor=4.0, mode="bilinear", align_corners=False)
    x = x[:, :, : small[0], : small[1]]
    if tuple(small) != tuple(full):
        x = functional.interpolate(x, size=tuple(full), mode="bilinear", align_corners=False)
    return x[0].numpy()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--half", default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--settings", default="[{}]", help="JSON list of config overrides")
    parser.add_argument("--limit", type=int, default=0, help="only the first N prints")
    args = parser.parse_args()
    settings = json.loads(args.settings)
    set_threads(1)
    predictor = load_predictor(None, device="cpu", half=False)
    net = predictor.network
    card = {key: getattr(net, key) for key in DECODING}
    items = resolve_items(DATA, "val", None, args.half, "prints")
    if args.limit:
        items = items[: args.limit]
    sums: dict[int, list[dict[str, float]]] = {}
    stats: dict[str, list[float]] = {}
    started = time.time()
    for index, item in enumerate(items):
        truth = load_print_truth(item)
        with torch.inference_mode():
            (reg, logits), small, full = heads(net, truth.master_lightness, predictor.max_side)
            for measure in ("entropy", "maxprob", "chromatic", "hue", "agreement"):
                if measure == "agreement":
                    net.confidence = measure
                    c = net.confidence_map(logits, None, reg)
                else:
                    c = class_confidence(logits, net.get_buffer("ab_centres"), measure)
                stats.setdefault(measure, []).extend(
                    np.percentile(c.numpy(), [10, 50, 90]).tolist()
                )
            for number, overrides in enumerate(settings):
                uniform = float(overrides.get("uniform", 1.0))
                for key, value in {**card, **overrides}.items():
                    if key != "uniform":
                        setattr(net, key, value)
                quarter = (net.combine(reg, logits) * uniform).clamp(-110.0, 110.0)
                ab = to_full(quarter, small, full)
                candidate = render_candidate(truth.master, ab[0], ab[1], "wash", 0.9)
                sums.setdefault(number, []).append(print_metrics(candidate, truth.truth))
        print(f"{index + 1}/{len(items)} {time.time() - started:.0f}s", flush=True)
    for measure, values in stats.items():
        p = np.asarray(values).reshape(-1, 3).mean(axis=0)
        print(f"confidence {measure}: p10 {p[0]:.3f} p50 {p[1]:.3f} p90 {p[2]:.3f}")
    rows = []
    for number, metrics in sums.items():
        mean = {m: float(np.mean([x[m] for x in metrics])) for m in metrics[0]}
        rows.append({**settings[number], "images": len(metrics), **mean})
    args.out.write_text(json.dumps(rows, indent=1))
    for row in rows:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
