"""A model card's decoding options per rendering (``render_config``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from archive_colorizer.inference.cards import ModelCard, read_card, write_card
from archive_colorizer.inference.inferer import NetworkPredictor
from archive_colorizer.inference.networks import build_network
from archive_colorizer.inference.registry import ENV_MODELS_DIR, load_predictor
from archive_colorizer.services.colorize import predict_chroma

BASE = {
    "name": "iizuka-effl0.test",
    "arch": "iizuka-effl0",
    "config": {"ab_grid": 22, "mix": 0.7},
    "weights_sha256": "0" * 64,
    "weights_bytes": 1,
    "parameters": 1,
}


def predictor(card: ModelCard) -> NetworkPredictor:
    torch.manual_seed(5)
    network = build_network("iizuka-effl0", ab_grid=22, mix=0.7)
    return NetworkPredictor(network, device=torch.device("cpu"), half=False, threads=1, card=card)


def lightness() -> np.ndarray:
    rng = np.random.default_rng(1)
    return np.clip(rng.normal(60, 20, (40, 56)), 0, 100).astype(np.float32)


def test_the_card_keeps_its_render_config_and_older_cards_their_bytes(tmp_path: Path) -> None:
    plain = ModelCard.from_dict(BASE)
    assert plain.render_config is None and "render_config" not in plain.to_dict()
    assert plain.decoding("luminance") == {}
    card = ModelCard.from_dict({**BASE, "render_config": {"luminance": {"mix": 0.9}}})
    folder = tmp_path / card.name
    folder.mkdir()
    write_card(card, folder)
    assert read_card(folder) == card
    assert json.loads((folder / "card.json").read_text())["render_config"] == {
        "luminance": {"mix": 0.9}
    }
    assert card.decoding("luminance") == {"mix": 0.9}
    assert card.decoding("wash") == {} and card.decoding(None) == {}


def test_a_rendering_decodes_with_its_options_and_others_with_the_config() -> None:
    image = lightness()
    plain = predictor(ModelCard.from_dict(BASE))
    tuned = predictor(ModelCard.from_dict({**BASE, "render_config": {"luminance": {"mix": 1.0}}}))
    config = predict_chroma(plain, image)
    # the wash rendering has no options of its own: the config's mix, exactly
    np.testing.assert_array_equal(predict_chroma(tuned, image, render="wash"), config)
    luminance = predict_chroma(tuned, image, render="luminance")
    assert not np.array_equal(luminance, config)
    plain.network.mix = 1.0
    np.testing.assert_allclose(luminance, predict_chroma(plain, image), atol=1e-6)
    assert tuned.network.mix == pytest.approx(0.7)  # restored after the call


def test_options_asked_for_win_over_the_cards(tmp_path: Path) -> None:
    """``evaluate --network-config`` measures exactly the decoding it names."""
    shipped = Path(__file__).resolve().parents[2] / "models" / "iizuka-effl0.v4"
    folder = tmp_path / "iizuka-effl0.v4"
    shutil.copytree(shipped, folder)
    card = json.loads((folder / "card.json").read_text())
    card["render_config"] = {"luminance": {"mix": 0.9, "temperature": 0.5}}
    (folder / "card.json").write_text(json.dumps(card))
    environ = {ENV_MODELS_DIR: str(tmp_path)}
    plain = load_predictor("iizuka-effl0.v4", device="cpu", half=False, environ=environ)
    assert plain.card is not None
    assert plain.card.decoding("luminance") == {"mix": 0.9, "temperature": 0.5}
    asked = load_predictor(
        "iizuka-effl0.v4", device="cpu", half=False, environ=environ, config_overrides={"mix": 0.5}
    )
    assert asked.card is not None and asked.network.mix == 0.5
    assert asked.card.decoding("luminance") == {"temperature": 0.5}
