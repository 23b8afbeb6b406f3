"""Sweep the colour reference's ab-histogram prior on the class head over the val prints.

For each print (``--half A|B``, or all) and its same-book reference (as ``archcolor evaluate
--mode prints --reference same-book`` pairs them) the network's heads are computed once with the
page's own global prior and once with the reference's; every decoding variant is then rendered
as a wash and scored with the prints metrics. Prints one JSON object per line (variant, means).

    PYTHONPATH=$PWD nice -n 10 python benchmarks/reference_prior.py --half A --out sweep-A.json

Variants: ``global`` own | ref; ``weights`` of the reference histogram plate | none | chroma
(plate x wash chroma >= 6, what the pipeline uses); ``smoothing`` and ``floor`` of
:func:`~archive_colorizer.imaging.reference.ab_prior`; ``beta``; ``mix`` model (the card's mix of
regression and annealed mean) | class (annealed mean only) | shift (the model's output moved by
the prior's change of the annealed mean); ``ratio`` 1: the prior divided by the page's own mean
class distribution (floored alike; what the pipeline uses).

The sweeps behind the default (``DEFAULT_REFERENCE_PRIOR``)::

    reference_prior.py --half A --out sweep-A.json            # 240 variants
    reference_prior.py --half A --out sweep2-A.json --weights chroma,plate --smoothings 1.0 \
        --floors 0.1,0.3 --betas 0.25,0.5,1 --mixes model --ratios 0,1
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
from confidence_decoding import network_image, to_full

from archive_colorizer.imaging.color import srgb_codes_to_lab
from archive_colorizer.imaging.datasets import load_rgb, print_books, same_book_references
from archive_colorizer.imaging.paper import plate_strength
from archive_colorizer.imaging.prints import decompose_print
from archive_colorizer.imaging.reference import ab_counts, ab_prior
from archive_colorizer.inference.device import set_threads
from archive_colorizer.inference.networks.base import pad_to_multiple, resize_for_global
from archive_colorizer.inference.registry import load_predictor
from archive_colorizer.services.evaluate import resolve_items
from archive_colorizer.services.evaluate_prints import (
    load_print_truth,
    print_metrics,
    render_candidate,
)

DATA = Path("/work/shared/data/colorization")


def heads(net: Any, lightness: np.ndarray, ref_lightness: np.ndarray, max_side: int) -> Any:
    small, (height, width) = network_image(lightness, max_side)
    ref = torch.from_numpy(np.ascontiguousarray(ref_lightness, dtype=np.float32))[None, None]
    padded = pad_to_multiple(small, net.stride)
    features = net.encoder.features(net.encoder_input(padded), depth=16)
    out = {}
    for name, source in (("own", small), ("ref", ref)):
        vec = net.global_features(resize_for_global(source, net.global_size))
        out[name] = net.decode_heads(features, vec)
    return out, small.shape[-2:], (height, width)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--half", default=None)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--betas", default="0.25,0.5,1,2,4")
    parser.add_argument("--smoothings", default="0.5,1.0")
    parser.add_argument("--floors", default="0.02,0.1")
    parser.add_argument("--mixes", default="model,class,shift")
    parser.add_argument("--weights", default="plate,none")
    parser.add_argument("--globals", default="own,ref")
    parser.add_argument("--ratios", default="0", help="1: the prior divided by the page's mean")
    args = parser.parse_args()
    set_threads(1)
    predictor = load_predictor(None, device="cpu", half=False)
    net = predictor.network
    temperature, mix = net.temperature, net.mix
    centres = net.get_buffer("ab_centres")
    items = resolve_items(DATA, "val", None, args.half, "prints")
    pool = resolve_items(DATA, "val", None, None, "prints")
    refs = same_book_references(items, pool, print_books(DATA))
    floats = lambda text: [float(x) for x in text.split(",")]  # noqa: E731
    grid = list(
        itertools.product(
            args.globals.split(","),
            args.weights.split(","),
            floats(args.smoothings),
            floats(args.floors),
            floats(args.betas),
            args.mixes.split(","),
            [int(x) for x in args.ratios.split(",")],
        )
    )
    sums: dict[str, list[dict[str, float]]] = {}
    started = time.time()
    for index, (item, ref_item) in enumerate(zip(items, refs, strict=True)):
        truth = load_print_truth(item)
        if ref_item is None:
            continue
        ref_rgb = load_rgb(ref_item.path)
        ref_l = srgb_codes_to_lab(ref_rgb, 8)[0]
        layers = decompose_print(ref_rgb)
        plate = plate_strength(layers.ink_lightness)
        chroma = np.hypot(layers.wash_a, layers.wash_b)
        weight_maps = {"none": None, "plate": plate, "chroma": plate * (chroma >= 6.0)}
        counts = {
            name: ab_counts(layers.wash_a, layers.wash_b, w) for name, w in weight_maps.items()
        }
        with torch.inference_mode():
            outs, small, full = heads(net, truth.master_lightness, ref_l, predictor.max_side)

            def score(
                key: str, quarter: torch.Tensor, small: Any = small, full: Any = full,
                truth: Any = truth,
            ) -> None:  # fmt: skip
                ab = to_full(quarter, small, full)
                candidate = render_candidate(truth.master, ab[0], ab[1], "wash", 0.9)
                sums.setdefault(key, []).append(print_metrics(candidate, truth.truth))

            for gname, (reg, logits) in outs.items():
                if gname not in args.globals.split(","):
                    continue
                base_am = torch.einsum(
                    "nqhw,qc->nchw", torch.softmax(logits / temperature, dim=1), centres
                )
                score(json.dumps({"global": gname, "beta": 0.0}), (1 - mix) * reg + mix * base_am)
                score(json.dumps({"global": gname, "beta": 0.0, "mix": "class"}), base_am)
                mean_p = torch.softmax(logits, dim=1).mean(dim=(0, 2, 3)).double().numpy()
                for g, wname, smooth, floor, beta, mixname, ratio in grid:
                    if g != gname:
                        continue
                    prior = ab_prior(counts[wname], net.ab_grid, smooth, floor)
                    log_h = np.log(prior)
                    if ratio:
                        page = (1 - floor) * mean_p / mean_p.sum() + floor / mean_p.size
                        log_h = log_h - np.log(page)
                    logp = torch.from_numpy(log_h).float()[None, :, None, None]
                    am = torch.einsum(
                        "nqhw,qc->nchw",
                        torch.softmax((logits + beta * logp) / temperature, dim=1),
                        centres,
                    )
                    if mixname == "model":
                        quarter = (1 - mix) * reg + mix * am
                    elif mixname == "class":
                        quarter = am
                    else:
                        quarter = (1 - mix) * reg + mix * base_am + (am - base_am)
                    key = {"global": g, "weights": wname, "smoothing": smooth, "floor": floor,
                           "beta": beta, "mix": mixname, "ratio": ratio}  # fmt: skip
                    score(json.dumps(key), quarter)
        print(f"{index + 1}/{len(items)} {time.time() - started:.0f}s", flush=True)
    rows = []
    for key, metrics in sums.items():
        mean = {m: float(np.mean([x[m] for x in metrics])) for m in metrics[0]}
        rows.append({**json.loads(key), "images": len(metrics), **mean})
    rows.sort(key=lambda row: row["ciede2000"])
    args.out.write_text(json.dumps(rows, indent=1))
    for row in rows[:25]:
        print(json.dumps(row))


if __name__ == "__main__":
    main()
