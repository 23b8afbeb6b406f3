"""Training data: sampling shares by source; prints give the ink layer in and the wash out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archive_colorizer.errors import ConfigurationError
from archive_colorizer.imaging.color import linear_to_codes, linear_to_srgb, srgb_to_lab
from archive_colorizer.imaging.datasets import ImageItem
from archive_colorizer.imaging.wash import wash_linear
from archive_colorizer.inference.training import (
    BatchSource,
    TrainConfig,
    centre_sample,
    crop_planes,
    source_weights,
)
from archive_colorizer.services.training import parse_source_shares, parse_sources

PRINT = "gitenberg-print"


def items(counts: dict[str, int]) -> list[ImageItem]:
    return [
        ImageItem(Path(f"/nowhere/{source}/{i}.png"), source)
        for source, count in counts.items()
        for i in range(count)
    ]


def test_shares_name_some_sources_and_the_rest_split_equally() -> None:
    data = items({PRINT: 5, "people": 50, "scenes": 3, "paintings": 9})
    weights = dict(
        zip(sorted({i.source for i in data}), source_weights(data, {PRINT: 0.5}), strict=True)
    )
    assert weights[PRINT] == pytest.approx(0.5)
    for source in ("people", "scenes", "paintings"):
        assert weights[source] == pytest.approx(0.5 / 3)
    # no shares: every source equally (as before)
    assert source_weights(data, {}) == pytest.approx([0.25] * 4)


@pytest.mark.parametrize(
    ("shares", "message"),
    [({"posters": 0.5}, "not in the training images"), ({PRINT: 1.5}, "must lie in"),
     ({PRINT: 0.4, "people": 0.4}, "sum to 1")],
)  # fmt: skip
def test_bad_shares_are_configuration_errors(shares: dict[str, float], message: str) -> None:
    with pytest.raises(ConfigurationError, match=message):
        source_weights(items({PRINT: 2, "people": 2}), shares)


def test_parse_source_shares() -> None:
    assert parse_source_shares("gitenberg-print=0.5, people=0.2") == {PRINT: 0.5, "people": 0.2}
    assert parse_source_shares(None) == {}
    for bad in ("gitenberg-print", "=0.5", "gitenberg-print=half"):
        with pytest.raises(ConfigurationError, match="SOURCE=SHARE"):
            parse_source_shares(bad)
    assert parse_sources(" a, b,,") == ("a", "b")


def write_print(path: Path, size: int = 128, period: int = 4, width: int = 1) -> None:
    """Lines ``width`` px every ``period`` px; a wash (a* 30, b* 20) over all but a 12 px paper
    margin."""
    ink = np.ones((size, size), np.float32)
    for row in range(width):
        ink[row::period, :] = 0.02
    a = np.zeros((size, size), np.float32)
    b = np.zeros((size, size), np.float32)
    a[12:-12, 12:-12], b[12:-12, 12:-12] = 30.0, 20.0
    linear = ink[..., None] * wash_linear(a, b)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(linear_to_codes(linear, 8), dtype=np.uint8)).save(path)


def test_a_print_trains_on_its_ink_layer_against_its_wash(tmp_path: Path) -> None:
    path = tmp_path / PRINT / "p.png"
    write_print(path)
    item = ImageItem(path, PRINT)
    config = TrainConfig(train_items=[item], val_items=[], out=tmp_path / "m", size=32, batch=3)
    lightness, target = BatchSource(config).batch(0, 0)
    assert lightness.shape == (3, 1, 32, 32) and target.shape == (3, 2, 32, 32)
    values = lightness.numpy()
    # the input is the uncoloured plate: black lines, white paper (the wash is gone)
    assert values.min() < 30 and np.percentile(values, 60) > 97
    # the target is the wash (on the lines too), relative to the paper: the colour the layer
    # really has (wash_linear brings a* 30, b* 20 at its L* into gamut)
    _, wash_a, wash_b = srgb_to_lab(linear_to_srgb(wash_linear(30.0, 20.0)))
    chroma = np.hypot(target[:, 0].numpy(), target[:, 1].numpy())
    assert np.percentile(chroma, 90) == pytest.approx(float(np.hypot(wash_a, wash_b)), abs=2.0)
    # deterministic: the same batch again
    again, _ = BatchSource(config).batch(0, 0)
    assert np.array_equal(again.numpy(), values)
    centre, truth = centre_sample(item, 32)
    assert centre.shape == (32, 32) and truth.shape == (2, 32, 32)
    assert np.median(truth[0]) == pytest.approx(float(wash_a), abs=2.0)
    assert np.median(truth[1]) == pytest.approx(float(wash_b), abs=2.0)


def test_crop_planes_scales_and_enlarges() -> None:
    planes = np.random.default_rng(0).random((40, 60, 3)).astype(np.float32)
    rng = np.random.default_rng(1)
    assert crop_planes(planes, 32, rng, 0.6).shape == (32, 32, 3)  # 0.6 would be too small
    assert crop_planes(planes, 16, rng, 1.0).shape == (16, 16, 3)
    same = crop_planes(planes, 40, np.random.default_rng(2), 1.0)
    assert any(np.array_equal(same, planes[:, i : i + 40]) for i in range(21)) or any(
        np.array_equal(same, planes[:, i : i + 40][:, ::-1]) for i in range(21)
    )


def test_bilevel_share_thresholds_the_ink_layer_of_prints(tmp_path: Path) -> None:
    path = tmp_path / PRINT / "p.png"
    write_print(path, period=12, width=5)
    item = ImageItem(path, PRINT)
    base = TrainConfig(train_items=[item], val_items=[], out=tmp_path / "m", size=32, batch=4)
    config = TrainConfig(
        train_items=[item], val_items=[], out=tmp_path / "m", size=32, batch=4, bilevel_share=1.0
    )
    bilevel, target = BatchSource(config).batch(0, 0)
    values = bilevel.numpy()
    # black and white (the plain ink layer's lines are L* ~15), grey only where the crop's
    # scaling blends the two
    assert values.min() == pytest.approx(0.0, abs=0.5)
    assert values.max() == pytest.approx(100.0, abs=0.5)
    assert np.mean((values < 0.5) | (values > 99.5)) > 0.2
    # the target is still the wash
    chroma = np.hypot(target[:, 0].numpy(), target[:, 1].numpy())
    assert np.percentile(chroma, 90) > 10
    # share 0 draws nothing extra: the batches are those of a config without the option
    plain, _ = BatchSource(base).batch(0, 0)
    same, _ = BatchSource(TrainConfig(**{**base.__dict__, "bilevel_share": 0.0})).batch(0, 0)
    assert np.array_equal(plain.numpy(), same.numpy())
    assert plain.numpy().min() > 5.0


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [("bilevel_share", 1.5, "--bilevel-share"), ("class_weight", -1.0, "--class-weight")],
)
def test_bad_loss_and_bilevel_options_are_configuration_errors(
    tmp_path: Path, field: str, value: float, message: str
) -> None:
    data = items({PRINT: 2})
    config = TrainConfig(train_items=data, val_items=[], out=tmp_path / "m", **{field: value})
    with pytest.raises(ConfigurationError, match=message):
        config.validate()


def test_same_book_references_pick_another_print_of_the_book() -> None:
    from archive_colorizer.imaging.datasets import same_book_references

    pool = [ImageItem(Path(f"/d/{name}.png"), PRINT) for name in ("a1", "a2", "a3", "b1", "c1")]
    books = {Path(f"/d/{name}.png"): name[0] for name in ("a1", "a2", "a3", "b1", "c1")}
    chosen = same_book_references([pool[0], pool[2], pool[3]], pool, books)
    # the next print of the same book in path order, wrapping round; none for a lone print
    assert [None if c is None else c.path.name for c in chosen] == ["a2.png", "a1.png", None]
