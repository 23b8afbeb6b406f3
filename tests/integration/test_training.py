"""A tiny training run on generated images: the loss drops and a resume is exact."""

from __future__ import annotations

import stat
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.nn import functional

from archive_colorizer.errors import ConfigurationError
from archive_colorizer.imaging.datasets import list_images
from archive_colorizer.inference.cards import read_card
from archive_colorizer.inference.networks.iizuka_effl0 import IizukaEffL0
from archive_colorizer.inference.registry import InstalledModel, load_network
from archive_colorizer.inference.training import (
    CACHE_EPOCH,
    BatchSource,
    FeatureCache,
    SilentReporter,
    TrainConfig,
    ab_prior,
    average_checkpoints,
    build_for_training,
    compute_loss,
    load_checkpoint,
    rebalancing_weights,
    train,
)

pytestmark = pytest.mark.slow


def make_images(folder: Path, count: int = 4) -> Path:
    """Colourful generated photos in two 'sources' (sub-folders)."""
    rng = np.random.default_rng(0)
    for index in range(count):
        source = folder / ("sky" if index % 2 else "meadow")
        source.mkdir(parents=True, exist_ok=True)
        image = np.zeros((40, 48, 3), dtype=np.uint8)
        image[:20] = (70, 130, 220) if index % 2 else (60, 170, 60)
        image[20:] = (200, 90, 60)
        image = np.clip(image + rng.normal(0, 6, image.shape), 0, 255).astype(np.uint8)
        Image.fromarray(image).save(source / f"img-{index}.png")
    return folder


def config_for(data: Path, out: Path, epochs: int) -> TrainConfig:
    items = list_images(data)
    return TrainConfig(
        train_items=items,
        val_items=items[:1],
        out=out,
        arch="iizuka-effl0",
        size=32,
        epochs=epochs,
        batch=2,
        lr=1e-2,
        seed=3,
        augment=("hatching",),
        augment_probability=0.5,
        freeze_encoder_epochs=1,
        max_samples=2,  # one step per epoch
        threads=1,
        val_images=1,
    )


def test_two_steps_lower_the_loss_and_resume_is_exact(tmp_path: Path) -> None:
    data = make_images(tmp_path / "data")
    straight = config_for(data, tmp_path / "iizuka-effl0.straight", epochs=2)

    torch.manual_seed(straight.seed)
    network = build_for_training(straight)
    lightness, target = BatchSource(straight).batch(0, 0)
    weights = rebalancing_weights(ab_prior(straight.train_items, 22, straight.seed), 22)
    network.eval()
    with torch.no_grad():
        before = float(compute_loss(network, lightness, target, True, weights, 0.5))

    result = train(straight)
    assert result.samples_seen == 4 and not result.stopped_by_budget
    state = load_checkpoint(result.checkpoint)
    network.load_state_dict(state["model"])
    network.eval()
    with torch.no_grad():
        after = float(compute_loss(network, lightness, target, True, weights, 0.5))
    assert after < before

    # interrupted after one epoch, then resumed for the second
    split_dir = tmp_path / "iizuka-effl0.split"
    first = train(config_for(data, split_dir, epochs=1), write_model=False)
    resumed = train(config_for(data, split_dir, epochs=2), resume=first.checkpoint)
    assert resumed.samples_seen == 4
    a = load_checkpoint(result.checkpoint)["model"]
    b = load_checkpoint(resumed.checkpoint)["model"]
    assert a.keys() == b.keys()
    for key in a:
        assert torch.equal(a[key], b[key]), key

    # the written model loads through the registry with its sha256 checked
    card = read_card(split_dir)
    loaded = load_network(InstalledModel(card, split_dir))
    with torch.no_grad():
        ab = loaded(torch.full((1, 1, 20, 30), 50.0))
    assert ab.shape == (1, 2, 20, 30)
    assert (split_dir / "MODEL_CARD.md").is_file()


def test_time_budget_stops_with_a_checkpoint(tmp_path: Path) -> None:
    data = make_images(tmp_path / "data")
    config = config_for(data, tmp_path / "iizuka-effl0.budget", epochs=3)
    config.time_budget_s = 0.0
    result = train(config, write_model=False)
    assert result.stopped_by_budget and result.samples_seen == 0
    assert result.checkpoint.is_file()


