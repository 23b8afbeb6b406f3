"""Training with hints (`--hints`): both data paths, and fine-tuning a model without hints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from archive_colorizer.inference.cards import read_card
from archive_colorizer.inference.inferer import NetworkPredictor
from archive_colorizer.inference.networks.iizuka_effl0 import IizukaEffL0
from archive_colorizer.inference.registry import InstalledModel, load_network
from archive_colorizer.inference.training import build_for_training, train
from tests.integration.test_training import cached_config, config_for, make_images

pytestmark = pytest.mark.slow


def test_hint_training_on_images_and_on_cached_features(tmp_path: Path) -> None:
    data = make_images(tmp_path / "data")
    config = config_for(data, tmp_path / "iizuka-effl0.hints", epochs=2)
    config.hints = True
    result = train(config)
    assert result.card is not None and result.card.config["hint_inputs"] is True
    network = load_network(InstalledModel(read_card(config.out), config.out))
    assert isinstance(network, IizukaEffL0) and network.hint_inputs
    hints = np.zeros((3, 40, 48), dtype=np.float32)
    hints[:, 5:9, 5:9] = np.array([40.0, -40.0, 1.0], dtype=np.float32)[:, None, None]
    lightness = np.full((40, 48), 60.0, dtype=np.float32)
    ab = NetworkPredictor(network, half=False, threads=1).predict_ab(lightness, hints)
    assert ab.shape == (2, 40, 48) and np.isfinite(ab).all()

    cached = cached_config(data, tmp_path / "iizuka-effl0.hintcache", epochs=1)
    cached.hints = True
    losses = train(cached, write_model=False).history
    assert len(losses) == 1 and np.isfinite(losses[0]["train_loss"])


def test_hints_on_a_model_without_them_start_from_its_output(tmp_path: Path) -> None:
    data = make_images(tmp_path / "data")
    base = tmp_path / "iizuka-effl0.base"
    train(config_for(data, base, epochs=1))
    config = config_for(data, tmp_path / "iizuka-effl0.next", epochs=1)
    config.init_from = base
    config.hints = True
    network = build_for_training(config)
    assert isinstance(network, IizukaEffL0) and network.hint_inputs
    plain = load_network(InstalledModel(read_card(base), base))
    lightness = torch.rand(1, 1, 48, 64) * 100
    with torch.no_grad():
        assert torch.equal(network.eval()(lightness), plain.eval()(lightness))
