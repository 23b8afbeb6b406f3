"""Model cards: what a weights file is, how to rebuild its network, and where it came from.

A model lives in ``models/<name>/`` as ``card.json`` (this data, machine-readable),
``weights.safetensors`` and ``MODEL_CARD.md`` (for people; :func:`render_markdown` writes one from
the same data). Names are ``arch.tag`` (timm style): ``iizuka.fixture``, ``iizuka-effl0.v1``.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from archive_colorizer.errors import ModelError
from archive_colorizer.imaging.wash import RENDER_MODES

CARD_FILE = "card.json"
WEIGHTS_FILE = "weights.safetensors"
MARKDOWN_FILE = "MODEL_CARD.md"
COLOUR_SPACE = "CIE L*a*b* (D65): L* 0..100 in, a* b* out"
CARD_VERSION = 1
#: the network options a card's ``render_config`` may set per rendering (decoding only: the
#: weights fit whatever they are)
DECODING_OPTIONS = ("mix", "temperature")


@dataclass(frozen=True)
class ModelCard:
    """The facts about one model (see the module docstring)."""

    name: str
    arch: str
    config: dict[str, Any]
    weights_sha256: str
    weights_bytes: int
    parameters: int
    weights_file: str = WEIGHTS_FILE
    global_input_size: int = 224
    #: the long side the local network sees at most: a larger working image is area-reduced to
    #: it and the predicted a*, b* enlarged back (bilinear); None runs the working image as is
    network_max_side: int | None = None
    #: the render mode (``luminance`` or ``wash``) the model was trained and selected for: the
    #: pipeline's default with this model; None (older cards) means ``luminance``
    render: str | None = None
    #: wash rendering: L* the wash loses per unit of chroma, fitted with the model (None: the
    #: built-in :data:`archive_colorizer.imaging.wash.WASH_DARKENING`)
    wash_darkening: float | None = None
    #: decoding options that replace the config's when the output is rendered a given way,
    #: e.g. ``{"luminance": {"mix": 0.8}}`` (keys: render modes; options: DECODING_OPTIONS),
    #: each chosen on that rendering's own evaluation; None: the config's for every rendering
    render_config: dict[str, dict[str, float]] | None = None
    colour_space: str = COLOUR_SPACE
    description: str = ""
    training_data: str = ""
    metrics: dict[str, Any] = field(default_factory=dict)
    licence: str = "Apache-2.0"
    created: str = ""
    card_version: int = CARD_VERSION

    def __post_init__(self) -> None:
        arch, dot, tag = self.name.partition(".")
        if not dot or not arch or not tag or "/" in self.name or "\\" in self.name:
            raise ModelError(f"model name {self.name!r} is not of the form arch.tag")
        if arch != self.arch:
            raise ModelError(f"model name {self.name!r} does not start with its arch {self.arch!r}")
        if self.network_max_side is not None and (
            not isinstance(self.network_max_side, int) or self.network_max_side < 16
        ):
            raise ModelError(
                f"model {self.name!r}: network_max_side must be an integer of at least 16 or "
                f"null, got {self.network_max_side!r}"
            )
        if self.render is not None and self.render not in RENDER_MODES:
            raise ModelError(
                f"model {self.name!r}: render must be {' or '.join(RENDER_MODES)} or null, "
                f"got {self.render!r}"
            )
        if self.wash_darkening is not None and not (
            isinstance(self.wash_darkening, int | float)
            and math.isfinite(self.wash_darkening)
            and self.wash_darkening >= 0
        ):
            raise ModelError(
                f"model {self.name!r}: wash_darkening must be a number >= 0 or null, "
                f"got {self.wash_darkening!r}"
            )
        self._check_render_config()
        if len(self.weights_sha256) != 64 or any(
            c not in "0123456789abcdef" for c in self.weights_sha256
        ):
            raise ModelError(f"model {self.name!r}: weights_sha256 is not a lowercase sha256 hex")

    def _check_render_config(self) -> None:
        config = self.render_config
        if config is None:
            return
        problem = None
        if not isinstance(config, dict) or not set(config) <= set(RENDER_MODES):
            problem = f"keys must be render modes ({', '.join(RENDER_MODES)})"
        else:
            for options in config.values():
                if not isinstance(options, dict) or not set(options) <= set(DECODING_OPTIONS):
                    problem = f"options must be among {', '.join(DECODING_OPTIONS)}"
                elif not all(
                    isinstance(v, int | float) and math.isfinite(v) for v in options.values()
                ):
                    problem = "option values must be numbers"
        if problem is not None:
            raise ModelError(f"model {self.name!r}: render_config {config!r}: {problem}")

    def decoding(self, render: str | None) -> dict[str, float]:
        """The decoding options that replace the config's for ``render`` ({} for none)."""
        if render is None or not self.render_config:
            return {}
        return dict(self.render_config.get(render, {}))

    @property
    def tag(self) -> str:
        """The part of the name after the architecture."""
        return self.name.partition(".")[2]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready data (``render`` only when the card names a mode, so that cards
        written before the field existed keep their bytes)."""
        data = asdict(self)
        for optional in ("render", "wash_darkening", "render_config"):
            if data[optional] is None:
                del data[optional]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: str = "model card") -> ModelCard:
        """A card from :meth:`to_dict` data; ModelError naming ``source`` when malformed."""
        if not isinstance(data, dict):
            raise ModelError(f"{source}: expected a JSON object")
        known = {f.name for f in fields(cls)}
        required = {"name", "arch", "config", "weights_sha256", "weights_bytes", "parameters"}
        missing = sorted(required - data.keys())
        if missing:
            raise ModelError(
                f"{source}: missing field(s) {', '.join(missing)}; reinstall the model"
            )
        unknown = sorted(data.keys() - known)
        if unknown:
            raise ModelError(
                f"{source}: unknown field(s) {', '.join(unknown)}; "
                "the card was written by a newer archcolor — upgrade archcolor"
            )
        if not isinstance(data["config"], dict):
            raise ModelError(f"{source}: config must be a JSON object")
        try:
            return cls(**data)
        except TypeError as error:
            raise ModelError(f"{source}: {error}") from None


def now_utc() -> str:
    """The current time as an ISO 8601 UTC timestamp (seconds)."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def write_card(card: ModelCard, directory: Path) -> Path:
    """Write ``card.json`` into ``directory`` (sorted keys, 2-space indent, trailing newline)."""
    path = directory / CARD_FILE
    path.write_text(json.dumps(card.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path


def read_card(directory: Path) -> ModelCard:
    """The card in ``directory/card.json``; ModelError when missing or malformed."""
    path = directory / CARD_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ModelError(f"{path}: model card missing; reinstall the model") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise ModelError(f"{path}: unreadable model card ({error}); reinstall the model") from None
    card = ModelCard.from_dict(data, source=str(path))
    if card.name != directory.name:
        raise ModelError(
            f"{path}: card names model {card.name!r} but its folder is {directory.name!r}; "
            "rename the folder to the model name"
        )
    return card


def _network_input(max_side: int | None) -> str:
    if max_side is None:
        return "the working image as is"
    return f"the working image reduced to at most {max_side} px on its long side"


def render_markdown(card: ModelCard, body: str = "") -> str:
    """A human-readable MODEL_CARD.md from the card's data, with optional extra ``body`` text."""
    config = ", ".join(f"{key}={value!r}" for key, value in sorted(card.config.items()))
    lines = [
        f"# Model card: `{card.name}`",
        "",
        card.description or "(no description)",
        "",
        "| Field | Value |",
        "|---|---|",
        f"| Architecture | `{card.arch}` ({config}) |",
        f"| Parameters | {card.parameters:,} |",
        f"| Global input | {card.global_input_size}x{card.global_input_size} |",
        f"| Network input | {_network_input(card.network_max_side)} |",
        f"| Colour space | {card.colour_space} |",
        f"| Weights file | `{card.weights_file}` ({card.weights_bytes:,} bytes, safetensors) |",
        f"| Weights sha256 | `{card.weights_sha256}` |",
        *(
            [f"| Rendering | `{card.render}` (the pipeline's default with this model) |"]
            if card.render
            else []
        ),
        f"| Training data | {card.training_data or 'none'} |",
        f"| Licence | {card.licence} |",
        f"| Created | {card.created} |",
        "",
        "## Metrics",
        "",
    ]
    if card.metrics:
        lines += ["| Metric | Value |", "|---|---|"]
        lines += [f"| {key} | {value} |" for key, value in sorted(card.metrics.items())]
    else:
        lines.append("None measured.")
    if body:
        lines += ["", body.strip()]
    lines += ["", f"Machine-readable copy: `{CARD_FILE}`.", ""]
    return "\n".join(lines)
