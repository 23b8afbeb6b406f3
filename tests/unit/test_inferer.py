"""Tiled inference: the splitter/merger geometry, tiled == untiled, OOM fallback, determinism."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import Tensor
from torch.nn import functional

from archive_colorizer.errors import ConfigurationError, DeviceError, InferenceError
from archive_colorizer.inference.inferer import (
    DEFAULT_TILE_SIZE,
    NetworkPredictor,
    aligned_halo,
    default_tile_size,
    min_tile_size,
    network_input_size,
    plan_tiles,
    sliding_window,
)
from archive_colorizer.inference.networks.base import resize_for_global
from archive_colorizer.inference.networks.iizuka import IizukaNet
from archive_colorizer.inference.registry import load_predictor


@pytest.fixture(scope="module")
def fixture_predictor() -> NetworkPredictor:
    """The shipped test-fixture model on the CPU, whole-image mode."""
    return load_predictor("iizuka.fixture", device="cpu", environ={})


def page(height: int, width: int, seed: int = 0) -> np.ndarray:
    """A synthetic L* page: smooth shading, a bright block and noise."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    lightness = 50 + 30 * np.sin(x / 17.0) * np.cos(y / 23.0) + rng.normal(0, 5, (height, width))
    lightness[height // 3 : height // 2, width // 4 : width // 2] = 92.0
    return np.clip(lightness, 0, 100).astype(np.float32)


@settings(max_examples=60, deadline=None)
@given(
    height=st.integers(1, 600),
    width=st.integers(1, 600),
    stride=st.sampled_from([1, 2, 8, 16]),
    halo_strides=st.integers(0, 5),
    extra=st.integers(1, 300),
)
def test_plan_tiles_partitions_the_image(
    height: int, width: int, stride: int, halo_strides: int, extra: int
) -> None:
    halo = halo_strides * stride
    tile_size = 2 * halo + stride + extra
    tiles = plan_tiles(height, width, tile_size, halo, stride)
    covered = np.zeros((height, width), dtype=np.int32)
    for tile in tiles:
        covered[tile.core] += 1
        assert tile.core_y0 % stride == 0 and tile.core_x0 % stride == 0
        assert tile.window_y0 % stride == 0 and tile.window_x0 % stride == 0
        assert tile.window_y1 - tile.window_y0 <= max(tile_size, 1)
        assert tile.window_x1 - tile.window_x0 <= max(tile_size, 1)
        assert tile.window_y0 == max(0, tile.core_y0 - halo) or len(tiles) == 1
        assert tile.window_y1 == min(height, tile.core_y1 + halo) or len(tiles) == 1
        assert tile.window_x0 == max(0, tile.core_x0 - halo) or len(tiles) == 1
        assert tile.window_x1 == min(width, tile.core_x1 + halo) or len(tiles) == 1
    assert (covered == 1).all()


def test_plan_tiles_small_image_is_one_tile() -> None:
    assert len(plan_tiles(7, 5, 152, 72, 8)) == 1
    with pytest.raises(ValueError, match="at least 216"):
        plan_tiles(500, 500, 151, 72, 8)
    with pytest.raises(ValueError, match="multiple of stride"):
        plan_tiles(500, 500, 300, 70, 8)


def box_blur(radius: int) -> Any:
    """A toy predictor with a known receptive field: a (2r+1)^2 box sum, zero padding."""

    def predict(window: Tensor) -> Tensor:
        kernel = torch.ones(1, 1, 2 * radius + 1, 2 * radius + 1, dtype=torch.float64)
        return functional.conv2d(window.double(), kernel, padding=radius)

    return predict


@settings(max_examples=20, deadline=None)
@given(
    height=st.integers(1, 120),
    width=st.integers(1, 120),
    radius=st.integers(0, 6),
    extra=st.integers(1, 50),
)
def test_sliding_window_is_exact_with_enough_halo(
    height: int, width: int, radius: int, extra: int
) -> None:
    image = torch.rand(1, 1, height, width, dtype=torch.float64)
    halo = aligned_halo(radius, 2)
    tiles = plan_tiles(height, width, 2 * halo + 2 + extra, halo, 2)
    merged = sliding_window(image, box_blur(radius), tiles, 1)
    assert torch.allclose(merged.double(), box_blur(radius)(image).float().double(), atol=1e-5)


def test_sliding_window_shows_seams_without_halo() -> None:
    """The property above can fail: with no halo the box sum is wrong at tile edges."""
    image = torch.rand(1, 1, 64, 64, dtype=torch.float64) + 1
    tiles = plan_tiles(64, 64, 16, 0, 2)
    merged = sliding_window(image, box_blur(3), tiles, 1)
    assert (merged.double() - box_blur(3)(image).float().double()).abs().max() > 0.5


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(
    height=st.integers(1, 330),
    width=st.integers(1, 330),
    tile_size=st.integers(216, 420),
    seed=st.integers(0, 2**16),
)
def test_tiled_equals_untiled_fixture_model(
    fixture_predictor: NetworkPredictor, height: int, width: int, tile_size: int, seed: int
) -> None:
    lightness = page(height, width, seed)
    whole = fixture_predictor.predict_ab(lightness)
    tiled_predictor = NetworkPredictor(
        fixture_predictor.network, tile_size=tile_size, threads=fixture_predictor.threads
    )
    tiled = tiled_predictor.predict_ab(lightness)
    assert tiled.shape == whole.shape == (2, height, width)
    assert tiled.dtype == np.float32
    assert float(np.abs(tiled - whole).max()) <= 1e-3


def test_whole_mode_equals_the_network_forward(fixture_predictor: NetworkPredictor) -> None:
    lightness = page(150, 233)
    with torch.no_grad():
        expected = fixture_predictor.network(torch.from_numpy(lightness)[None, None])
    assert np.array_equal(fixture_predictor.predict_ab(lightness), expected[0].numpy())


def test_global_features_computed_once_per_image(
    fixture_predictor: NetworkPredictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    network = fixture_predictor.network
    calls: list[tuple[int, ...]] = []
    original = network.global_features

    def counting(lightness_224: Tensor) -> Tensor:
        calls.append(tuple(lightness_224.shape))
        return original(lightness_224)

    monkeypatch.setattr(network, "global_features", counting)
    predictor = NetworkPredictor(network, tile_size=216)
    predictor.predict_ab(page(300, 400))
    assert predictor.last_run.tiles > 1
    assert calls == [(1, 1, 224, 224)]


def test_fixture_gives_varied_chroma(fixture_predictor: NetworkPredictor) -> None:
    ab = fixture_predictor.predict_ab(page(128, 160))
    assert ab.shape == (2, 128, 160)
    assert float(ab[0].std()) > 1.0 and float(ab[1].std()) > 1.0


def test_byte_identical_runs(fixture_predictor: NetworkPredictor) -> None:
    lightness = page(257, 513, seed=5)
    first = fixture_predictor.predict_ab(lightness)
    second = fixture_predictor.predict_ab(lightness.copy())
    assert first.tobytes() == second.tobytes()


def test_thread_count_is_fixed_per_predictor(fixture_predictor: NetworkPredictor) -> None:
    """Results depend on the CPU thread split, so the predictor pins and records its count."""
    lightness = page(200, 300, seed=9)
    expected = fixture_predictor.predict_ab(lightness)
    saved = torch.get_num_threads()
    try:
        torch.set_num_threads(1 if saved > 1 else 2)
        assert fixture_predictor.predict_ab(lightness).tobytes() == expected.tobytes()
        assert torch.get_num_threads() == (1 if saved > 1 else 2)
    finally:
        torch.set_num_threads(saved)
    assert fixture_predictor.describe()["threads"] == fixture_predictor.threads


class MemoryLimitedNet(IizukaNet):
    """The fixture network on a 'device' that runs out of memory above a window size."""

    limit = 10**9

    def colorize(self, lightness: Tensor, global_vec: Tensor) -> Tensor:
        if max(lightness.shape[-2:]) > self.limit:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return super().colorize(lightness, global_vec)


def limited(fixture_predictor: NetworkPredictor, limit: int) -> MemoryLimitedNet:
    network = MemoryLimitedNet(**fixture_predictor.network.config())
    network.load_state_dict(fixture_predictor.network.state_dict())
    network.limit = limit
    return network.eval()


def test_out_of_memory_retries_with_smaller_tiles(fixture_predictor: NetworkPredictor) -> None:
    lightness = page(300, 580)
    predictor = NetworkPredictor(limited(fixture_predictor, 300), threads=fixture_predictor.threads)
    ab = predictor.predict_ab(lightness)
    assert predictor.last_run.retries == 1  # whole 580 px → 290 px windows
    assert predictor.last_run.tile_size == 290
    assert float(np.abs(ab - fixture_predictor.predict_ab(lightness)).max()) <= 1e-3


def test_out_of_memory_at_the_floor_is_a_device_error(
    fixture_predictor: NetworkPredictor,
) -> None:
    predictor = NetworkPredictor(limited(fixture_predictor, 100))
    floor = min_tile_size(fixture_predictor.halo, fixture_predictor.stride)
    with pytest.raises(DeviceError, match=f"out of memory even with {floor} px tiles"):
        predictor.predict_ab(page(300, 300))


def test_tile_size_below_the_floor_is_refused(fixture_predictor: NetworkPredictor) -> None:
    halo, stride = fixture_predictor.halo, fixture_predictor.stride
    assert halo >= stride
    # a core thinner than the halo is refused (it was accepted down to one stride), naming the
    # floor and a sensible value
    thin = 2 * halo + stride
    with pytest.raises(
        ConfigurationError, match=rf"at least {3 * halo} \({default_tile_size(halo, stride)}"
    ):
        NetworkPredictor(fixture_predictor.network, tile_size=thin)
    NetworkPredictor(fixture_predictor.network, tile_size=3 * halo)  # core == halo: accepted


def test_default_tile_keeps_half_of_each_window_core() -> None:
    assert default_tile_size(72, 8) == DEFAULT_TILE_SIZE
    assert default_tile_size(256, 16) == 1024
    assert default_tile_size(400, 16) == 1600
    for halo, stride in ((72, 8), (256, 16), (400, 16)):
        tile = default_tile_size(halo, stride)
        assert tile - 2 * halo >= tile // 2 and tile % stride == 0
        assert tile >= min_tile_size(halo, stride)


def test_non_finite_chroma_is_an_error(fixture_predictor: NetworkPredictor) -> None:
    network = IizukaNet(**fixture_predictor.network.config())
    network.load_state_dict(fixture_predictor.network.state_dict())
    output_layer = network.colour[-1]
    assert isinstance(output_layer, torch.nn.Conv2d) and output_layer.bias is not None
    with torch.no_grad():
        output_layer.bias.fill_(float("nan"))
    with pytest.raises(InferenceError, match="non-finite"):
        NetworkPredictor(network).predict_ab(page(20, 20))


def test_rejects_non_2d_lightness(fixture_predictor: NetworkPredictor) -> None:
    with pytest.raises(InferenceError, match="2-D"):
        fixture_predictor.predict_ab(np.zeros((3, 4, 5), dtype=np.float32))


def test_global_resize_is_antialiased() -> None:
    """A fine stripe pattern averages to mid-grey in the 224x224 global input."""
    stripes = torch.zeros(1, 1, 2240, 2240)
    stripes[..., ::2, :] = 100.0
    small = resize_for_global(stripes)
    assert small.shape == (1, 1, 224, 224)
    assert float((small - 50).abs().max()) < 2.0


class BrokenNet(IizukaNet):
    """A network whose kernels fail (as an unsupported device operation would)."""

    def colorize(self, lightness: Tensor, global_vec: Tensor) -> Tensor:
        raise RuntimeError("no kernel image is available for execution on the device")


def test_kernel_failures_become_inference_errors(fixture_predictor: NetworkPredictor) -> None:
    network = BrokenNet(**fixture_predictor.network.config())
    predictor = NetworkPredictor(network, model_name="iizuka.broken")
    with pytest.raises(InferenceError, match=r"iizuka\.broken failed on cpu for a 30x20"):
        predictor.predict_ab(page(20, 30))


@settings(max_examples=200, deadline=None)
@given(
    height=st.integers(1, 5000),
    width=st.integers(1, 5000),
    max_side=st.one_of(st.none(), st.integers(16, 2048)),
)
def test_network_input_size_caps_the_long_side_and_keeps_the_aspect(
    height: int, width: int, max_side: int | None
) -> None:
    reduced_h, reduced_w = network_input_size(height, width, max_side)
    if max_side is None or max(height, width) <= max_side:
        assert (reduced_h, reduced_w) == (height, width)
        return
    assert max(reduced_h, reduced_w) == max_side
    assert 1 <= reduced_h <= height and 1 <= reduced_w <= width
    scale = max_side / max(height, width)
    assert abs(reduced_h - max(1.0, height * scale)) <= 0.5
    assert abs(reduced_w - max(1.0, width * scale)) <= 0.5


def test_max_side_runs_the_network_on_a_reduced_image(
    fixture_predictor: NetworkPredictor,
) -> None:
    network = fixture_predictor.network
    seen: list[tuple[int, ...]] = []
    original = network.colorize

    def recording(lightness: Tensor, global_vec: Tensor) -> Tensor:
        seen.append(tuple(lightness.shape))
        return original(lightness, global_vec)

    predictor = NetworkPredictor(network, max_side=160)
    network.colorize = recording  # type: ignore[method-assign]
    try:
        lightness = page(300, 401)
        ab = predictor.predict_ab(lightness)
    finally:
        del network.colorize
    assert seen == [(1, 1, 120, 160)]
    assert ab.shape == (2, 300, 401)
    # the same as predicting the area-reduced image and enlarging the result bilinearly
    small = functional.interpolate(torch.from_numpy(lightness)[None, None], (120, 160), mode="area")
    expected = functional.interpolate(
        torch.from_numpy(NetworkPredictor(network).predict_ab(small[0, 0].numpy()))[None],
        (300, 401),
        mode="bilinear",
        align_corners=False,
    )[0].numpy()
    assert np.allclose(ab, expected, atol=1e-5)
    assert predictor.describe()["network_max_side"] == 160


def test_max_side_leaves_images_that_fit_alone(fixture_predictor: NetworkPredictor) -> None:
    lightness = page(150, 233)
    capped = NetworkPredictor(fixture_predictor.network, max_side=233)
    assert np.array_equal(capped.predict_ab(lightness), fixture_predictor.predict_ab(lightness))
