"""The ``iizuka-effl0`` network: geometry, config round trip, class decoding, tiling."""

from __future__ import annotations

import pytest
import torch

from archive_colorizer.inference.inferer import aligned_halo, plan_tiles, sliding_window
from archive_colorizer.inference.networks import build_network
from archive_colorizer.inference.networks.iizuka_effl0 import (
    IizukaEffL0,
    ab_bin_centres,
    lightness_to_grey,
)
from archive_colorizer.inference.training import ab_to_bins


@pytest.fixture(scope="module")
def network() -> IizukaEffL0:
    torch.manual_seed(0)
    net = build_network("iizuka-effl0", ab_grid=8, mix=0.5)
    assert isinstance(net, IizukaEffL0)
    return net.eval()


@pytest.mark.parametrize(("height", "width"), [(1, 1), (7, 5), (33, 18), (64, 48)])
def test_output_has_the_input_size(network: IizukaEffL0, height: int, width: int) -> None:
    lightness = torch.rand(2, 1, height, width) * 100
    with torch.no_grad():
        ab = network(lightness)
    assert ab.shape == (2, 2, height, width)
    assert torch.isfinite(ab).all()


def test_config_rebuilds_the_same_network(network: IizukaEffL0) -> None:
    rebuilt = build_network("iizuka-effl0", **network.config())
    rebuilt.load_state_dict(network.state_dict(), strict=True)
    lightness = torch.rand(1, 1, 40, 40) * 100
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(lightness), network(lightness))
    assert network.receptive_margin > 0 and network.stride == 16


def test_annealed_mean_of_a_certain_class_is_its_centre(network: IizukaEffL0) -> None:
    centres = ab_bin_centres(8)
    logits = torch.full((1, 64, 1, 1), -1e4)
    logits[0, 19] = 1e4
    assert torch.allclose(network.annealed_mean(logits)[0, :, 0, 0], centres[19])
    bins = ab_to_bins(centres.T.reshape(1, 2, 8, 8), 8)
    assert torch.equal(bins.reshape(-1), torch.arange(64))


def test_lightness_to_grey_inverts_cie_lightness() -> None:
    assert float(lightness_to_grey(torch.tensor(100.0))) == pytest.approx(1.0, abs=1e-5)
    assert float(lightness_to_grey(torch.tensor(0.0))) == pytest.approx(0.0, abs=1e-6)
    assert float(lightness_to_grey(torch.tensor(53.389))) == pytest.approx(0.5, abs=1e-3)


def test_bad_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="mix"):
        IizukaEffL0(mix=1.5)
    with pytest.raises(ValueError, match="classification head"):
        IizukaEffL0(ab_grid=0, mix=0.5)


@pytest.mark.slow
def test_tiled_equals_whole(network: IizukaEffL0) -> None:
    torch.manual_seed(1)
    lightness = torch.rand(1, 1, 300, 800) * 100
    halo = aligned_halo(network.receptive_margin, network.stride)
    gvec = network.global_features(torch.rand(1, 1, 224, 224) * 100)
    with torch.no_grad():
        whole = network.colorize(lightness, gvec)
        tiles = plan_tiles(300, 800, 2 * halo + 256, halo, network.stride)
        assert len(tiles) > 1
        tiled = sliding_window(lightness, lambda w: network.colorize(w, gvec), tiles, 2)
    assert float((whole - tiled).abs().max()) < 1e-3
