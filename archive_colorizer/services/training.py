"""Orchestrates `archcolor train`: resolve the image sets, build the config, run the trainer."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from archive_colorizer.errors import ConfigurationError
from archive_colorizer.imaging.datasets import list_images
from archive_colorizer.imaging.simulate import STYLES
from archive_colorizer.inference.training import Reporter, TrainConfig, TrainResult, train


def parse_augment(value: str) -> tuple[str, ...]:
    """``none`` or a comma list of simulator styles → tuple of styles."""
    parts = tuple(part.strip() for part in value.split(",") if part.strip())
    if parts in ((), ("none",)):
        return ()
    unknown = [part for part in parts if part not in STYLES]
    if unknown:
        raise ConfigurationError(
            f"--augment: unknown style(s) {', '.join(unknown)}; use none or {', '.join(STYLES)}"
        )
    return parts


def parse_network_config(value: str | None) -> dict[str, Any]:
    """``--network-config`` JSON (an object of network options) → dict; ``None`` → ``{}``."""
    if value is None:
        return {}
    try:
        config = json.loads(value)
    except json.JSONDecodeError as error:
        raise ConfigurationError(
            f"--network-config {value!r} is not JSON ({error.msg}); "
            "give an object such as '{\"width\": 0.5}'"
        ) from None
    if not isinstance(config, dict):
        raise ConfigurationError(
            f"--network-config {value!r} must be a JSON object such as '{{\"width\": 0.5}}'"
        )
    return config


def parse_source_shares(value: str | None) -> dict[str, float]:
    """``--source-share`` ``SOURCE=SHARE[,SOURCE=SHARE...]`` → dict (``None`` → ``{}``)."""
    shares: dict[str, float] = {}
    for part in (value or "").split(","):
        if not part.strip():
            continue
        name, sep, number = part.partition("=")
        try:
            share = float(number)
        except ValueError:
            share = float("nan")
        if not sep or not name.strip() or share != share:
            raise ConfigurationError(
                f"--source-share {value!r}: give SOURCE=SHARE pairs such as gitenberg-print=0.5"
            )
        shares[name.strip()] = share
    return shares


def parse_sources(value: str | None) -> tuple[str, ...]:
    """A comma list of source names → tuple (``None`` → empty)."""
    return tuple(part.strip() for part in (value or "").split(",") if part.strip())


def describe_data(root: Path, counts: Counter[str]) -> str:
    total = sum(counts.values())
    return f"{root} ({total} train images)"


def run_training(
    *,
    data: Path,
    val: Path | None,
    out: Path,
    arch: str,
    size: int,
    epochs: int,
    batch: int,
    lr: float,
    seed: int,
    augment: str,
    augment_probability: float,
    freeze_encoder_epochs: int,
    device: str,
    resume: Path | None,
    time_budget_minutes: float | None,
    max_samples: int | None,
    threads: int | None,
    train_split: str,
    val_split: str,
    val_images: int,
    network_config: dict[str, Any] | None = None,
    init_from: Path | None = None,
    cache_features: int | None = None,
    source_shares: dict[str, float] | None = None,
    skip_sources: tuple[str, ...] = (),
    class_weight: float = 0.5,
    bilevel_share: float = 0.0,
    hints: bool = False,
    reporter: Reporter | None = None,
) -> TrainResult:
    """Train a model into ``out`` (``models/<arch>.<tag>``); see `archcolor train --help`."""
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
    val_items = list_images(val, val_split) if val is not None else []
    counts = Counter(item.source for item in train_items)
    config = TrainConfig(
        train_items=train_items,
        val_items=val_items,
        out=out,
        arch=arch,
        network_config=network_config or {},
        size=size,
        epochs=epochs,
        batch=batch,
        lr=lr,
        seed=seed,
        augment=parse_augment(augment),
        augment_probability=augment_probability,
        freeze_encoder_epochs=freeze_encoder_epochs,
        max_samples=max_samples,
        time_budget_s=None if time_budget_minutes is None else time_budget_minutes * 60.0,
        threads=threads,
        device=device,
        val_images=val_images,
        data_description=describe_data(data, counts),
        init_from=init_from,
        cache_features=cache_features,
        source_shares=source_shares or {},
        class_weight=class_weight,
        bilevel_share=bilevel_share,
        hints=hints,
    )
    return train(config, resume=resume, reporter=reporter)
