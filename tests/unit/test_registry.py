"""Model cards, the registry (find, verify, load) and the reproducible test fixture."""

from __future__ import annotations

import json
import os
import pickle
import shutil
from pathlib import Path

import pytest
import torch

from archive_colorizer.errors import (
    ConfigurationError,
    DeviceError,
    ModelError,
    ModelNotFoundError,
    WeightsChecksumError,
)
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.inference.cards import (
    ModelCard,
    read_card,
    render_markdown,
    write_card,
)
from archive_colorizer.inference.device import resolve_device, uses_half_precision
from archive_colorizer.inference.fixture import FIXTURE_NAME, write_fixture
from archive_colorizer.inference.registry import (
    ENV_MODELS_DIR,
    default_model_name,
    find_model,
    load_network,
    load_predictor,
    repository_models_dir,
    scan_models,
    verify_weights,
)

SHIPPED = repository_models_dir() / FIXTURE_NAME


@pytest.fixture
def models_dir(tmp_path: Path) -> Path:
    """A private models directory holding a copy of the shipped fixture, set as the default."""
    directory = tmp_path / "models"
    shutil.copytree(SHIPPED, directory / FIXTURE_NAME)
    (directory / "DEFAULT").write_text(FIXTURE_NAME + "\n")
    return directory


def env(*dirs: Path) -> dict[str, str]:
    return {ENV_MODELS_DIR: os.pathsep.join(str(d) for d in dirs)}


def test_fixture_regenerates_to_the_committed_bytes(tmp_path: Path) -> None:
    card = write_fixture(tmp_path / FIXTURE_NAME)
    shipped = read_card(SHIPPED)
    assert card == shipped
    assert sha256_file(tmp_path / FIXTURE_NAME / "weights.safetensors")[0] == card.weights_sha256
    assert card.weights_bytes < 1_000_000
    for name in ("card.json", "MODEL_CARD.md", "weights.safetensors"):
        assert (tmp_path / FIXTURE_NAME / name).read_bytes() == (SHIPPED / name).read_bytes()


def test_shipped_fixture_card_says_untrained() -> None:
    text = (SHIPPED / "MODEL_CARD.md").read_text()
    card = read_card(SHIPPED)
    assert "UNTRAINED" in text and card.weights_sha256 in text
    assert verify_weights(find_model(FIXTURE_NAME, environ={})) == card.weights_sha256


def test_repository_default_is_an_installed_model() -> None:
    name = default_model_name(environ={})
    assert name is not None
    assert find_model(None, environ={}).name == name


def test_card_round_trip(tmp_path: Path) -> None:
    card = ModelCard(
        name="iizuka.test",
        arch="iizuka",
        config={"width": 0.5},
        weights_sha256="ab" * 32,
        weights_bytes=10,
        parameters=3,
        metrics={"psnr_db": 25.1},
        training_data="nothing",
        created="2026-01-01T00:00:00Z",
    )
    folder = tmp_path / card.name
    folder.mkdir()
    write_card(card, folder)
    assert read_card(folder) == card
    assert ModelCard.from_dict(json.loads((folder / "card.json").read_text())) == card
    assert card.tag == "test"
    markdown = render_markdown(card, "extra words")
    assert card.weights_sha256 in markdown and "psnr_db" in markdown and "extra words" in markdown


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "nodot"}, "arch.tag"),
        ({"name": "other.tag"}, "does not start with its arch"),
        ({"weights_sha256": "XYZ"}, "sha256"),
        ({"colour": "lab"}, "unknown field"),
        ({"network_max_side": 8}, "network_max_side"),
        ({"network_max_side": "512"}, "network_max_side"),
        ({"render": "oil"}, "render must be luminance or wash"),
        ({"render_config": {"oil": {"mix": 0.5}}}, "keys must be render modes"),
        ({"render_config": {"wash": {"width": 0.5}}}, "options must be among mix, temperature"),
        ({"render_config": {"wash": {"mix": "high"}}}, "values must be numbers"),
    ],
)
def test_malformed_cards_are_refused(change: dict[str, object], message: str) -> None:
    data = {
        "name": "iizuka.test",
        "arch": "iizuka",
        "config": {},
        "weights_sha256": "0" * 64,
        "weights_bytes": 1,
        "parameters": 1,
    }
    with pytest.raises(ModelError, match=message):
        ModelCard.from_dict({**data, **change})


