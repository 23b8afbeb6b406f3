"""Orchestrates `archcolor simulate`: read an image, render it, write the result atomically."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from archive_colorizer.errors import InputError, OutputError, PathNotFoundError
from archive_colorizer.imaging.simulate import simulate


def read_8bit(path: Path) -> np.ndarray:
    """``path`` as uint8 grey ``(H, W)`` or RGB ``(H, W, 3)`` (16-bit scaled, palettes expanded)."""
    if not path.is_file():
        raise PathNotFoundError(f"{path}: no such file")
    try:
        with Image.open(path) as image:
            if image.mode in ("I;16", "I;16B", "I;16L", "I"):
                array = np.asarray(image, dtype=np.float64)
                return np.clip(np.rint(array / 257.0), 0, 255).astype(np.uint8)
            if image.mode in ("1", "L", "LA"):
                return np.asarray(image.convert("L"), dtype=np.uint8)
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as error:
        raise InputError(f"{path}: cannot read image ({error})") from None


def simulate_file(source: Path, target: Path, style: str, seed: int) -> dict[str, Any]:
    """Render ``source`` in ``style`` into ``target``; never writes to ``source``."""
    if target.exists() and source.exists() and target.resolve() == source.resolve():
        raise OutputError(f"{target}: refusing to overwrite the input; choose another OUT path")
    image = read_8bit(source)
    rendered = simulate(image, style, seed)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.with_name(f".{target.name}.tmp{os.getpid()}")
    try:
        Image.fromarray(rendered).save(
            temporary, format=Image.registered_extensions().get(target.suffix.lower(), "PNG")
        )
        temporary.replace(target)
    except (OSError, ValueError, KeyError) as error:
        temporary.unlink(missing_ok=True)
        raise OutputError(f"{target}: cannot write image ({error})") from None
    height, width = rendered.shape[:2]
    return {
        "source": str(source),
        "target": str(target),
        "style": style,
        "seed": seed,
        "width": width,
        "height": height,
        "mode": "RGB" if rendered.ndim == 3 else "L",
    }
