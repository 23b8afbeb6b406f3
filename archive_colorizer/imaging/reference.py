"""A colour reference's palette, and moving a page's predicted colour towards it.

A curator's colour reference (a coloured copy of a plate, an approved page of the volume, a
painting) says which colours a volume's colourist used. Besides the network's global prior
(computed from the reference's L*, Iizuka et al. 2016 §5), its *colours* can anchor the page:

* :func:`reference_palette`: the reference's wash as a print would have it
  (:func:`~archive_colorizer.imaging.prints.decompose_print`: the colouring relative to its
  paper, ink removed), summarised by the mean and standard deviation of its a*, b*;
* :func:`transfer_palette`: the predicted a*, b* moved towards that palette, Reinhard et al.
  (2001) style in the a*b* plane: ``ab' = ab + s (mu_ref - mu_pred)`` (``spread=False``), or
  with the spread matched as well, ``ab' = mu + (ab - mu_pred) sigma_ref / sigma_pred`` blended
  by ``s``. Statistics of the prediction are weighted by ``weights`` (the plate strength, so
  page margins neither count nor move).

numpy only; O(working image).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from archive_colorizer.imaging.prints import decompose_print

__all__ = ["Palette", "reference_palette", "transfer_palette"]

F32 = npt.NDArray[np.float32]
#: a spread below this (Lab units) is not divided by (a flat prediction stays flat)
MIN_SPREAD = 0.5


@dataclass(frozen=True)
class Palette:
    """Mean and standard deviation of a*, b* (Lab units)."""

    mean_a: float
    mean_b: float
    std_a: float
    std_b: float

    def as_dict(self) -> dict[str, float]:
        return {
            "mean_a": round(self.mean_a, 3),
            "mean_b": round(self.mean_b, 3),
            "std_a": round(self.std_a, 3),
            "std_b": round(self.std_b, 3),
        }


def _stats(a: F32, b: F32, weights: F32 | None) -> Palette:
    w = None if weights is None else np.asarray(weights, dtype=np.float64)
    if w is not None and float(w.sum()) <= 0:
        w = None
    mean_a = float(np.average(a, weights=w))
    mean_b = float(np.average(b, weights=w))
    std_a = float(np.sqrt(np.average((a - mean_a) ** 2, weights=w)))
    std_b = float(np.sqrt(np.average((b - mean_b) ** 2, weights=w)))
    return Palette(mean_a, mean_b, std_a, std_b)


def reference_palette(rgb: npt.NDArray[np.uint8]) -> Palette:
    """The palette of an 8-bit sRGB reference ``(H, W, 3)``: its wash relative to its paper."""
    layers = decompose_print(np.asarray(rgb, dtype=np.uint8))
    return _stats(layers.wash_a, layers.wash_b, None)


def transfer_palette(
    ab: npt.ArrayLike,
    palette: Palette,
    strength: float = 1.0,
    spread: bool = False,
    weights: npt.ArrayLike | None = None,
) -> F32:
    """``ab`` ``(2, h, w)`` moved towards ``palette`` by ``strength`` (0: unchanged, 1: the
    prediction's weighted mean — and with ``spread`` its standard deviation — is the
    palette's)."""
    values = np.asarray(ab, dtype=np.float32)
    if values.ndim != 3 or values.shape[0] != 2:
        raise ValueError(f"ab must be (2, h, w), got {values.shape}")
    if not 0.0 <= strength <= 1.0:
        raise ValueError(f"strength must lie in [0, 1], got {strength}")
    w = None if weights is None else np.asarray(weights, dtype=np.float32)
    own = _stats(values[0], values[1], w)
    moved = np.empty_like(values)
    for index, (mean, std, ref_mean, ref_std) in enumerate(
        ((own.mean_a, own.std_a, palette.mean_a, palette.std_a),
         (own.mean_b, own.std_b, palette.mean_b, palette.std_b))
    ):  # fmt: skip
        plane = values[index]
        if spread and std >= MIN_SPREAD:
            target = ref_mean + (plane - mean) * (ref_std / std)
        else:
            target = plane + (ref_mean - mean)
        moved[index] = plane + strength * (target - plane)
    if w is not None:  # where the plate strength is 0 (page margins) nothing moves
        moved = values + np.clip(w, 0.0, 1.0)[None] * (moved - values)
    return moved.astype(np.float32)
