"""Installed models: find them, verify their weights, load them (safetensors only, never pickle).

Models are folders ``<models dir>/<name>/`` holding ``card.json`` and ``weights.safetensors``.
The models directories are those in ``ARCHCOLOR_MODELS_DIR`` (``os.pathsep``-separated, searched
in order; the first folder with a given name wins), else the repository's ``models/``. The
default model is named on the single line of ``DEFAULT`` in the first directory that has one.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from archive_colorizer.config import ENV_MODELS_DIR
from archive_colorizer.errors import ModelError, ModelNotFoundError, WeightsChecksumError
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.inference.cards import CARD_FILE, ModelCard, read_card
from archive_colorizer.shipped import shipped_dir

if TYPE_CHECKING:  # torch is imported only when a network is loaded (`archcolor models` is fast)
    from archive_colorizer.inference.inferer import NetworkPredictor
    from archive_colorizer.inference.networks.base import ColorizationNet

__all__ = [
    "InstalledModel",
    "default_model_name",
    "find_model",
    "load_network",
    "load_predictor",
    "models_dirs",
    "scan_models",
    "verify_weights",
]

DEFAULT_FILE = "DEFAULT"


@dataclass(frozen=True)
class InstalledModel:
    """A model folder with a readable card."""

    card: ModelCard
    directory: Path

    @property
    def name(self) -> str:
        return self.card.name

    @property
    def weights_path(self) -> Path:
        return self.directory / self.card.weights_file


def repository_models_dir() -> Path:
    """The shipped ``models/`` folder: the source tree's, or the installed wheel's copy."""
    return shipped_dir("models")


def models_dirs(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Directories searched for models, in order."""
    env = os.environ if environ is None else environ
    value = env.get(ENV_MODELS_DIR, "")
    if value.strip():
        return [Path(part).expanduser() for part in value.split(os.pathsep) if part.strip()]
    return [repository_models_dir()]


@dataclass(frozen=True)
class BrokenModel:
    """A model folder whose card cannot be read."""

    directory: Path
    reason: str


def scan_models(
    environ: Mapping[str, str] | None = None,
) -> tuple[list[InstalledModel], list[BrokenModel]]:
    """Installed models sorted by name, and folders with a card.json that cannot be used."""
    found: dict[str, InstalledModel] = {}
    broken: list[BrokenModel] = []
    for directory in models_dirs(environ):
        if not directory.is_dir():
            continue
        for folder in sorted(directory.iterdir()):
            if folder.name in found or not (folder / CARD_FILE).is_file():
                continue
            try:
                found[folder.name] = InstalledModel(read_card(folder), folder)
            except ModelError as error:
                broken.append(BrokenModel(folder, str(error)))
    return [found[name] for name in sorted(found)], broken


def default_model_name(environ: Mapping[str, str] | None = None) -> str | None:
    """The name in the first ``DEFAULT`` file of the models directories, or None."""
    for directory in models_dirs(environ):
        path = directory / DEFAULT_FILE
        if path.is_file():
            name = path.read_text(encoding="utf-8").strip()
            if name:
                return name
    return None


def find_model(name: str | None = None, environ: Mapping[str, str] | None = None) -> InstalledModel:
    """The installed model ``name`` (None: the default); ModelNotFoundError lists what exists."""
    models, broken = scan_models(environ)
    where = os.pathsep.join(str(d) for d in models_dirs(environ))
    names = ", ".join(m.name for m in models) or "none"
    if name is None:
        name = default_model_name(environ)
        if name is None:
            raise ModelNotFoundError(
                f"no default model: no {DEFAULT_FILE} file in {where}; installed: {names}. "
                "Pass --model NAME or write a model name into models/DEFAULT"
            )
    for model in models:
        if model.name == name:
            return model
    for problem in broken:
        if problem.directory.name == name:
            raise ModelError(problem.reason)
    raise ModelNotFoundError(
        f"no model named {name!r} in {where} (set by {ENV_MODELS_DIR} or the repository's "
        f"models/); installed: {names}. Run `archcolor models` to list them"
    )


def _missing(model: InstalledModel) -> WeightsChecksumError:
    return WeightsChecksumError(
        f"{model.weights_path}: weights file of model {model.name!r} is missing; "
        "reinstall the model"
    )


def _mismatch(model: InstalledModel, digest: str, size: int) -> WeightsChecksumError:
    return WeightsChecksumError(
        f"{model.weights_path}: sha256 {digest} ({size} bytes) does not match "
        f"{model.card.weights_sha256} in the card of model {model.name!r}; the file is damaged "
        "or was replaced — reinstall the model (or regenerate it and its card together)"
    )


def verify_weights(model: InstalledModel) -> str:
    """The weights' sha256, after checking it against the card (WeightsChecksumError if not)."""
    if not model.weights_path.is_file():
        raise _missing(model)
    digest, size = sha256_file(model.weights_path)
    if digest != model.card.weights_sha256:
        raise _mismatch(model, digest, size)
    return digest


def load_network(
    model: InstalledModel, config_overrides: Mapping[str, Any] | None = None
) -> ColorizationNet:
    """The model's network with its weights loaded strictly, in evaluation mode.

    The weights file is read once; those very bytes are hashed against the card
    (WeightsChecksumError on a mismatch) and then parsed as safetensors, never unpickled.
    ``config_overrides`` replace entries of the card's config (decoding options such as the
    iizuka-effl0 ``mix``: the weights must still fit strictly).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    from archive_colorizer.inference.networks import build_network

    try:
        data = model.weights_path.read_bytes()
    except FileNotFoundError:
        raise _missing(model) from None
    except OSError as error:
        raise ModelError(f"{model.weights_path}: cannot read weights ({error})") from None
    digest = hashlib.sha256(data).hexdigest()
    if digest != model.card.weights_sha256:
        raise _mismatch(model, digest, len(data))
    config = {**model.card.config, **(config_overrides or {})}
    network = build_network(model.card.arch, **config)
    try:
        state = load(data)
    except SafetensorError as error:
        raise ModelError(
            f"{model.weights_path}: not a readable safetensors file ({error})"
        ) from None
    try:
        network.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise ModelError(
            f"{model.weights_path}: weights do not fit a {model.card.arch!r} network with config "
            f"{config!r} ({first}); the card and weights belong to different models"
        ) from None
    return network.eval()


def load_predictor(
    name: str | None = None,
    device: str = "auto",
    tile_size: int | None = None,
    *,
    half: bool = True,
    environ: Mapping[str, str] | None = None,
    config_overrides: Mapping[str, Any] | None = None,
    input_cap: int | Literal["card"] | None = "card",
) -> NetworkPredictor:
    """A ready ChromaPredictor for model ``name`` (None: the default) on ``device``.

    ``config_overrides``: see :func:`load_network` (for evaluating decoding options).
    ``input_cap``: the long side the network sees at most; ``"card"`` (the default) takes the
    card's ``network_max_side``; measurements of the tiler itself pass None.
    """
    from archive_colorizer.inference.device import resolve_device
    from archive_colorizer.inference.inferer import NetworkPredictor

    torch_device = resolve_device(device)
    model = find_model(name, environ)
    network = load_network(model, config_overrides)
    return NetworkPredictor(
        network,
        device=torch_device,
        half=half,
        tile_size=tile_size,
        model_name=model.name,
        weights_sha256=model.card.weights_sha256,
        card=model.card,
        max_side=model.card.network_max_side if input_cap == "card" else input_cap,
    )