def test_card_names_its_render_mode(tmp_path: Path) -> None:
    """A card may state the render mode its model was made for; older cards have no field and
    keep their bytes (the pipeline then renders ``luminance``)."""
    from archive_colorizer.services.colorize import resolve_render

    base = {
        "name": "iizuka.test",
        "arch": "iizuka",
        "config": {},
        "weights_sha256": "0" * 64,
        "weights_bytes": 1,
        "parameters": 1,
    }
    old = ModelCard.from_dict(base)
    assert old.render is None and "render" not in old.to_dict()
    assert "Rendering" not in render_markdown(old)
    washed = ModelCard.from_dict({**base, "render": "wash"})
    folder = tmp_path / washed.name
    folder.mkdir()
    write_card(washed, folder)
    assert json.loads((folder / "card.json").read_text())["render"] == "wash"
    assert read_card(folder) == washed
    assert "| Rendering | `wash`" in render_markdown(washed)
    assert resolve_render(None, washed) == "wash"
    assert resolve_render("luminance", washed) == "luminance"
    assert resolve_render(None, old) == "luminance"
    assert resolve_render(None, None) == "luminance"


def test_card_missing_fields_and_bad_json(tmp_path: Path) -> None:
    folder = tmp_path / "iizuka.x"
    folder.mkdir()
    (folder / "card.json").write_text('{"name": "iizuka.x"}')
    with pytest.raises(ModelError, match="missing field"):
        read_card(folder)
    (folder / "card.json").write_text("{not json")
    with pytest.raises(ModelError, match=r"iizuka\.x.*unreadable model card"):
        read_card(folder)


def test_card_folder_must_match_name(models_dir: Path) -> None:
    (models_dir / FIXTURE_NAME).rename(models_dir / "iizuka.renamed")
    models, broken = scan_models(env(models_dir))
    assert models == [] and [b.directory.name for b in broken] == ["iizuka.renamed"]
    assert "rename the folder" in broken[0].reason
    with pytest.raises(ModelError, match="rename the folder"):
        find_model("iizuka.renamed", env(models_dir))
    with pytest.raises(ModelNotFoundError, match="installed: none"):
        find_model(FIXTURE_NAME, env(models_dir))


def test_tampered_weights_are_refused(models_dir: Path) -> None:
    weights = models_dir / FIXTURE_NAME / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    with pytest.raises(WeightsChecksumError) as caught:
        load_predictor(FIXTURE_NAME, device="cpu", environ=env(models_dir))
    message = str(caught.value)
    assert str(weights) in message and "reinstall" in message
    with pytest.raises(WeightsChecksumError):
        verify_weights(find_model(FIXTURE_NAME, env(models_dir)))


def test_missing_weights_are_refused(models_dir: Path) -> None:
    (models_dir / FIXTURE_NAME / "weights.safetensors").unlink()
    with pytest.raises(WeightsChecksumError, match="missing"):
        load_predictor(FIXTURE_NAME, device="cpu", environ=env(models_dir))


def test_pickle_is_never_loaded(models_dir: Path) -> None:
    """A pickle with a matching card sha256 is still refused: only safetensors is parsed."""
    folder = models_dir / FIXTURE_NAME
    weights = folder / "weights.safetensors"
    weights.write_bytes(pickle.dumps({"low_level.0.0.weight": [1.0]}))
    card = read_card(folder)
    digest, size = sha256_file(weights)
    fields = {**card.to_dict(), "weights_sha256": digest, "weights_bytes": size}
    write_card(ModelCard.from_dict(fields), folder)
    with pytest.raises(ModelError, match="not a readable safetensors"):
        load_network(find_model(FIXTURE_NAME, env(models_dir)))


def test_weights_of_another_shape_are_refused(models_dir: Path) -> None:
    folder = models_dir / FIXTURE_NAME
    card = read_card(folder)
    write_card(ModelCard.from_dict({**card.to_dict(), "config": {"width": 0.125}}), folder)
    with pytest.raises(ModelError, match="different models"):
        load_network(find_model(FIXTURE_NAME, env(models_dir)))


def test_unknown_model_lists_installed_names(models_dir: Path) -> None:
    with pytest.raises(ModelNotFoundError) as caught:
        load_predictor("iizuka.nope", device="cpu", environ=env(models_dir))
    assert "iizuka.nope" in str(caught.value) and FIXTURE_NAME in str(caught.value)


