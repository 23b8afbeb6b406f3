"""Installed models: find them, verify their weights, load them (safetensors only, never pickle).

Models are folders ``<models dir>/<name>/`` holding ``card.json`` and ``weights.safetensors``.
The models directories are those in ``ARCHCOLOR_MODELS_DIR`` (``os.pathsep``-separated, searched
in order; the first folder with a given name wins), else the repository's ``models/``. The
default model is named on the single line of ``DEFAULT`` in the first directory that has one.

Weights are verified against their card's sha256 once per file identity: the digest is cached
per user (``ARCHCOLOR_CACHE_DIR``, else ``$XDG_CACHE_HOME/archcolor``, else
``~/.cache/archcolor``; file ``weights-sha256.json``) under the weights' absolute path with its
size, mtime_ns, ctime_ns, inode and device, and the file is hashed again whenever any of these
changed (ctime cannot be set back by a user, so rewriting a file in place and restoring its
mtime is still noticed). The cache is only an optimisation: when it cannot be read or written
the weights are simply hashed every time.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from archive_colorizer.config import ENV_CACHE_DIR, ENV_MODELS_DIR
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
DIGEST_CACHE_FILE = "weights-sha256.json"


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


def cache_dir(environ: Mapping[str, str] | None = None) -> Path:
    """The per-user cache folder (see the module docstring)."""
    env = os.environ if environ is None else environ
    if env.get(ENV_CACHE_DIR, "").strip():
        return Path(env[ENV_CACHE_DIR]).expanduser()
    if env.get("XDG_CACHE_HOME", "").strip():
        return Path(env["XDG_CACHE_HOME"]).expanduser() / "archcolor"
    return Path.home() / ".cache" / "archcolor"


def _identity(status: os.stat_result) -> dict[str, int]:
    return {
        "size": status.st_size,
        "mtime_ns": status.st_mtime_ns,
        "ctime_ns": status.st_ctime_ns,
        "inode": status.st_ino,
        "device": status.st_dev,
    }


def _read_digest_cache(path: Path) -> dict[str, Any]:
    try:
        entries = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return entries if isinstance(entries, dict) else {}


def cached_digest(weights: Path, status: os.stat_result) -> str | None:
    """The sha256 recorded for ``weights`` when its identity (``status``) is unchanged."""
    entry = _read_digest_cache(cache_dir() / DIGEST_CACHE_FILE).get(str(weights.resolve()))
    if isinstance(entry, dict) and entry.get("identity") == _identity(status):
        digest = entry.get("sha256")
        return digest if isinstance(digest, str) else None
    return None


def remember_digest(weights: Path, status: os.stat_result, digest: str) -> None:
    """Record ``digest`` for ``weights`` with the identity ``status`` (best effort, atomic)."""
    path = cache_dir() / DIGEST_CACHE_FILE
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        entries = _read_digest_cache(path)
        entries[str(weights.resolve())] = {"identity": _identity(status), "sha256": digest}
        fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as stream:
                json.dump(entries, stream, indent=1, sort_keys=True)
            os.replace(temporary, path)
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temporary)


def verify_weights(model: InstalledModel) -> str:
    """The weights' sha256, after checking it against the card (WeightsChecksumError if not).

    Hashes the file only when its identity changed since it was last verified (see the module
    docstring).
    """
    weights = model.weights_path
    try:
        before = weights.stat()
    except FileNotFoundError:
        raise _missing(model) from None
    if not weights.is_file():
        raise _missing(model)
    if cached_digest(weights, before) == model.card.weights_sha256:
        return model.card.weights_sha256
    digest, size = sha256_file(weights)
    if digest != model.card.weights_sha256:
        raise _mismatch(model, digest, size)
    if _identity(weights.stat()) == _identity(before):  # unchanged while it was hashed
        remember_digest(weights, before, digest)
    return digest


def load_network(
    model: InstalledModel, config_overrides: Mapping[str, Any] | None = None
) -> ColorizationNet:
    """The model's network with its weights loaded strictly, in evaluation mode.

    The weights file is read once and those very bytes are parsed as safetensors, never
    unpickled; they are hashed against the card (WeightsChecksumError on a mismatch) unless the
    file's identity was unchanged before and after the read and its digest is cached (see the
    module docstring).
    ``config_overrides`` replace entries of the card's config (decoding options such as the
    iizuka-effl0 ``mix``: the weights must still fit strictly).
    """
    from safetensors import SafetensorError
    from safetensors.torch import load

    from archive_colorizer.inference.networks import build_network

    weights = model.weights_path
    try:
        with open(weights, "rb") as stream:
            before = os.fstat(stream.fileno())
            data = stream.read()
            after = os.fstat(stream.fileno())
    except FileNotFoundError:
        raise _missing(model) from None
    except OSError as error:
        raise ModelError(f"{weights}: cannot read weights ({error})") from None
    unchanged = _identity(before) == _identity(after) and len(data) == before.st_size
    if not (unchanged and cached_digest(weights, before) == model.card.weights_sha256):
        digest = hashlib.sha256(data).hexdigest()
        if digest != model.card.weights_sha256:
            raise _mismatch(model, digest, len(data))
        if unchanged:
            remember_digest(weights, before, digest)
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
    card = model.card
    if config_overrides and card.render_config:  # options asked for win over the card's
        card = replace(
            card,
            render_config={
                render: {k: v for k, v in options.items() if k not in config_overrides}
                for render, options in card.render_config.items()
            },
        )
    return NetworkPredictor(
        network,
        device=torch_device,
        half=half,
        tile_size=tile_size,
        model_name=model.name,
        weights_sha256=card.weights_sha256,
        card=card,
        max_side=model.card.network_max_side if input_cap == "card" else input_cap,
    )
