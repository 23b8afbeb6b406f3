"""The installed models as the use cases see them: the identity jobs are made for (name and
weights sha256 read from its card, no weights loaded) and the verified list `archcolor models`
shows. The registry (and torch with it) is imported only when a function runs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from archive_colorizer.errors import WeightsChecksumError

if TYPE_CHECKING:
    from archive_colorizer.inference.registry import InstalledModel


@dataclass(frozen=True)
class ModelIdentity:
    """The model jobs are made for (read from its card; no weights loaded)."""

    name: str
    weights_sha256: str
    #: the render mode its card names (None: the card names none, i.e. ``luminance``)
    render: str | None = None
    #: the wash darkening its card names (None: the built-in value)
    wash_darkening: float | None = None
    #: whether its network takes colour hints (card config ``hint_inputs``)
    hint_inputs: bool = False
    #: side of its network's a*, b* class grid (card config ``ab_grid``; 0: no class head)
    class_grid: int = 0


def resolve_model(name: str | None) -> ModelIdentity:
    """The installed model ``name`` (None: the default) as named in its card."""
    from archive_colorizer.inference import registry

    model = registry.find_model(name)
    return ModelIdentity(
        name=model.name,
        weights_sha256=model.card.weights_sha256,
        render=model.card.render,
        wash_darkening=model.card.wash_darkening,
        hint_inputs=bool(model.card.config.get("hint_inputs", False)),
        class_grid=int(model.card.config.get("ab_grid", 0) or 0),
    )


def _status(model: InstalledModel) -> str:
    from archive_colorizer.inference.registry import verify_weights

    try:
        verify_weights(model)
    except WeightsChecksumError:
        return "missing" if not model.weights_path.is_file() else "MISMATCH"
    return "ok"


def _row(model: InstalledModel, default: str | None) -> dict[str, Any]:
    card = model.card
    return {
        "name": card.name,
        "arch": card.arch,
        "config": card.config,
        "parameters": card.parameters,
        "weights_bytes": card.weights_bytes,
        "weights_sha256": card.weights_sha256,
        "status": _status(model),
        "default": card.name == default,
        "directory": str(model.directory),
        "training_data": card.training_data,
        "metrics": card.metrics,
        "created": card.created,
    }


def installed_models_report() -> dict[str, Any]:
    """The installed models, each with its weights verified against its card: models_dirs,
    default (the name in DEFAULT, or None), models (one row each; status ok, missing or
    MISMATCH), broken (directory, reason: cards that cannot be read)."""
    from archive_colorizer.inference.registry import default_model_name, models_dirs, scan_models

    default = default_model_name()
    models, broken = scan_models()
    return {
        "models_dirs": [str(d) for d in models_dirs()],
        "default": default,
        "models": [_row(model, default) for model in models],
        "broken": [{"directory": str(b.directory), "reason": b.reason} for b in broken],
    }