def test_default_and_search_order(models_dir: Path, tmp_path: Path) -> None:
    second = tmp_path / "more"
    shutil.copytree(SHIPPED, second / FIXTURE_NAME)
    other = read_card(second / FIXTURE_NAME)
    folder = second / "iizuka.other"
    (second / FIXTURE_NAME).rename(folder)
    write_card(ModelCard.from_dict({**other.to_dict(), "name": "iizuka.other"}), folder)
    (second / "DEFAULT").write_text("iizuka.other\n")
    names = [m.name for m in scan_models(env(models_dir, second))[0]]
    assert names == [FIXTURE_NAME, "iizuka.other"]
    assert default_model_name(env(models_dir, second)) == FIXTURE_NAME
    assert default_model_name(env(second, models_dir)) == "iizuka.other"
    predictor = load_predictor(None, device="cpu", environ=env(second, models_dir))
    assert predictor.model_name == "iizuka.other"
    assert predictor.weights_sha256 == other.weights_sha256
    assert predictor.card.name == "iizuka.other"
    assert predictor.device == torch.device("cpu")


def test_no_default_says_what_to_do(models_dir: Path) -> None:
    (models_dir / "DEFAULT").unlink()
    with pytest.raises(ModelNotFoundError, match="--model"):
        find_model(None, env(models_dir))


def test_device_resolution() -> None:
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device("auto").type == ("cuda" if torch.cuda.is_available() else "cpu")
    assert not uses_half_precision(torch.device("cpu"))
    assert uses_half_precision(torch.device("cuda", 0))
    assert not uses_half_precision(torch.device("cuda", 0), requested=False)
    with pytest.raises(ConfigurationError, match="auto, cpu, cuda"):
        resolve_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(DeviceError, match="CUDA is not available"):
            resolve_device("cuda:1")


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_half_precision_close_to_cpu() -> None:
    import numpy as np

    lightness = (np.random.default_rng(1).random((300, 400)) * 100).astype(np.float32)
    cpu = load_predictor(FIXTURE_NAME, device="cpu", environ={}).predict_ab(lightness)
    cuda = load_predictor(FIXTURE_NAME, device="cuda", environ={})
    assert cuda.half
    first = cuda.predict_ab(lightness)
    assert first.tobytes() == cuda.predict_ab(lightness).tobytes()
    assert float(np.abs(first - cpu).mean()) < 0.5


def _digest_cache() -> dict[str, object]:
    from archive_colorizer.inference.registry import DIGEST_CACHE_FILE, cache_dir

    path = cache_dir() / DIGEST_CACHE_FILE
    return json.loads(path.read_text()) if path.exists() else {}


def test_verified_digest_is_cached_per_file_identity(
    models_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archive_colorizer.inference import registry

    weights = (models_dir / FIXTURE_NAME / "weights.safetensors").resolve()
    model = find_model(FIXTURE_NAME, env(models_dir))
    assert str(weights) not in _digest_cache()
    digest = verify_weights(model)
    entry = _digest_cache()[str(weights)]
    assert isinstance(entry, dict) and entry["sha256"] == digest
    assert entry["identity"]["size"] == weights.stat().st_size

    def no_hashing(*_args: object) -> None:
        raise AssertionError("the weights were hashed again")

    # while the file's identity is unchanged, neither verifying nor loading hashes it again
    monkeypatch.setattr(registry, "sha256_file", no_hashing)
    monkeypatch.setattr(registry.hashlib, "sha256", no_hashing)
    assert verify_weights(model) == digest
    load_network(model)


@pytest.mark.parametrize("load", [False, True])
def test_weights_changed_in_place_are_still_detected(models_dir: Path, load: bool) -> None:
    # same size, same mtime (set back): the cached digest must not hide the change (the file's
    # ctime, which a user cannot set back, is part of its identity)
    model = find_model(FIXTURE_NAME, env(models_dir))
    verify_weights(model)
    load_network(model)
    weights = model.weights_path
    status = weights.stat()
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0x01
    weights.write_bytes(bytes(data))
    os.utime(weights, ns=(status.st_atime_ns, status.st_mtime_ns))
    assert weights.stat().st_size == status.st_size
    assert weights.stat().st_mtime_ns == status.st_mtime_ns
    with pytest.raises(WeightsChecksumError, match="does not match"):
        load_network(model) if load else verify_weights(model)


def test_a_forged_cache_entry_for_another_identity_is_ignored(models_dir: Path) -> None:
    from archive_colorizer.inference.registry import remember_digest

    model = find_model(FIXTURE_NAME, env(models_dir))
    weights = model.weights_path
    status = weights.stat()
    data = bytearray(weights.read_bytes())
    data[0] ^= 0x01
    weights.write_bytes(bytes(data))
    # the card's digest recorded for the file as it was before the change
    remember_digest(weights, status, model.card.weights_sha256)
    with pytest.raises(WeightsChecksumError):
        verify_weights(model)
    with pytest.raises(WeightsChecksumError):
        load_network(model)
