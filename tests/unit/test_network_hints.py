"""``iizuka-effl0`` with ``hint_inputs``: zero-initialised hint weights, config, inferer, tiles."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from archive_colorizer.errors import InferenceError
from archive_colorizer.imaging.hints import Hint, rasterise_hints
from archive_colorizer.inference.inferer import (
    NetworkPredictor,
    aligned_halo,
    plan_tiles,
    sliding_window,
)
from archive_colorizer.inference.networks import build_network
from archive_colorizer.inference.networks.base import resize_for_global
from archive_colorizer.inference.networks.iizuka_effl0 import HINT_CHANNELS, IizukaEffL0


def _pair() -> tuple[IizukaEffL0, IizukaEffL0]:
    torch.manual_seed(0)
    plain = build_network("iizuka-effl0", ab_grid=8, mix=0.5)
    hinted = build_network("iizuka-effl0", ab_grid=8, mix=0.5, hint_inputs=True)
    assert isinstance(plain, IizukaEffL0) and isinstance(hinted, IizukaEffL0)
    hinted.load_without_hints(plain.state_dict())
    return plain.eval(), hinted.eval()


@pytest.fixture(scope="module")
def pair() -> tuple[IizukaEffL0, IizukaEffL0]:
    return _pair()


def _hints(height: int, width: int) -> torch.Tensor:
    maps = rasterise_hints(
        [
            Hint(((10.0, 12.0),), 3.0, (50.0, 40.0, -30.0)),
            Hint(((30, 5), (60, 20)), 2, (60, -20, 50)),
        ],
        (width, height),
        (width, height),
    )
    return torch.from_numpy(maps.stacked())[None]


def test_a_network_built_from_one_without_hints_computes_its_output(
    pair: tuple[IizukaEffL0, IizukaEffL0],
) -> None:
    plain, hinted = pair
    lightness = torch.rand(2, 1, 48, 72) * 100
    hints = _hints(48, 72).expand(2, -1, -1, -1)
    with torch.no_grad():
        expected = plain(lightness)
        assert torch.equal(hinted(lightness), expected)  # no hints: bit for bit
        gvec = hinted.global_features(torch.rand(2, 1, 224, 224) * 100)
        reference = plain.colorize(lightness, gvec)
        assert torch.equal(hinted.colorize(lightness, gvec), reference)
        # with hints, the zero hint weights add nothing (up to the summation order)
        for given in (hints, torch.zeros_like(hints)):
            torch.testing.assert_close(
                hinted.colorize(lightness, gvec, given), reference, rtol=0, atol=1e-4
            )


def test_trained_hint_weights_change_the_output_near_the_hints(
    pair: tuple[IizukaEffL0, IizukaEffL0],
) -> None:
    _, hinted = pair
    moved = build_network("iizuka-effl0", **hinted.config())
    moved.load_state_dict(hinted.state_dict())
    with torch.no_grad():
        for conv in moved.hint_convs():  # type: ignore[attr-defined]
            conv.weight[:, -HINT_CHANNELS:].normal_(0, 0.5)
    moved.eval()
    lightness = torch.rand(1, 1, 128, 128) * 100
    hints = torch.zeros(1, 3, 128, 128)
    hints[0, :, 8:16, 8:16] = torch.tensor([60.0, -40.0, 1.0])[:, None, None]
    gvec = moved.global_features(torch.rand(1, 1, 224, 224) * 100)
    with torch.no_grad():
        change = (moved.colorize(lightness, gvec, hints) - moved.colorize(lightness, gvec)).abs()
    assert float(change[..., :24, :24].max()) > 1e-3
    assert float(change[..., 96:, 96:].max()) == 0.0  # beyond the decoder's reach


def test_config_keeps_old_cards_unchanged() -> None:
    plain = build_network("iizuka-effl0", ab_grid=8)
    assert "hint_inputs" not in plain.config() and not plain.hint_inputs
    hinted = build_network("iizuka-effl0", ab_grid=8, hint_inputs=True)
    assert hinted.config()["hint_inputs"] is True and hinted.hint_inputs
    rebuilt = build_network("iizuka-effl0", **hinted.config())
    rebuilt.load_state_dict(hinted.state_dict(), strict=True)
    with pytest.raises(ValueError, match="takes no colour hints"):
        plain.colorize_hinted(
            torch.zeros(1, 1, 16, 16), torch.zeros(1, 1280), torch.zeros(1, 3, 16, 16)
        )


def test_predictor_passes_hint_maps(pair: tuple[IizukaEffL0, IizukaEffL0]) -> None:
    plain, hinted = pair
    lightness = (np.random.default_rng(0).random((40, 70)) * 100).astype(np.float32)
    hints = _hints(40, 70)[0].numpy()
    with_hints = NetworkPredictor(hinted, half=False, threads=1).predict_ab(lightness, hints)
    without = NetworkPredictor(plain, half=False, threads=1).predict_ab(lightness)
    assert with_hints.shape == (2, 40, 70)
    np.testing.assert_allclose(with_hints, without, atol=1e-5)  # zero-initialised hint weights
    with pytest.raises(InferenceError, match="takes no colour hints"):
        NetworkPredictor(plain, half=False, threads=1).predict_ab(lightness, hints)
    with pytest.raises(InferenceError, match=r"hint maps must be \(3, 40, 70\)"):
        NetworkPredictor(hinted, half=False, threads=1).predict_ab(lightness, hints[:, :10])


@pytest.mark.slow
def test_tiled_equals_whole_with_hints() -> None:
    _, hinted = _pair()
    with torch.no_grad():
        for conv in hinted.hint_convs():
            conv.weight[:, -HINT_CHANNELS:].normal_(0, 0.5)
    torch.manual_seed(1)
    lightness = torch.rand(1, 1, 300, 800) * 100
    hints = torch.zeros(1, 3, 300, 800)
    hints[0, :, 100:140, 380:420] = torch.tensor([60.0, -40.0, 1.0])[:, None, None]
    image = torch.cat((lightness, hints), dim=1)
    halo = aligned_halo(hinted.receptive_margin, hinted.stride)
    gvec = hinted.global_features(torch.rand(1, 1, 224, 224) * 100)
    with torch.no_grad():
        whole = hinted.colorize(lightness, gvec, hints)
        tiles = plan_tiles(300, 800, 2 * halo + 256, halo, hinted.stride)
        assert len(tiles) > 1
        tiled = sliding_window(
            image, lambda w: hinted.colorize_hinted(w[:, :1], gvec, w[:, 1:]), tiles, 2
        )
    assert float((whole - tiled).abs().max()) < 1e-3


def test_a_reference_gives_the_global_prior() -> None:
    plain, _ = _pair()
    with torch.no_grad():  # an untrained prior barely matters: make it count
        plain.global_fc[0].weight.mul_(1e8)  # (its random encoder pools to ~1e-8)
    rng = np.random.default_rng(3)
    lightness = (rng.random((40, 70)) * 100).astype(np.float32)
    predictor = NetworkPredictor(plain, half=False, threads=1)
    own = predictor.predict_ab(lightness)
    # the page as its own reference is the automatic prediction, bit for bit
    assert np.array_equal(predictor.predict_ab(lightness, reference=lightness), own)
    # another image's global features change the colour of the same page
    other = np.full((90, 60), 20.0, np.float32)
    other[:, 30:] = 95.0
    referenced = predictor.predict_ab(lightness, reference=other)
    assert np.abs(referenced - own).max() > 1e-2
    with torch.no_grad():
        prior = plain.global_features(resize_for_global(torch.from_numpy(other)[None, None]))
        expected = plain.colorize(torch.from_numpy(lightness)[None, None], prior)[0].numpy()
    np.testing.assert_allclose(referenced, expected, rtol=0, atol=1e-4)
    with pytest.raises(InferenceError, match="reference must be a non-empty 2-D L"):
        predictor.predict_ab(lightness, reference=np.zeros((3, 4, 5), np.float32))