def test_cli_trains_a_from_scratch_iizuka_with_network_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from archive_colorizer.cli.app import run

    data = make_images(tmp_path / "data")
    out = tmp_path / "models" / "iizuka.tiny"
    code = run(
        [
            "train", "--data", str(data), "--out", str(out), "--arch", "iizuka",
            "--network-config", '{"width": 0.125}', "--size", "32", "--batch", "2",
            "--epochs", "1", "--max-samples", "2", "--freeze-encoder-epochs", "0",
            "--augment", "none", "--threads", "1", "--json",
        ]
    )  # fmt: skip
    assert code == 0
    card = read_card(out)
    assert card.arch == "iizuka"
    assert card.config["width"] == 0.125
    network = load_network(InstalledModel(card=card, directory=out))
    assert sum(p.numel() for p in network.parameters()) == card.parameters
    # the shipped weights are readable as the umask says (safetensors alone writes 0600)
    from archive_colorizer.imaging.atomic import file_mode

    assert stat.S_IMODE((out / card.weights_file).stat().st_mode) == file_mode()


@pytest.mark.parametrize("value", ["{width: 1}", "[0.5]"])
def test_cli_refuses_a_network_config_that_is_not_a_json_object(
    tmp_path: Path, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from archive_colorizer.cli.app import run

    data = make_images(tmp_path / "data")
    out = tmp_path / "models" / "iizuka.bad"
    code = run(["train", "--data", str(data), "--out", str(out), "--arch", "iizuka",
                "--network-config", value])  # fmt: skip
    assert code == 1
    assert "--network-config" in capsys.readouterr().err
    assert not out.exists()


def cached_config(data: Path, out: Path, epochs: int) -> TrainConfig:
    config = config_for(data, out, epochs)
    config.freeze_encoder_epochs = epochs
    config.cache_features = 4  # two batches of two
    config.max_samples = None
    return config


def test_cached_features_equal_the_encoder_on_the_same_batches(tmp_path: Path) -> None:
    data = make_images(tmp_path / "data")
    config = cached_config(data, tmp_path / "iizuka-effl0.cache", epochs=1)
    torch.manual_seed(config.seed)
    network = build_for_training(config)
    assert isinstance(network, IizukaEffL0)
    source = BatchSource(config)
    cache = FeatureCache(network, source, 3, torch.device("cpu"), SilentReporter())
    assert len(cache) == 3
    lightness, target = source.batch(CACHE_EPOCH, 1)  # holds cached sample 2 first
    with torch.no_grad():
        features = network.encoder.features(network.encoder_input(lightness), depth=32)
    assert torch.allclose(
        cache.features["skip16"][2].float(), features[16][0], rtol=1e-2, atol=1e-2
    )
    assert torch.allclose(cache.features["prior"][2], network.pooled_prior(features[32])[0])
    assert torch.equal(cache.targets[2], functional.avg_pool2d(target, 4)[0])
    # the cached loss is the full forward's loss up to float16 storage of the features
    weights = rebalancing_weights(ab_prior(config.train_items, 22, config.seed), 22)
    network.eval()
    with torch.no_grad():
        cached = float(cache.loss(network, torch.tensor([2]), torch.device("cpu"), weights, 0.5))
        full = float(compute_loss(network, lightness[:1], target[:1], True, weights, 0.5))
    assert abs(cached - full) < 1e-2 * max(1.0, abs(full))


def test_cached_training_lowers_the_loss_and_resumes_exactly(tmp_path: Path) -> None:
    data = make_images(tmp_path / "data")
    straight = cached_config(data, tmp_path / "iizuka-effl0.cached", epochs=2)
    result = train(straight)
    assert result.samples_seen == 8  # two passes over a 4-sample cache
    losses = [epoch["train_loss"] for epoch in result.history]
    assert losses[1] < losses[0]

    split_dir = tmp_path / "iizuka-effl0.cachesplit"
    first = train(cached_config(data, split_dir, epochs=1), write_model=False)
    resumed = train(cached_config(data, split_dir, epochs=2), resume=first.checkpoint)
    a = load_checkpoint(result.checkpoint)["model"]
    b = load_checkpoint(resumed.checkpoint)["model"]
    for key in a:
        assert torch.equal(a[key], b[key]), key


def fresh_config(data: Path, out: Path, epochs: int) -> TrainConfig:
    config = cached_config(data, out, epochs)
    config.fresh_cache = True
    return config


def test_fresh_cache_draws_new_samples_each_epoch_and_resumes_exactly(tmp_path: Path) -> None:
    data = make_images(tmp_path / "data")
    fresh = train(fresh_config(data, tmp_path / "iizuka-effl0.fresh", epochs=2))
    assert fresh.samples_seen == 8
    reused = train(cached_config(data, tmp_path / "iizuka-effl0.reused", epochs=2))
    a = load_checkpoint(fresh.checkpoint)["model"]
    b = load_checkpoint(reused.checkpoint)["model"]
    assert any(not torch.equal(a[key], b[key]) for key in a)  # epoch 2 saw other samples

    split_dir = tmp_path / "iizuka-effl0.freshsplit"
    first = train(fresh_config(data, split_dir, epochs=1), write_model=False)
    once = train(cached_config(data, tmp_path / "iizuka-effl0.once", epochs=1), write_model=False)
    c = load_checkpoint(first.checkpoint)["model"]
    d = load_checkpoint(once.checkpoint)["model"]
    for key in c:  # the first draw is the one a run without --fresh-cache caches
        assert torch.equal(c[key], d[key]), key
    resumed = train(fresh_config(data, split_dir, epochs=2), resume=first.checkpoint)
    e = load_checkpoint(resumed.checkpoint)["model"]
    for key in a:
        assert torch.equal(a[key], e[key]), key


def test_averaged_checkpoints_resume_into_a_model_of_the_mean_weights(tmp_path: Path) -> None:
    data = make_images(tmp_path / "data")
    run = train(cached_config(data, tmp_path / "iizuka-effl0.run", epochs=2), write_model=False)
    paths = [run.checkpoint.parent / f"epoch-000{epoch}.pt" for epoch in (1, 2)]
    first, second = (load_checkpoint(path)["model"] for path in paths)
    averaged = average_checkpoints(paths)
    changed = [key for key in first if not torch.equal(first[key], second[key])]
    assert changed
    for key in changed:
        if first[key].is_floating_point():
            expected = ((first[key].double() + second[key].double()) / 2).to(first[key].dtype)
            assert torch.equal(averaged["model"][key], expected), key
    assert averaged["epoch"] == load_checkpoint(paths[1])["epoch"]
    saved = tmp_path / "avg.pt"
    torch.save(averaged, saved)
    out = tmp_path / "iizuka-effl0.avg"
    train(cached_config(data, out, epochs=2), resume=saved)
    model = load_network(InstalledModel(read_card(out), out)).state_dict()
    key = next(k for k in changed if first[k].is_floating_point())
    assert torch.equal(model[key], averaged["model"][key])
    with pytest.raises(ConfigurationError, match="no checkpoints"):
        average_checkpoints([])


def test_init_from_starts_at_the_models_weights(tmp_path: Path) -> None:
    data = make_images(tmp_path / "data")
    base = tmp_path / "iizuka-effl0.base"
    train(config_for(data, base, epochs=1))
    config = config_for(data, tmp_path / "iizuka-effl0.next", epochs=1)
    config.init_from = base
    config.network_config = {"mix": 0.75}
    network = build_for_training(config)
    assert isinstance(network, IizukaEffL0) and network.mix == 0.75
    shipped = load_network(InstalledModel(read_card(base), base)).state_dict()
    for key, value in network.state_dict().items():
        assert torch.equal(value, shipped[key]), key
    config.network_config = {"ab_grid": 10}
    with pytest.raises(ConfigurationError, match="changes the shape"):
        build_for_training(config)
    config.network_config = {}
    config.arch = "iizuka"
    with pytest.raises(ConfigurationError, match="not --arch"):
        build_for_training(config)
