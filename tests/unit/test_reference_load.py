"""Colour references: loading (formats, refusals, sha256) and their place in the parameters
and the page pipeline."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from archive_colorizer.errors import ConfigurationError, InputError, PathNotFoundError
from archive_colorizer.imaging import reference as reference_module
from archive_colorizer.imaging.reference import PRIOR_MAX_SIDE, load_reference
from archive_colorizer.services.colorize import (
    DEFAULT_REFERENCE_PALETTE,
    PIPELINE_VERSION,
    ColorizeParams,
    colorize_master,
)
from tests import factories

SHA = "ab" * 32


def _rgb(width: int = 700, height: int = 300) -> np.ndarray:
    """A hand-coloured print: paper, a red wash over most of it, ink lines."""
    rgb = np.full((height, width, 3), 245, dtype=np.uint8)
    rgb[height // 8 : -height // 8, width // 7 : -width // 7] = (225, 120, 110)
    rgb[::12] = 20
    return rgb


def test_params_without_a_reference_are_unchanged() -> None:
    """Every job key queued before colour references existed stays the same."""
    assert DEFAULT_REFERENCE_PALETTE == 0.0
    assert ColorizeParams(chroma_size=64).as_dict() == {
        "chroma_size": 64,
        "lowpass": 0.5,
        "bilevel_lowpass": 2.0,
        "compression": "deflate",
        "output_tile": 512,
        "paper_mask": True,
        "pipeline_version": PIPELINE_VERSION,
        "render": "luminance",
    }
    wash = ColorizeParams(render="wash", reference_palette=0.7).as_dict()
    assert "reference_sha256" not in wash and "reference_palette" not in wash


def test_params_with_a_reference_name_it_and_its_palette_strength() -> None:
    params = ColorizeParams(reference_sha256=SHA, reference_palette=0.25).as_dict()
    assert params["reference_sha256"] == SHA
    assert params["reference_palette"] == 0.25


@pytest.mark.parametrize("digest", ["abc", "AB" * 32, "zz" * 32])
def test_params_refuse_a_malformed_reference_sha256(digest: str) -> None:
    with pytest.raises(ConfigurationError, match="sha256"):
        ColorizeParams(reference_sha256=digest)


@pytest.mark.parametrize("strength", [-0.1, 1.5, float("nan")])
def test_params_refuse_a_palette_strength_outside_0_1(strength: float) -> None:
    with pytest.raises(ConfigurationError, match="--reference-palette"):
        ColorizeParams(reference_sha256=SHA, reference_palette=strength)


@pytest.mark.parametrize("name", ["ref.jpg", "ref.png", "ref.tif", "ref16.tif", "grey.png"])
def test_references_load_from_jpeg_png_tiff_colour_and_grey(tmp_path: Path, name: str) -> None:
    rgb = _rgb()
    path = tmp_path / name
    if name == "ref16.tif":
        tifffile.imwrite(path, rgb.astype(np.uint16) * 257)
    elif name.endswith(".tif"):
        tifffile.imwrite(path, rgb)
    elif name == "grey.png":
        Image.fromarray(rgb[..., 1]).save(path)
    else:
        Image.fromarray(rgb).save(path)
    before = path.read_bytes()
    ref = load_reference(path)
    assert ref.sha256 == hashlib.sha256(before).hexdigest()
    assert (ref.width, ref.height, ref.file_name) == (700, 300, name)
    assert max(ref.lightness.shape) == PRIOR_MAX_SIDE and ref.lightness.dtype == np.float32
    assert float(ref.lightness.min()) >= 0 and float(ref.lightness.max()) <= 100
    if name == "grey.png":
        assert abs(ref.palette.mean_a) < 0.01 and abs(ref.palette.mean_b) < 0.01
    else:
        assert ref.palette.mean_a > 5  # the red shows in the palette
    assert path.read_bytes() == before  # read-only


def test_same_pixels_in_8_and_16_bit_give_the_same_prior(tmp_path: Path) -> None:
    rgb = _rgb()
    tifffile.imwrite(tmp_path / "a.tif", rgb)
    tifffile.imwrite(tmp_path / "b.tif", rgb.astype(np.uint16) * 257)
    a, b = load_reference(tmp_path / "a.tif"), load_reference(tmp_path / "b.tif")
    assert a.sha256 != b.sha256
    assert np.allclose(a.lightness, b.lightness, atol=1e-3)


def test_unusable_references_are_refused_with_one_line_naming_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PathNotFoundError, match=r"missing\.png: no such colour reference"):
        load_reference(tmp_path / "missing.png")
    (tmp_path / "notes.jpg").write_text("not an image")
    with pytest.raises(InputError, match=r"notes\.jpg: cannot be used as a colour reference"):
        load_reference(tmp_path / "notes.jpg")
    with pytest.raises(InputError, match="not a file"):
        load_reference(tmp_path)
    Image.fromarray(_rgb()).save(tmp_path / "big.png")
    monkeypatch.setattr(reference_module, "REFERENCE_PIXEL_LIMIT", 1000)
    with pytest.raises(InputError, match=r"big\.png: .*700x300 = 210,000 pixels") as caught:
        load_reference(tmp_path / "big.png")
    assert "\n" not in str(caught.value)
    Image.fromarray(_rgb()).save(tmp_path / "anim.gif")
    with pytest.raises(InputError, match=r"anim\.gif: .*not recognised"):
        load_reference(tmp_path / "anim.gif")


class _ReferencePredictor:
    """Zero chroma; records the reference L* it was given."""

    def __init__(self) -> None:
        self.references: list[np.ndarray | None] = []

    def predict_ab(self, lightness: np.ndarray, reference: np.ndarray | None = None) -> np.ndarray:
        self.references.append(reference)
        return np.zeros((2, *lightness.shape), dtype=np.float32)


def test_the_pipeline_passes_the_reference_and_moves_towards_its_palette(
    tmp_path: Path,
) -> None:
    master = factories.write_gray8(tmp_path / "m.tif", width=96, height=64)
    Image.fromarray(_rgb()).save(tmp_path / "ref.png")
    ref = load_reference(tmp_path / "ref.png")
    provenance = {"source_sha256": "0" * 64}
    predictor = _ReferencePredictor()
    outputs = {}
    for strength in (0.0, 1.0):
        params = ColorizeParams(
            chroma_size=32, paper_mask=False, reference_sha256=ref.sha256,
            reference_palette=strength,
        )  # fmt: skip
        out = tmp_path / f"out-{strength}.tif"
        colorize_master(master, out, predictor, params, provenance=provenance, reference=ref)
        outputs[strength] = tifffile.imread(out).astype(np.int32)
    assert all(r is ref.lightness for r in predictor.references)
    grey = outputs[0.0]
    assert np.array_equal(grey[..., 0], grey[..., 1])  # zero chroma: neutral
    assert (outputs[1.0][..., 0] - outputs[1.0][..., 2]).mean() > 5  # moved towards red


def test_the_pipeline_refuses_a_reference_the_parameters_do_not_name(tmp_path: Path) -> None:
    master = factories.write_gray8(tmp_path / "m.tif", width=32, height=32)
    Image.fromarray(_rgb(64, 64)).save(tmp_path / "ref.png")
    ref = load_reference(tmp_path / "ref.png")
    provenance = {"source_sha256": "0" * 64}
    out = tmp_path / "out.tif"
    with pytest.raises(ConfigurationError, match=r"ref\.png: the colour reference has sha256"):
        colorize_master(
            master, out, _ReferencePredictor(), ColorizeParams(reference_sha256=SHA),
            provenance=provenance, reference=ref,
        )  # fmt: skip
    with pytest.raises(ConfigurationError, match="but none was given"):
        colorize_master(
            master, out, _ReferencePredictor(), ColorizeParams(reference_sha256=SHA),
            provenance=provenance,
        )  # fmt: skip
    with pytest.raises(ConfigurationError, match="parameters name None"):
        colorize_master(
            master, out, _ReferencePredictor(), ColorizeParams(), provenance=provenance,
            reference=ref,
        )  # fmt: skip
    assert not out.exists()
