"""Colorization network architectures, by name.

Each entry of :data:`ARCHITECTURES` maps an architecture name (the part of a model name before
the dot, ``arch.tag``) to a builder ``(**config) -> ColorizationNet``; a model card stores that
name and config so the registry can rebuild the network before loading its weights. To add an
architecture, implement :class:`~archive_colorizer.inference.networks.base.ColorizationNet` in a
module of this package and add one line below.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from archive_colorizer.errors import ModelError
from archive_colorizer.inference.networks.base import ColorizationNet
from archive_colorizer.inference.networks.iizuka import build_iizuka
from archive_colorizer.inference.networks.iizuka_effl0 import build_iizuka_effl0

Builder = Callable[..., ColorizationNet]

ARCHITECTURES: dict[str, Builder] = {
    "iizuka": build_iizuka,
    "iizuka-effl0": build_iizuka_effl0,
}


def build_network(arch: str, **config: Any) -> ColorizationNet:
    """A new network of architecture ``arch`` built with ``config`` (in training mode)."""
    try:
        builder = ARCHITECTURES[arch]
    except KeyError:
        known = ", ".join(sorted(ARCHITECTURES))
        raise ModelError(
            f"unknown network architecture {arch!r}; this archcolor knows: {known}. "
            "Upgrade archcolor or use a model made for this version."
        ) from None
    try:
        return builder(**config)
    except (TypeError, ValueError) as error:
        raise ModelError(
            f"cannot build a {arch!r} network from config {config!r}: {error}"
        ) from None


__all__ = ["ARCHITECTURES", "Builder", "ColorizationNet", "build_network"]
