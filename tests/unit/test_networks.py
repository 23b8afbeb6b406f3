"""The Iizuka network: shapes for any size, width multiplier, stride and receptive margin."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from archive_colorizer.errors import ModelError
from archive_colorizer.inference.networks import ARCHITECTURES, build_network
from archive_colorizer.inference.networks.base import (
    mirror_indices,
    pad_to_multiple,
    receptive_reach,
)
from archive_colorizer.inference.networks.iizuka import IizukaNet


@pytest.fixture(scope="module")
def small_net() -> IizukaNet:
    torch.manual_seed(0)
    network = build_network("iizuka", width=0.0625)
    assert isinstance(network, IizukaNet)
    return network.eval()


@pytest.mark.parametrize(
    ("height", "width"), [(1, 1), (1, 7), (7, 5), (5, 7), (8, 8), (9, 17), (64, 3), (33, 100)]
)
def test_colorize_keeps_any_size(small_net: IizukaNet, height: int, width: int) -> None:
    lightness = torch.rand(2, 1, height, width) * 100
    with torch.no_grad():
        prior = small_net.global_features(torch.rand(2, 1, 224, 224) * 100)
        ab = small_net.colorize(lightness, prior)
        whole = small_net(lightness)
    assert ab.shape == (2, 2, height, width)
    assert whole.shape == (2, 2, height, width)
    assert torch.isfinite(ab).all()
    assert ab.abs().max() <= small_net.ab_scale


def test_global_features_vector(small_net: IizukaNet) -> None:
    with torch.no_grad():
        prior = small_net.global_features(torch.rand(3, 1, 224, 224) * 100)
    assert prior.shape == (3, small_net.global_dim)
    with pytest.raises(ValueError, match="224x224"):
        small_net.global_features(torch.rand(1, 1, 100, 224))


def test_global_prior_changes_colour(small_net: IizukaNet) -> None:
    lightness = torch.rand(1, 1, 32, 32) * 100
    with torch.no_grad():
        first = small_net.colorize(lightness, torch.zeros(1, small_net.global_dim))
        second = small_net.colorize(lightness, torch.full((1, small_net.global_dim), 5.0))
    assert not torch.equal(first, second)


def test_rejects_bad_lightness_shape(small_net: IizukaNet) -> None:
    with pytest.raises(ValueError, match=r"\(N, 1, H, W\)"):
        small_net.colorize(torch.rand(1, 3, 8, 8), torch.zeros(1, small_net.global_dim))


def test_width_one_has_paper_channels() -> None:
    network = build_network("iizuka", width=1.0)
    assert isinstance(network, IizukaNet)
    convs = [m for m in network.low_level.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 128, 128, 256, 256, 512]
    assert [c.stride[0] for c in convs] == [2, 1, 2, 1, 2, 1]
    assert network.global_dim == 256
    fusion = network.fusion[0]
    assert isinstance(fusion, torch.nn.Conv2d)
    assert (fusion.in_channels, fusion.out_channels, fusion.kernel_size) == (512, 256, (1, 1))


def test_width_multiplier_scales_channels() -> None:
    half = build_network("iizuka", width=0.5)
    quarter = build_network("iizuka", width=0.25)
    assert half.global_dim == 128 and quarter.global_dim == 64
    count = [sum(p.numel() for p in n.parameters()) for n in (quarter, half)]
    assert count[0] < count[1]
    assert half.config()["width"] == 0.5
    rebuilt = build_network("iizuka", **half.config())
    assert rebuilt.state_dict().keys() == half.state_dict().keys()


def test_classification_head() -> None:
    network = build_network("iizuka", width=0.0625, num_classes=5).eval()
    assert isinstance(network, IizukaNet)
    with torch.no_grad():
        logits = network.class_logits(torch.rand(2, 1, 224, 224) * 100)
    assert logits.shape == (2, 5)
    plain = build_network("iizuka", width=0.0625)
    assert isinstance(plain, IizukaNet)
    with pytest.raises(ValueError, match="classification head"):
        plain.class_logits(torch.rand(1, 1, 224, 224))


def test_stride_and_receptive_margin(small_net: IizukaNet) -> None:
    assert small_net.stride == 8
    # 6 low + 2 mid convs at strides 2..8, colour convs at 8/4/2, bilinear x2: 65 px (hand count)
    assert small_net.receptive_margin == 65


def test_receptive_margin_bounds_the_impulse_response(small_net: IizukaNet) -> None:
    """Changing one pixel changes no output farther away than the receptive margin."""
    generator = torch.Generator().manual_seed(3)
    lightness = torch.rand(1, 1, 200, 200, generator=generator) * 100
    changed = lightness.clone()
    changed[0, 0, 100, 96] = 100.0 - changed[0, 0, 100, 96]
    with torch.no_grad():
        prior = small_net.global_features(torch.rand(1, 1, 224, 224, generator=generator) * 100)
        diff = (small_net.colorize(changed, prior) - small_net.colorize(lightness, prior)).abs()
    rows, cols = torch.nonzero(diff[0].amax(0) > 0, as_tuple=True)
    assert len(rows) > 0
    reach = max(int((rows - 100).abs().max()), int((cols - 96).abs().max()))
    assert reach <= small_net.receptive_margin


@pytest.mark.parametrize(
    ("ops", "expected"),
    [
        ([("conv", 3, 1)], 1),
        ([("conv", 3, 1)] * 4, 4),
        ([("conv", 5, 1), ("conv", 1, 1)], 2),
        ([("conv", 3, 2), ("nearest", 2, 0)], 2),
        ([("conv", 3, 2), ("bilinear", 2, 0)], 3),
    ],
)
def test_receptive_reach_known_cases(ops: list[tuple[str, int, int]], expected: int) -> None:
    assert receptive_reach(ops, probe=256) == expected


def test_receptive_reach_needs_a_closed_grid() -> None:
    with pytest.raises(ValueError, match="back onto itself"):
        receptive_reach([("conv", 3, 2)], probe=64)


@pytest.mark.parametrize("length", [2, 3, 5, 9])
def test_mirror_padding_matches_numpy_reflect(length: int) -> None:
    padded = length + min(length - 1, 7)
    expected = np.pad(np.arange(length), (0, padded - length), mode="reflect")
    assert mirror_indices(length, padded, torch.device("cpu")).tolist() == expected.tolist()


def test_mirror_padding_of_tiny_images() -> None:
    one = pad_to_multiple(torch.tensor([[[[7.0]]]]), 8)
    assert one.shape == (1, 1, 8, 8) and bool((one == 7.0).all())
    two = pad_to_multiple(torch.tensor([[[[1.0, 2.0]]]]), 8)
    assert two[0, 0, 0].tolist() == [1, 2, 1, 2, 1, 2, 1, 2]


def test_unknown_architecture_lists_known() -> None:
    with pytest.raises(ModelError, match="iizuka") as caught:
        build_network("unet-9000")
    assert "unet-9000" in str(caught.value)
    assert "iizuka" in ARCHITECTURES


def test_bad_config_is_a_model_error() -> None:
    with pytest.raises(ModelError, match="config"):
        build_network("iizuka", width=-1)
    with pytest.raises(ModelError, match="config"):
        build_network("iizuka", depth=3)
