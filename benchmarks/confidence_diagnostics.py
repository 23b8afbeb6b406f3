"""Can the class distribution's confidence tell where the model's hue is right?

On the val prints (``--half A|B``, or all) with the card's decoding, per print:

* AUC of each confidence measure (and of the predicted chroma) for "the predicted hue is within
  30° of the true wash's", over pixels whose true chroma is above 6 (up to 4,000 sampled each);
* an oracle: the output's chroma multiplied by ``1 + g`` only where the hue is right (and an
  anti-oracle: only where it is wrong), rendered as a wash and scored with the prints metrics:
  the ceiling of any confidence-gated chroma gain.

    PYTHONPATH=$PWD nice -n 10 python benchmarks/confidence_diagnostics.py --half A
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from confidence_decoding import DATA, heads, to_full

from archive_colorizer.inference.device import set_threads
from archive_colorizer.inference.networks.iizuka_effl0 import class_confidence
from archive_colorizer.inference.registry import load_predictor
from archive_colorizer.services.evaluate import resolve_items
from archive_colorizer.services.evaluate_prints import (
    load_print_truth,
    print_metrics,
    render_candidate,
)

MEASURES = ("entropy", "maxprob", "chromatic", "hue", "agreement")
ORACLES = (("oracle", 0.5), ("oracle", 1.0), ("anti-oracle", 0.5))


def auc(scores: np.ndarray, labels: np.ndarray) -> float:
    ranks = np.empty(len(scores))
    ranks[np.argsort(scores, kind="stable")] = np.arange(1, len(scores) + 1)
    positives = int(labels.sum())
    negatives = len(labels) - positives
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--half", default=None)
    parser.add_argument("--limit", type=int, default=0)
    args = parser.parse_args()
    set_threads(1)
    predictor = load_predictor(None, device="cpu", half=False)
    net = predictor.network
    items = resolve_items(DATA, "val", None, args.half, "prints")[: args.limit or None]
    rng = np.random.default_rng(0)
    scores: dict[str, list[np.ndarray]] = {name: [] for name in (*MEASURES, "pred_chroma")}
    labels: list[np.ndarray] = []
    metrics: dict[str, list[dict[str, float]]] = {}
    for item in items:
        truth = load_print_truth(item)
        with torch.inference_mode():
            (reg, logits), small, full = heads(net, truth.master_lightness, predictor.max_side)
            ab = to_full(net.combine(reg, logits), small, full)
            maps = {}
            for measure in MEASURES:
                if measure == "agreement":
                    net.confidence = measure
                    confidence = net.confidence_map(logits, None, reg)
                else:
                    confidence = class_confidence(logits, net.get_buffer("ab_centres"), measure)
                maps[measure] = to_full(confidence, small, full)[0]
        true_a, true_b = truth.wash_ab
        true_chroma, chroma = np.hypot(true_a, true_b), np.hypot(ab[0], ab[1])
        cosine = (ab[0] * true_a + ab[1] * true_b) / (chroma * true_chroma + 1e-6)
        right = cosine > np.cos(np.radians(30.0))
        for name, gain in ORACLES:
            where = right if name == "oracle" else ~right
            boosted = ab * (1.0 + gain * where)
            candidate = render_candidate(truth.master, boosted[0], boosted[1], "wash", 0.9)
            metrics.setdefault(f"{name} {gain}", []).append(print_metrics(candidate, truth.truth))
        pixels = np.flatnonzero(true_chroma.reshape(-1) > 6.0)
        if pixels.size:
            pixels = rng.choice(pixels, min(4000, pixels.size), replace=False)
            labels.append(right.reshape(-1)[pixels])
            for measure, values in maps.items():
                scores[measure].append(values.reshape(-1)[pixels])
            scores["pred_chroma"].append(chroma.reshape(-1)[pixels])
    y = np.concatenate(labels)
    print(f"hue within 30° on chromatic truth pixels: {y.mean():.3f}")
    for name, values in scores.items():
        print(f"AUC {name}: {auc(np.concatenate(values), y):.3f}")
    for name, rows in metrics.items():
        mean = {key: round(float(np.mean([r[key] for r in rows])), 3) for key in rows[0]}
        print(name, {key: mean[key] for key in ("ciede2000", "ab_rmse", "cf_pred", "cf_true")})


if __name__ == "__main__":
    main()
