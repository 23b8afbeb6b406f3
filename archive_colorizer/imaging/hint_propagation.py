"""Colour hints spread over a prediction after the network, so that every model takes hints.

The network predicts a*, b* at the working resolution; a curator's hints (or the truth hints of
``evaluate --hints``) say what the colour is at a few places. :func:`propagate_hints` corrects
the prediction with them in three steps, each working on what the previous left at the hints
(the residual ``hint_ab - ab`` on the hinted pixels; a *hint* is a connected group of them):

1. **global** (``fallback``): an affine map of the predicted a*, b* (``2 x 3``) fitted to the
   residuals by ridge regression towards no change (``ridge``, in hints; each hint weighs
   one) — ``mean`` (the mean residual) and ``zero`` are the simpler alternatives;
2. **non-local** (``affine`` only, ``feature_sigma > 0``): each place takes the residuals of
   the hints whose L*, predicted a*, b* and (with ``feature_reach``) position are like its
   own, a Gaussian weight per hint against ``feature_prior`` hints of no change — distant
   parts of one object follow one hint;
3. **edge-aware local**: normalised convolution (Knutsson & Westin 1993) ``F(r m) / F(m)``
   with ``F`` the domain-transform recursive filter (Gastal & Oliveira 2011, "Domain Transform
   for Edge-Aware Image and Video Processing": ``iterations`` of horizontal and vertical
   first-order recursive passes over the transformed domain ``1 + sigma_s / sigma_r |dL*|``,
   vectorised across rows and columns) guided by the working L*, so a hint spreads far over
   even tones and stops at strong edges; weighted by the confidence ``c = F(m) / (F(m) + k P)``
   (``P``: the filter's response to one pixel at that pixel on a flat image, so ``F(m) / P``
   counts the hinted pixels a place sees; ``k``: ``half_confidence``), so that it fades out
   far from the hints, back to steps 1-2;
4. the hinted pixels take exactly their hint's colour; a*, b* are clipped to -128..127.

Steps 2 and 3 run on a grid of at most ``grid`` px on the long side (the working image
area-reduced: chroma corrections are smooth, and the reduction removes engraved line and dot
screens from the guide); their corrections are enlarged bilinearly. Sigmas of space are
fractions of the long side, so a hint reaches as far at any working size. Without hints (an
empty mask) the input is returned unchanged, bit for bit. numpy and OpenCV only;
deterministic. The defaults were chosen on half A of the val split (docs/hints.md).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_PROPAGATION",
    "METHOD",
    "HintPropagation",
    "domain_transform_filter",
    "propagate_hints",
]

F32 = npt.NDArray[np.float32]
F64 = npt.NDArray[np.float64]
#: name of the method in job parameters and provenance
METHOD = "domain-transform-rf"
FALLBACKS = ("affine", "mean", "zero")
#: the a*, b* range of the output
AB_LIMITS = (-128.0, 127.0)


@dataclass(frozen=True)
class HintPropagation:
    """Parameters of :func:`propagate_hints` (part of job parameters: they change pixels).

    ``sigma_spatial``: the filter's spatial sigma as a fraction of the image's long side;
    ``sigma_range``: its range sigma in L* units (smaller: edges stop hints sooner);
    ``half_confidence``: hinted grid pixels a place must see for confidence 1/2 (``k``);
    ``fallback``: the correction far from hints, ``mean`` residual or ``zero``;
    ``grid``: long side (px) of the grid the field is computed on; ``iterations``: of the filter.
    """

    sigma_spatial: float = 0.25
    sigma_range: float = 12.0
    half_confidence: float = 2.0
    fallback: str = "affine"
    #: weight of the predicted a*, b* beside L* in the guide (0: L* alone)
    chroma_guide: float = 0.0
    #: ``affine``: ridge strength (in hints) pulling the fitted map towards no change
    ridge: float = 10.0
    #: ``affine``: then non-local, by likeness of L*, a*, b* within this sigma (0: off)
    feature_sigma: float = 8.0
    #: weight (in hints) of "no change" in the non-local step
    feature_prior: float = 2.0
    #: the non-local step's spatial sigma as a fraction of the long side (0: unlimited)
    feature_reach: float = 0.3
    grid: int = 256
    iterations: int = 3

    def __post_init__(self) -> None:
        if not (self.sigma_spatial > 0 and math.isfinite(self.sigma_spatial)):
            raise ValueError(f"sigma_spatial must be > 0, not {self.sigma_spatial!r}")
        if not (self.sigma_range > 0 and math.isfinite(self.sigma_range)):
            raise ValueError(f"sigma_range must be > 0, not {self.sigma_range!r}")
        if not (self.half_confidence > 0 and math.isfinite(self.half_confidence)):
            raise ValueError(f"half_confidence must be > 0, not {self.half_confidence!r}")
        if self.fallback not in FALLBACKS:
            raise ValueError(f"fallback must be one of {', '.join(FALLBACKS)}")
        if self.grid < 8 or self.iterations < 1:
            raise ValueError("grid must be >= 8 px and iterations >= 1")

    def as_dict(self) -> dict[str, Any]:
        """The ``hint_propagation`` entry of job parameters and provenance."""
        return {
            "method": METHOD,
            "sigma_spatial": float(self.sigma_spatial),
            "sigma_range": float(self.sigma_range),
            "half_confidence": float(self.half_confidence),
            "fallback": self.fallback,
            "chroma_guide": float(self.chroma_guide),
            "ridge": float(self.ridge),
            "feature_sigma": float(self.feature_sigma),
            "feature_prior": float(self.feature_prior),
            "feature_reach": float(self.feature_reach),
            "grid": int(self.grid),
            "iterations": int(self.iterations),
        }

    @classmethod
    def from_dict(cls, stored: Mapping[str, Any]) -> HintPropagation:
        """The parameters :meth:`as_dict` wrote (a job's ``hint_propagation`` entry)."""
        values = dict(stored)
        method = values.pop("method", METHOD)
        if method != METHOD:
            raise ValueError(f"hint propagation method {method!r} is not {METHOD!r}")
        names = {spec.name for spec in fields(cls)}
        unknown = sorted(set(values) - names)
        if unknown:
            raise ValueError(f"unknown hint propagation parameters: {', '.join(unknown)}")
        return cls(**values)


DEFAULT_PROPAGATION = HintPropagation()


def _recursive_pass(values: F64, feedback: F64) -> None:
    """One causal and one anti-causal first-order pass along axis 0 of ``values``
    ``(n, c, m)`` in place; ``feedback[i]`` ``(n, m)`` links sample ``i`` to ``i - 1``."""
    for i in range(1, values.shape[0]):
        values[i] += feedback[i] * (values[i - 1] - values[i])
    for i in range(values.shape[0] - 2, -1, -1):
        values[i] += feedback[i + 1] * (values[i + 1] - values[i])


def domain_transform_filter(
    channels: npt.ArrayLike, guide: npt.ArrayLike, sigma_spatial: float, sigma_range: float,
    iterations: int = 3,
) -> F64:  # fmt: skip
    """The domain-transform recursive filter of ``channels`` ``(c, h, w)`` guided by ``guide``
    ``(h, w)`` (Gastal & Oliveira 2011, RF): ``sigma_spatial`` in pixels, ``sigma_range`` in
    guide units. Each 1-D pass is normalised (a constant stays constant)."""
    values = np.array(channels, dtype=np.float64)
    lightness = np.asarray(guide, dtype=np.float64)
    if lightness.ndim == 2:
        lightness = lightness[None]
    ratio = sigma_spatial / sigma_range
    # distance in the transformed domain between neighbours, along x (columns) and y (rows)
    step_x = 1.0 + ratio * np.abs(np.diff(lightness, axis=2)).sum(axis=0)  # (h, w - 1)
    step_y = 1.0 + ratio * np.abs(np.diff(lightness, axis=1)).sum(axis=0)  # (h - 1, w)
    across = np.ascontiguousarray(values.transpose(2, 0, 1))  # (w, c, h): columns in order
    for index in range(iterations):
        sigma = sigma_spatial * math.sqrt(3.0) * 2.0 ** (iterations - index - 1)
        sigma /= math.sqrt(4.0**iterations - 1.0)
        a = math.exp(-math.sqrt(2.0) / sigma)
        feedback_x = np.concatenate([np.zeros((1, step_x.shape[0])), np.power(a, step_x).T])
        _recursive_pass(across, feedback_x)
        down = np.ascontiguousarray(across.transpose(2, 1, 0))  # (h, c, w): rows in order
        feedback_y = np.concatenate([np.zeros((1, step_y.shape[1])), np.power(a, step_y)])
        _recursive_pass(down, feedback_y)
        across = np.ascontiguousarray(down.transpose(2, 1, 0))
    return np.ascontiguousarray(across.transpose(1, 2, 0))


@functools.lru_cache(maxsize=16)
def _peak_response(sigma_spatial: float, iterations: int) -> float:
    """The filter's response at a unit impulse on a flat guide (far from the borders): the
    centre of the 1-D composite kernel, squared (the horizontal and vertical passes commute)."""
    half = math.ceil(12 * sigma_spatial) + 8
    line = np.zeros((1, 1, 2 * half + 1))
    line[0, 0, half] = 1.0
    across = np.ascontiguousarray(line.transpose(2, 0, 1))
    for index in range(iterations):
        sigma = sigma_spatial * math.sqrt(3.0) * 2.0 ** (iterations - index - 1)
        sigma /= math.sqrt(4.0**iterations - 1.0)
        a = math.exp(-math.sqrt(2.0) / sigma)
        feedback = np.full((2 * half + 1, 1), a)
        feedback[0] = 0.0
        _recursive_pass(across, feedback)
    centre = float(across[half, 0, 0])
    return centre * centre


def _grid_size(width: int, height: int, grid: int) -> tuple[int, int]:
    scale = min(1.0, grid / max(width, height))
    return max(1, round(width * scale)), max(1, round(height * scale))


def _reduce(plane: F64, size: tuple[int, int]) -> F64:
    if (plane.shape[1], plane.shape[0]) == size:
        return plane
    return np.asarray(cv2.resize(plane, size, interpolation=cv2.INTER_AREA), dtype=np.float64)


def _enlarge(plane: F64, size: tuple[int, int]) -> F64:
    if (plane.shape[1], plane.shape[0]) == size:
        return plane
    return np.asarray(cv2.resize(plane, size, interpolation=cv2.INTER_LINEAR), dtype=np.float64)


def _affine_correction(
    prediction: F32, hint_ab: F32, labels: npt.NDArray[np.int32], params: HintPropagation
) -> F64:
    """The correction far from every hint ``(2, h, w)``: zero, the mean residual, or an affine
    map of the predicted a*, b* fitted to the hints (ridge towards no change, each hint — a
    connected group of hinted pixels — weighing one)."""
    if params.fallback == "zero":
        return np.zeros(prediction.shape)
    hinted = labels > 0
    residual = (hint_ab[:, hinted] - prediction[:, hinted]).astype(np.float64)  # (2, n)
    if params.fallback == "mean":
        return np.broadcast_to(residual.mean(axis=1)[:, None, None], prediction.shape)
    sizes = np.bincount(labels[hinted]).astype(np.float64)
    weight = 1.0 / sizes[labels[hinted]]
    features = np.vstack([prediction[:, hinted] / 50.0, np.ones(residual.shape[1])])  # (3, n)
    normal = (features * weight) @ features.T + params.ridge * np.eye(3)
    gain = np.linalg.solve(normal, (features * weight) @ residual.T)  # (3, 2)
    full = np.concatenate([prediction.reshape(2, -1) / 50.0, np.ones((1, labels.size))])
    return np.asarray((gain.T @ full).reshape(prediction.shape), dtype=np.float64)


def _hint_means(planes: F64, labels: npt.NDArray[np.int32], count: int) -> F64:
    """The mean of each plane ``(k, h, w)`` over each hint (labels 1..count-1): ``(k, n)``."""
    flat = labels.reshape(-1)
    chosen = flat > 0
    sizes = np.bincount(flat[chosen] - 1, minlength=count - 1).astype(np.float64)
    return np.stack(
        [
            np.bincount(flat[chosen] - 1, plane.reshape(-1)[chosen], count - 1) / sizes
            for plane in planes
        ]
    )


def _feature_planes(lightness: F64, prediction: F64, params: HintPropagation) -> F64:
    """What the non-local step compares: L*, predicted a*, b* and (with a reach) positions."""
    planes = [lightness, prediction[0], prediction[1]]
    if params.feature_reach > 0:  # positions, in units that make the reach one feature sigma
        height, width = lightness.shape
        unit = params.feature_sigma / (params.feature_reach * max(height, width))
        rows, columns = np.mgrid[0:height, 0:width]
        planes += [(rows + 0.5) * unit, (columns + 0.5) * unit]
    return np.stack(planes)


def _feature_correction(
    grid_planes: F64, hint_features: F64, shifts: F64, params: HintPropagation
) -> F64:
    """Non-local: each grid pixel takes the residuals ``shifts`` ``(2, n)`` of the hints whose
    features ``(k, n)`` are like its own (within ``feature_sigma``), shrunk by
    ``feature_prior`` hints of no change."""
    features = grid_planes.reshape(len(grid_planes), -1)
    scale = -0.5 / params.feature_sigma**2
    total = np.zeros((2, features.shape[1]))
    weights = np.full(features.shape[1], float(params.feature_prior))
    for index in range(shifts.shape[1]):
        weight = np.exp(((features - hint_features[:, index : index + 1]) ** 2).sum(axis=0) * scale)
        weights += weight
        total += weight * shifts[:, index : index + 1]
    return np.asarray((total / weights).reshape(2, *grid_planes.shape[1:]), dtype=np.float64)


def _local_correction(
    residual: F64, mask: F64, guide: F64, prediction: F64, size: tuple[int, int],
    params: HintPropagation,
) -> F64:  # fmt: skip
    """Edge-aware: the residuals ``(2, h, w)`` on the hinted pixels spread by normalised
    convolution with the domain-transform filter on the grid, times the confidence."""
    sigma = params.sigma_spatial * max(size)
    stack = np.stack([_reduce(residual[0] * mask, size), _reduce(residual[1] * mask, size),
                      _reduce(mask, size)])  # fmt: skip
    planes = [guide]
    if params.chroma_guide > 0:
        planes += [params.chroma_guide * plane for plane in prediction]
    filtered = domain_transform_filter(
        stack, np.stack(planes), sigma, params.sigma_range, params.iterations
    )
    seen = filtered[2]
    local = filtered[:2] / np.maximum(seen, 1e-300)
    confidence = seen / (seen + params.half_confidence * _peak_response(sigma, params.iterations))
    return np.asarray(confidence * local, dtype=np.float64)


def propagate_hints(
    ab: npt.ArrayLike,
    hints: npt.ArrayLike,
    lightness: npt.ArrayLike,
    params: HintPropagation = DEFAULT_PROPAGATION,
) -> F32:
    """``ab`` ``(2, h, w)`` corrected by the hint maps ``(3, h, w)`` (a*, b*, mask), spread
    along ``lightness`` ``(h, w)`` (see the module docstring). No hint: ``ab`` itself."""
    prediction = np.asarray(ab, dtype=np.float32)
    maps = np.asarray(hints, dtype=np.float32)
    guide = np.nan_to_num(np.asarray(lightness, dtype=np.float64))
    _, height, width = prediction.shape
    if maps.shape != (3, height, width) or guide.shape != (height, width):
        raise ValueError(
            f"hints {maps.shape} and lightness {guide.shape} must match ab {prediction.shape}"
        )
    hinted = maps[2] > 0
    if not hinted.any():
        return prediction
    count, labels = cv2.connectedComponents(hinted.astype(np.uint8), connectivity=8)
    base = prediction + _affine_correction(prediction, maps[:2], labels, params)
    size, full = _grid_size(width, height, params.grid), (width, height)
    grid_guide = _reduce(guide, size)
    grid_ab = np.stack([_reduce(np.asarray(plane, np.float64), size) for plane in prediction])
    if params.fallback == "affine" and params.feature_sigma > 0:
        smooth = _feature_planes(
            _enlarge(grid_guide, full),
            np.stack([_enlarge(plane, full) for plane in grid_ab]),
            params,
        )
        shifts = _hint_means(maps[:2] - base, labels, count)
        field = _feature_correction(
            _feature_planes(grid_guide, grid_ab, params),
            _hint_means(smooth, labels, count),
            shifts,
            params,
        )
        base = base + np.stack([_enlarge(plane, full) for plane in field])
    mask = hinted.astype(np.float64)
    field = _local_correction(maps[:2] - base, mask, grid_guide, grid_ab, size, params)
    result = base + np.stack([_enlarge(plane, full) for plane in field])
    result[:, hinted] = maps[:2][:, hinted]
    return np.asarray(np.clip(result, *AB_LIMITS), dtype=np.float32)
