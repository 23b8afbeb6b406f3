"""The options of a training run, defined once.

:class:`TrainOptions` holds every knob of the trainer with its default; the trainer's
:class:`~archive_colorizer.inference.training.TrainConfig` extends it with the images and the
output folder, the services pass it through whole, and ``archcolor train`` makes one
command-line option of each field from its :class:`CliOption` (the flag, the help, the bounds
and, where the command line spells the value as text, how to read it). Standard library only,
so the command line can read it without loading torch.
"""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from archive_colorizer.errors import ConfigurationError

__all__ = [
    "CliOption",
    "TrainOptions",
    "command_line_options",
    "parse_augment",
    "parse_network_config",
    "parse_source_shares",
    "parse_sources",
]


def parse_augment(value: str) -> tuple[str, ...]:
    """``none`` or a comma list of simulator styles → tuple of styles (checked by the trainer)."""
    parts = tuple(part.strip() for part in value.split(",") if part.strip())
    return () if parts in ((), ("none",)) else parts


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


def _minutes(value: float | None) -> float | None:
    return None if value is None else value * 60.0


@dataclass(frozen=True)
class CliOption:
    """How a :class:`TrainOptions` field appears on the command line."""

    flag: str
    help: str = ""
    min: float | None = None
    max: float | None = None
    #: the type the command line reads, and its default there, when the field is spelled as
    #: text (or in other units) that ``parse`` turns into the field's value
    text: Any = None
    text_default: Any = None
    parse: Callable[[Any], Any] | None = None


def _cli(**cli: Any) -> dict[str, CliOption]:
    return {"cli": CliOption(**cli)}


def _option(default: Any = None, **cli: Any) -> Any:
    return field(default=default, metadata=_cli(**cli))


@dataclass(kw_only=True)
class TrainOptions:
    """Everything a training run can be told (see `archcolor train --help`)."""

    arch: str = _option(
        "iizuka-effl0", flag="--arch", help="Network: iizuka (from scratch) or iizuka-effl0."
    )
    network_config: dict[str, Any] = field(
        default_factory=dict,
        metadata=_cli(
            flag="--network-config",
            help="Network options as JSON, e.g. '{\"width\": 0.5}' for iizuka.",
            text=str | None,
            parse=parse_network_config,
        ),
    )
    size: int = _option(192, flag="--size", help="Training crop side (px).")
    epochs: int = _option(4, flag="--epochs", min=1)
    batch: int = _option(16, flag="--batch", min=1)
    lr: float = _option(1e-3, flag="--lr", help="Learning rate (stage 1).")
    seed: int = _option(0, flag="--seed")
    augment: tuple[str, ...] = _option(
        ("gravure", "hatching", "halftone"),
        flag="--augment",
        help="Simulated-engraving styles for the network input: none or a comma list of "
        "gravure,color-gravure,hatching,halftone.",
        text=str,
        text_default="gravure,hatching,halftone",
        parse=parse_augment,
    )
    augment_probability: float = _option(0.6, flag="--augment-probability", min=0.0, max=1.0)
    freeze_encoder_epochs: int = _option(
        2,
        flag="--freeze-encoder-epochs",
        min=0,
        help="Epochs with the pretrained encoder frozen (iizuka-effl0) before end-to-end.",
    )
    class_weight: float = _option(
        0.5,
        flag="--class-weight",
        min=0.0,
        help="Weight of the rebalanced ab-class cross-entropy beside the smooth-L1 regression "
        "loss (higher: more vivid colour).",
    )
    max_samples: int | None = _option(
        flag="--max-samples", min=1, help="Samples per epoch at most."
    )
    time_budget_s: float | None = _option(
        flag="--time-budget",
        help="Stop after this many minutes (checkpoint kept, weights written); the frozen stage "
        "gets at most its share of epochs of the budget.",
        text=float | None,
        parse=_minutes,
    )
    threads: int | None = _option(flag="--threads", min=1)
    device: str = _option("cpu", flag="--device", help="cpu or cuda[:N].")
    val_images: int = _option(16, flag="--val-images", min=0, help="Val images checked per epoch.")
    #: start from this installed model's weights (a fresh optimizer; not a resume)
    init_from: Path | None = field(
        default=None,
        metadata=_cli(
            flag="--init-from",
            help="Start from this model folder's weights (verified against its card); a fresh "
            "run, not a --resume.",
        ),
    )
    #: frozen-encoder epochs train on the cached encoder features of this many samples
    cache_features: int | None = _option(
        flag="--cache-features",
        min=1,
        help="iizuka-effl0: compute the frozen encoder's features of N samples once and train "
        "the frozen-encoder epochs on them (many more samples per CPU minute).",
    )
    #: each frozen-encoder epoch caches a new draw of ``cache_features`` samples
    fresh_cache: bool = _option(
        False,
        flag="--fresh-cache",
        help="With --cache-features: every frozen-encoder epoch caches a new draw of N samples "
        "instead of reusing the first (more distinct crops; one checkpoint per N).",
    )
    #: source → share of the samples drawn from it (the other sources split the rest equally)
    source_shares: dict[str, float] = field(
        default_factory=dict,
        metadata=_cli(
            flag="--source-share",
            help="Sampling share of named sources, e.g. gitenberg-print=0.5 (the other sources "
            "split the rest equally; default: every source equally).",
            text=str | None,
            parse=parse_source_shares,
        ),
    )
    #: share of print samples whose ink layer is made bilevel (thresholded) before cropping
    bilevel_share: float = _option(
        0.0,
        flag="--bilevel-share",
        min=0.0,
        max=1.0,
        help="Share of print samples whose ink layer is thresholded to black and white (teaches "
        "the network bilevel scans).",
    )
    #: train colour-hint inputs on hints sampled from the ground truth (iizuka-effl0 only)
    hints: bool = _option(
        False,
        flag="--hints",
        help="Give the network colour-hint inputs and train them on hints sampled from the "
        "ground truth (iizuka-effl0; see docs/hints.md).",
    )

    def options(self) -> dict[str, Any]:
        """The options alone, by field name (what a TrainConfig is built from)."""
        return {spec.name: getattr(self, spec.name) for spec in fields(TrainOptions)}

    @classmethod
    def from_command_line(cls, values: dict[str, Any]) -> TrainOptions:
        """The options from the command line's values (by field name; text parsed)."""
        parsed = {}
        for name, _, _, cli in command_line_options():
            value = values[name]
            parsed[name] = cli.parse(value) if cli.parse is not None else value
        return cls(**parsed)


def command_line_options() -> list[tuple[str, Any, Any, CliOption]]:
    """``(field name, type on the command line, default there, CliOption)`` per option."""
    hints = typing.get_type_hints(TrainOptions)
    found = []
    for spec in fields(TrainOptions):
        cli: CliOption = spec.metadata["cli"]
        if cli.text is not None:
            found.append((spec.name, cli.text, cli.text_default, cli))
        else:
            found.append((spec.name, hints[spec.name], spec.default, cli))
    return found
