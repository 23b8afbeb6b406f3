"""Orchestrates `archcolor train`: resolve the image sets, build the config, run the trainer."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from archive_colorizer.errors import ConfigurationError
from archive_colorizer.imaging.datasets import list_images
from archive_colorizer.inference.train_options import (
    TrainOptions,
    parse_augment,
    parse_network_config,
    parse_source_shares,
    parse_sources,
)
from archive_colorizer.inference.training import Reporter, TrainConfig, TrainResult, train

__all__ = [
    "describe_data",
    "parse_augment",
    "parse_network_config",
    "parse_source_shares",
    "parse_sources",
    "run_training",
]


def describe_data(root: Path, counts: Counter[str]) -> str:
    total = sum(counts.values())
    return f"{root} ({total} train images)"


def run_training(
    options: TrainOptions,
    *,
    data: Path,
    val: Path | None,
    out: Path,
    train_split: str = "train",
    val_split: str = "val",
    skip_sources: tuple[str, ...] = (),
    resume: Path | None = None,
    reporter: Reporter | None = None,
) -> TrainResult:
    """Train a model with ``options`` on ``data``'s ``train_split`` (less ``skip_sources``) into
    ``out`` (``models/<arch>.<tag>``); see `archcolor train --help`."""
    arch = options.arch
    if out.name.partition(".")[0] != arch or not out.name.partition(".")[2]:
        raise ConfigurationError(f"--out {out}: the folder name must be {arch}.<tag>")
    train_items = list_images(data, train_split)
    if skip_sources:
        unknown = sorted(set(skip_sources) - {item.source for item in train_items})
        if unknown:
            raise ConfigurationError(
                f"--skip-sources: no training images of source(s) {', '.join(unknown)}"
            )
        train_items = [item for item in train_items if item.source not in skip_sources]
    config = TrainConfig(
        **options.options(),
        train_items=train_items,
        val_items=list_images(val, val_split) if val is not None else [],
        out=out,
        data_description=describe_data(data, Counter(item.source for item in train_items)),
    )
    return train(config, resume=resume, reporter=reporter)
