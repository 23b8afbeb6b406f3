"""Hints sampled from the ground truth for training (Zhang et al. 2017)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from archive_colorizer.errors import ConfigurationError
from archive_colorizer.imaging.datasets import ImageItem
from archive_colorizer.inference.training import (
    HINT_MAX,
    HINT_NONE_SHARE,
    TrainConfig,
    hint_batch,
    sample_hint_maps,
)


def _truth() -> np.ndarray:
    """a*, b* at 1/4 of a 192 px crop: four flat quadrants."""
    truth = np.zeros((2, 48, 48), dtype=np.float32)
    truth[:, :24, :24] = np.array([40.0, 20.0])[:, None, None]
    truth[:, :24, 24:] = np.array([-30.0, 50.0])[:, None, None]
    truth[:, 24:, :24] = np.array([5.0, -60.0])[:, None, None]
    truth[:, 24:, 24:] = np.array([70.0, 70.0])[:, None, None]
    return truth


def test_sampled_hints_carry_the_local_truth() -> None:
    truth = _truth()
    rng = np.random.default_rng(0)
    empty, counts, exact, noisy = 0, [], 0, 0
    for _ in range(400):
        maps = sample_hint_maps(truth, rng)
        assert maps.shape == (3, 48, 48) and maps.dtype == np.float32
        hinted = maps[2] > 0
        assert set(np.unique(maps[2])) <= {0.0, 1.0}
        assert np.all(maps[:2][:, ~hinted] == 0)
        if not hinted.any():
            empty += 1
            continue
        counts.append(int(hinted.sum()))
        # away from quadrant edges a hint's colour is the truth there (or noisy around it)
        error = np.abs(maps[:2][:, hinted] - truth[:, hinted]).max(axis=0)
        exact += int((error < 1e-4).sum())
        noisy += int((error > 1e-4).sum())
    assert abs(empty / 400 - HINT_NONE_SHARE) < 0.07
    assert max(counts) <= HINT_MAX * 60  # points and short strokes only
    assert exact > 2 * noisy > 0


def test_hint_batches_are_deterministic_and_their_own_stream() -> None:
    truth = torch.from_numpy(np.stack([_truth()] * 3))
    one = hint_batch(truth, seed=1, epoch=2, step=3)
    assert one.shape == (3, 3, 48, 48)
    assert torch.equal(one, hint_batch(truth, seed=1, epoch=2, step=3))
    assert not torch.equal(one, hint_batch(truth, seed=1, epoch=2, step=4))


def test_hints_need_the_effl0_network(tmp_path: Path) -> None:
    item = ImageItem(path=tmp_path / "a.png", source="s")
    with pytest.raises(ConfigurationError, match="--hints needs a network with hint inputs"):
        TrainConfig(
            train_items=[item], val_items=[], out=tmp_path, arch="iizuka", hints=True
        ).validate()
    config = TrainConfig(
        train_items=[item], val_items=[], out=tmp_path, hints=True,
        network_config={"hint_inputs": False},
    )  # fmt: skip
    with pytest.raises(ConfigurationError, match="--hints needs"):
        config.validate()
