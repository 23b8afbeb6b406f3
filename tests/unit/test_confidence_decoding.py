"""The iizuka-effl0 confidence-adaptive decoding (``confidence_gain`` and friends)."""

from __future__ import annotations

import math

import pytest
import torch

from archive_colorizer.inference.networks import build_network
from archive_colorizer.inference.networks.iizuka_effl0 import (
    AB_RANGE,
    IizukaEffL0,
    ab_bin_centres,
    class_confidence,
)

GRID = 8


def make(**decoding: object) -> IizukaEffL0:
    torch.manual_seed(0)
    net = build_network("iizuka-effl0", ab_grid=GRID, mix=0.5, **decoding)
    assert isinstance(net, IizukaEffL0)
    return net.eval()


def peaked_and_flat() -> tuple[torch.Tensor, torch.Tensor]:
    """Regression and logits at 1/4, ``(1, ., 1, 2)``: the left pixel's class distribution is
    peaked on a chromatic bin, the right one's is flat; both regress to the same colour, of
    that bin's hue."""
    logits = torch.zeros(1, GRID * GRID, 1, 2)
    logits[0, 19, 0, 0] = 8.0  # bin 19 of an 8-grid: a* -41.25, b* -13.75
    regression = torch.tensor([-20.0, -8.0]).reshape(1, 2, 1, 1).expand(1, 2, 1, 2).clone()
    return regression, logits


def test_off_by_default_and_bit_identical() -> None:
    plain, explicit = make(), make(confidence_gain=0.0, confidence="maxprob", confidence_pool=3)
    explicit.load_state_dict(plain.state_dict(), strict=True)
    assert "confidence_gain" not in plain.config()
    lightness = torch.rand(1, 1, 40, 56) * 100
    gvec = plain.global_features(torch.rand(1, 1, 224, 224) * 100)
    with torch.no_grad():
        assert torch.equal(plain.colorize(lightness, gvec), explicit.colorize(lightness, gvec))
    regression, logits = peaked_and_flat()
    mixed = 0.5 * regression + 0.5 * plain.annealed_mean(logits)
    assert torch.equal(plain.combine(regression, logits), mixed)


@pytest.mark.parametrize("measure", ["entropy", "maxprob", "chromatic", "hue", "agreement"])
def test_more_chroma_where_the_distribution_is_peaked(measure: str) -> None:
    plain, adaptive = make(), make(confidence_gain=2.0, confidence=measure)
    regression, logits = peaked_and_flat()
    before, after = plain.combine(regression, logits), adaptive.combine(regression, logits)
    gain = after.norm(dim=1) / before.norm(dim=1)
    assert float(gain[0, 0, 0]) > float(gain[0, 0, 1]) >= 1.0
    assert torch.isfinite(after).all() and float(after.abs().max()) <= AB_RANGE


def test_output_is_finite_and_within_range() -> None:
    net = make(confidence_gain=50.0, confidence="chromatic", confidence_pool=3)
    lightness = torch.rand(1, 1, 48, 33) * 100
    gvec = net.global_features(torch.rand(1, 1, 224, 224) * 100)
    with torch.no_grad():
        ab = net.colorize(lightness, gvec)
    assert ab.shape == (1, 2, 48, 33)
    assert torch.isfinite(ab).all() and float(ab.abs().max()) <= AB_RANGE


def test_config_round_trip_keeps_the_decoding() -> None:
    net = make(confidence_gain=1.5, confidence="maxprob", confidence_pool=5, confidence_floor=0.1)
    config = net.config()
    assert config["confidence_gain"] == 1.5 and config["confidence_pool"] == 5
    rebuilt = build_network("iizuka-effl0", **config)
    rebuilt.load_state_dict(net.state_dict(), strict=True)
    lightness = torch.rand(1, 1, 32, 32) * 100
    with torch.no_grad():
        assert torch.equal(rebuilt.eval()(lightness), net(lightness))


def test_confidence_measures_range() -> None:
    centres = ab_bin_centres(GRID)
    flat = torch.zeros(1, GRID * GRID, 1, 1)
    certain = torch.full((1, GRID * GRID, 1, 1), -1e4)
    certain[0, 0] = 1e4  # the corner bin, far from grey
    for measure in ("entropy", "maxprob", "chromatic", "hue"):
        assert float(class_confidence(certain, centres, measure)) == pytest.approx(1.0)
    assert float(class_confidence(flat, centres, "hue")) == pytest.approx(0.0, abs=1e-6)
    assert float(class_confidence(flat, centres, "entropy")) == pytest.approx(0.0, abs=1e-6)
    assert float(class_confidence(flat, centres, "maxprob")) == pytest.approx(1 / GRID**2)
    assert math.isclose(float(class_confidence(flat, centres, "chromatic")), 60 / 64, rel_tol=1e-5)


def test_agreement_is_the_heads_hue_agreement() -> None:
    net = make(confidence_gain=1.0, confidence="agreement")
    _, logits = peaked_and_flat()
    mean = net.annealed_mean(logits)
    same = net.confidence_map(logits, None, mean * 0.5)
    opposite = net.confidence_map(logits, None, -mean)
    assert float(same[0, 0, 0, 0]) == pytest.approx(1.0, abs=1e-5)
    assert float(opposite.max()) == 0.0
    with pytest.raises(ValueError, match="regression"):
        net.confidence_map(logits)


def test_floor_and_pool_smooth_the_confidence() -> None:
    net = make(confidence_gain=1.0, confidence_pool=3, confidence_floor=0.5)
    _, logits = peaked_and_flat()
    confidence = net.confidence_map(logits)
    assert confidence.shape == (1, 1, 1, 2)
    assert float(confidence.min()) >= 0.0 and float(confidence.max()) <= 1.0


def test_bad_confidence_configs_are_refused() -> None:
    with pytest.raises(ValueError, match="confidence_gain"):
        IizukaEffL0(confidence_gain=-1.0)
    with pytest.raises(ValueError, match="classification head"):
        IizukaEffL0(ab_grid=0, mix=0.0, confidence_gain=1.0)
    with pytest.raises(ValueError, match="confidence must be"):
        IizukaEffL0(confidence_gain=1.0, confidence="vivid")
    with pytest.raises(ValueError, match="confidence_pool"):
        IizukaEffL0(confidence_pool=2)
    with pytest.raises(ValueError, match="confidence_floor"):
        IizukaEffL0(confidence_floor=1.0)
