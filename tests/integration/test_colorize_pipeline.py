"""The page pipeline end to end with a deterministic numpy chroma predictor (no network)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest
import tifffile

from archive_colorizer.errors import InferenceError, OutputError
from archive_colorizer.imaging import color, metadata
from archive_colorizer.imaging.geometry import working_size
from archive_colorizer.services.colorize import (
    DEFAULT_CHROMA_SIZE,
    STAGES,
    ColorizeParams,
    ColorizeResult,
    colorize_master,
)
from tests import factories


class SmoothChroma:
    """a*, b* as a smooth function of position plus a little of L*: sepia-to-blue gradients.

    Records what it was given so tests can check the network input.
    """

    def __init__(self, strength: float = 1.0) -> None:
        self.strength = strength
        self.inputs: list[np.ndarray] = []

    def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
        self.inputs.append(lightness)
        h, w = lightness.shape
        v, u = np.mgrid[0:h, 0:w].astype(np.float32)
        u /= max(w - 1, 1)
        v /= max(h - 1, 1)
        a = 25.0 * np.sin(3.0 * u + 1.0) + 0.05 * (lightness - 50.0)
        b = 30.0 * np.cos(2.0 * v) - 10.0 * u
        return (self.strength * np.stack([a, b])).astype(np.float32)


PROVENANCE = {
    "source_sha256": "f" * 64,
    "model_name": "numpy.smooth",
    "weights_sha256": "e" * 64,
    "datetime": "2026-11-25T12:30:00+00:00",
}


def _run(master: Path, output: Path, **params: object) -> ColorizeResult:
    return colorize_master(
        master,
        output,
        SmoothChroma(),
        ColorizeParams(**params),
        provenance=PROVENANCE,  # type: ignore[arg-type]
    )


def _read(path: Path) -> tuple[np.ndarray, tifffile.TiffPage, tifffile.TiffFile]:
    tiff = tifffile.TiffFile(path)
    page = tiff.pages[0]
    return page.asarray(), page, tiff


def _displayed_grey(path: Path, bits: int) -> np.ndarray:
    """The master's normalised grey, computed independently with tifffile's whole-page read."""
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        stored = page.asarray()
        orientation = int(page.tags.valueof(274, 1) or 1)
        photometric = page.photometric
        bps = page.bitspersample
    if bps == 1:
        stored = stored.astype(bool)
        grey = np.where(stored, 0, 255) if photometric == 0 else np.where(stored, 255, 0)
        stored = grey.astype(np.uint8)
    elif photometric == 0:
        stored = (color.code_max(bits) - stored).astype(stored.dtype)
    rotate = {1: lambda s: s, 6: lambda s: np.rot90(s, -1), 8: lambda s: np.rot90(s, 1)}
    return np.ascontiguousarray(rotate[orientation](stored))


@pytest.mark.parametrize(
    ("width", "height"),
    [(1, 1), (1, 7), (7, 5), (513, 257), pytest.param(2049, 1025, id="2049x1025")],
)
def test_output_has_the_masters_dimensions(tmp_path: Path, width: int, height: int) -> None:
    master = factories.write_gray8(tmp_path / "m.tif", width, height, tiled=width > 64)
    result = _run(master, tmp_path / "out.tif")
    rgb, page, tiff = _read(tmp_path / "out.tif")
    with tiff:
        assert rgb.shape == (height, width, 3)
        assert rgb.dtype == np.uint8
        assert (result.width, result.height, result.bits) == (width, height, 8)
        assert page.tags["XResolution"].value == (600, 1)
        assert page.tags["ResolutionUnit"].value == 2
    assert (result.working_width, result.working_height) == working_size(
        width, height, DEFAULT_CHROMA_SIZE
    )


def test_bilevel_miniswhite_page(tmp_path: Path) -> None:
    master = factories.write_bilevel(tmp_path / "b.tif", 301, 203, compression="ccitt_g4")
    result = _run(master, tmp_path / "out.tif")
    rgb, _page, tiff = _read(tmp_path / "out.tif")
    tiff.close()
    assert rgb.shape == (203, 301, 3) and rgb.dtype == np.uint8 and result.bits == 8
    grey = _displayed_grey(master, 8)
    lightness, _a, _b = color.srgb_codes_to_lab(rgb, 8)
    # black ink stays black, white paper stays white (chroma cannot lift or darken them)
    assert float(np.abs(lightness[grey == 0]).max()) < 0.5
    assert float(np.abs(lightness[grey == 255] - 100).max()) < 0.5


def test_16bit_master_gives_16bit_rgb(tmp_path: Path) -> None:
    master = factories.write_gray16(tmp_path / "g16.tif", 130, 70, tiled=True)
    result = _run(master, tmp_path / "out.tif")
    rgb, _page, tiff = _read(tmp_path / "out.tif")
    tiff.close()
    assert rgb.dtype == np.uint16 and rgb.shape == (70, 130, 3) and result.bits == 16
    lightness, _a, _b = color.srgb_codes_to_lab(rgb, 16)
    expected = color.grey_to_lightness(_displayed_grey(master, 16), 16)
    assert float(np.abs(lightness - expected).max()) < 0.05


@pytest.mark.parametrize("orientation", [6, 8])
def test_rotated_page_has_displayed_dimensions(tmp_path: Path, orientation: int) -> None:
    master = factories.write_gray8(
        tmp_path / "r.tif", 90, 40, orientation=orientation, resolution=(300.0, 200.0)
    )
    result = _run(master, tmp_path / "out.tif")
    rgb, page, tiff = _read(tmp_path / "out.tif")
    with tiff:
        assert rgb.shape == (90, 40, 3)  # displayed: the stored 90 x 40 turned upright
        assert (result.width, result.height) == (40, 90)
        assert page.tags["XResolution"].value == (200, 1)  # resolutions turn with the axes
        assert page.tags["YResolution"].value == (300, 1)
        assert int(page.tags.valueof(274, 1) or 1) == 1  # the derivative is stored upright
    lightness, _a, _b = color.srgb_codes_to_lab(rgb, 8)
    expected = color.grey_to_lightness(_displayed_grey(master, 8), 8)
    assert float(np.abs(lightness - expected).mean()) < 0.5


@pytest.mark.parametrize("strength", [1.0, 3.0])
def test_luminance_is_preserved(tmp_path: Path, strength: float) -> None:
    master = factories.write_gray8(tmp_path / "l.tif", 700, 450, tiled=True, tile=(64, 64))
    output = tmp_path / "out.tif"
    colorize_master(master, output, SmoothChroma(strength), ColorizeParams(), provenance=PROVENANCE)
    rgb, _page, tiff = _read(output)
    tiff.close()
    lightness, a, b = color.srgb_codes_to_lab(rgb, 8)
    difference = np.abs(lightness - color.grey_to_lightness(_displayed_grey(master, 8), 8))
    assert float(difference.mean()) <= 1.0
    assert float(np.percentile(difference, 99)) <= 3.0
    assert float(np.hypot(a, b).mean()) > 5.0  # and there is colour


def test_chroma_is_bilinear_in_whole_image_coordinates(tmp_path: Path) -> None:
    """The output equals L* of the master + a*/b* resized with OpenCV's bilinear (half-pixel
    centres) over the whole page: tiling and banding leave no trace."""
    width, height = 1100, 700  # three output tile columns, two tile rows, uneven edges
    master = factories.write_gray8(tmp_path / "m.tif", width, height, rows_per_strip=3)
    predictor = SmoothChroma()
    output = tmp_path / "out.tif"
    params = ColorizeParams(chroma_size=96, paper_mask=False)  # the network's chroma, untouched
    colorize_master(master, output, predictor, params, provenance=PROVENANCE)
    ab = predictor.predict_ab(predictor.inputs[0])
    full_ab = [cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR) for plane in ab]
    expected = color.lab_to_srgb_codes(
        color.grey_to_lightness(_displayed_grey(master, 8), 8), full_ab[0], full_ab[1], 8
    )
    rgb, _page, tiff = _read(output)
    tiff.close()
    assert int(np.abs(rgb.astype(int) - expected.astype(int)).max()) <= 1


def test_network_input_is_the_reduced_lightness(tmp_path: Path) -> None:
    master = factories.write_gray8(tmp_path / "m.tif", 400, 300)
    for lowpass in (0.0, 0.5):
        predictor = SmoothChroma()
        colorize_master(
            master,
            tmp_path / f"out{lowpass}.tif",
            predictor,
            ColorizeParams(chroma_size=100, lowpass=lowpass),
            provenance=PROVENANCE,
        )
        (given,) = predictor.inputs
        assert given.shape == (75, 100) and given.dtype == np.float32
        assert given.flags.c_contiguous
        full = color.grey_to_lightness(_displayed_grey(master, 8), 8)
        area = cv2.resize(full, (100, 75), interpolation=cv2.INTER_AREA)
        if lowpass == 0.0:
            np.testing.assert_allclose(given, area, atol=1e-3)
        else:  # smoother than the plain average, same mean tone
            assert abs(float(given.mean()) - float(area.mean())) < 0.5
            assert float(np.abs(np.diff(given, axis=1)).mean()) < float(
                np.abs(np.diff(area, axis=1)).mean()
            )


def test_a_bilevel_master_is_descreened_with_the_bilevel_lowpass(tmp_path: Path) -> None:
    master = factories.write_bilevel(tmp_path / "b.tif", 400, 300)
    inputs = {}
    for lowpass, bilevel in ((0.5, 0.0), (0.5, 2.0), (0.0, 2.0)):
        predictor = SmoothChroma()
        colorize_master(
            master,
            tmp_path / f"out{lowpass}-{bilevel}.tif",
            predictor,
            ColorizeParams(chroma_size=100, lowpass=lowpass, bilevel_lowpass=bilevel),
            provenance=PROVENANCE,
        )
        (inputs[lowpass, bilevel],) = predictor.inputs
    plain, descreened = inputs[0.5, 0.0], inputs[0.5, 2.0]
    full = color.grey_to_lightness(_displayed_grey(master, 8), 8)
    np.testing.assert_allclose(
        plain, cv2.resize(full, (100, 75), interpolation=cv2.INTER_AREA), atol=1e-3
    )
    np.testing.assert_array_equal(descreened, inputs[0.0, 2.0])  # --lowpass is not used
    assert abs(float(descreened.mean()) - float(plain.mean())) < 1.0
    assert float(np.abs(np.diff(descreened, axis=1)).mean()) < 0.5 * float(
        np.abs(np.diff(plain, axis=1)).mean()
    )


def test_deterministic_and_masters_untouched(tmp_path: Path) -> None:
    master = factories.write_gray8(tmp_path / "m.tif", 600, 520, tiled=True, tile=(32, 32))
    before = hashlib.sha256(master.read_bytes()).hexdigest()
    first = _run(master, tmp_path / "one.tif")
    second = _run(master, tmp_path / "two.tif")
    assert first.sha256 == second.sha256
    assert first.sha256 == hashlib.sha256((tmp_path / "one.tif").read_bytes()).hexdigest()
    assert first.bytes == (tmp_path / "one.tif").stat().st_size
    assert hashlib.sha256(master.read_bytes()).hexdigest() == before
    assert set(first.stage_seconds) == set(STAGES)
    assert all(seconds >= 0 for seconds in first.stage_seconds.values())


def test_metadata_is_present_and_parseable(tmp_path: Path) -> None:
    master = factories.write_gray8(tmp_path / "page 1.tif", 50, 40)
    params = ColorizeParams(chroma_size=32, compression="lzw")
    colorize_master(master, tmp_path / "out.tif", SmoothChroma(), params, provenance=PROVENANCE)
    _rgb, page, tiff = _read(tmp_path / "out.tif")
    with tiff:
        found = metadata.parse_xmp(bytes(page.tags[700].value))
        assert page.tags["InterColorProfile"].value == metadata.srgb_icc_profile()
        assert page.tags["DateTime"].value == "2026:11:25 12:30:00"
        assert page.tags["Software"].value.startswith("archcolor ")
        assert page.compression == 5
    assert found.source_file_name == "page 1.tif"
    assert found.derived_from_sha256 == "f" * 64
    assert found.model_name == "numpy.smooth"
    assert found.weights_sha256 == "e" * 64
    assert found.digital_source_type == metadata.DIGITAL_SOURCE_TYPE
    assert found.parameters == params.as_dict()
    assert found.create_date == "2026-11-25T12:30:00Z"
    assert found.provenance["model_name"] == "numpy.smooth"


class BrokenChroma:
    def __init__(self, result: np.ndarray) -> None:
        self.result = result

    def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
        return self.result


@pytest.mark.parametrize(
    "bad", [np.zeros((2, 3, 3), np.float32), np.full((2, 4, 5), np.nan, np.float32)]
)
def test_bad_predictor_output_writes_nothing(tmp_path: Path, bad: np.ndarray) -> None:
    master = factories.write_gray8(tmp_path / "m.tif", 5, 4)
    with pytest.raises(InferenceError, match=r"m\.tif"):
        colorize_master(
            master, tmp_path / "out.tif", BrokenChroma(bad), ColorizeParams(), provenance=PROVENANCE
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.tif"]


def test_refuses_to_overwrite_the_master(tmp_path: Path) -> None:
    master = factories.write_gray8(tmp_path / "m.tif", 5, 4)
    before = master.read_bytes()
    with pytest.raises(OutputError, match="master itself"):
        _run(master, master)
    assert master.read_bytes() == before


def test_missing_output_folder_fails_before_any_work(tmp_path: Path) -> None:
    master = factories.write_gray8(tmp_path / "m.tif", 5, 4)
    predictor = SmoothChroma()
    with pytest.raises(OutputError, match="does not exist"):
        colorize_master(
            master, tmp_path / "no" / "out.tif", predictor, ColorizeParams(), provenance=PROVENANCE
        )
    assert predictor.inputs == []


def test_parameters_are_validated() -> None:
    from archive_colorizer.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="chroma-size"):
        ColorizeParams(chroma_size=-1)
    with pytest.raises(ConfigurationError, match="compression"):
        ColorizeParams(compression="jpeg")
    with pytest.raises(ConfigurationError, match="low-pass"):
        ColorizeParams(lowpass=float("nan"))
    with pytest.raises(ConfigurationError, match="bilevel low-pass"):
        ColorizeParams(bilevel_lowpass=-1.0)
    with pytest.raises(ConfigurationError, match="--render must be luminance or wash, not 'oil'"):
        ColorizeParams(render="oil")
    assert ColorizeParams().as_dict()["compression"] == "deflate"
    assert ColorizeParams().as_dict()["render"] == "luminance"
    assert ColorizeParams(render="wash").as_dict()["render"] == "wash"


@pytest.mark.parametrize("render", ["luminance", "wash"])
@pytest.mark.parametrize("bits", [8, 16])
def test_worker_count_does_not_change_the_bytes(tmp_path: Path, render: str, bits: int) -> None:
    # decode, colour and compression run on ``workers`` threads over a bounded window of tiles
    # (several bands: 1300 x 1100 has 3 x 3 output tiles in 3 bands); each tile is a pure
    # function of its band, so the derivative is byte-identical for any number of workers
    write = factories.write_gray8 if bits == 8 else factories.write_gray16
    master = write(tmp_path / "m.tif", 1300, 1100, tiled=True, tile=(48, 48))
    digests = {
        colorize_master(
            master,
            tmp_path / f"out{workers}.tif",
            SmoothChroma(),
            ColorizeParams(render=render),
            provenance=PROVENANCE,
            workers=workers,
        ).sha256
        for workers in (1, 2, 3, 5)
    }
    assert len(digests) == 1


class ConstantChroma:
    """A predictor that colours everything alike (as an untrained network might)."""

    def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
        return np.stack([np.full_like(lightness, 20.0), np.full_like(lightness, 35.0)])


@pytest.mark.parametrize("render", ["luminance", "wash"])
@pytest.mark.parametrize("paper_mask", [True, False])
def test_paper_mask_keeps_page_margins_neutral(
    tmp_path: Path, paper_mask: bool, render: str
) -> None:
    """A hatched plate on blank paper: with the paper mask the margin's chroma is ~0 while the
    plate keeps its colour; without it the margin is as coloured as the plate."""
    width, height, margin = 640, 480, 80
    grey = np.full((height, width), 235, np.uint8)  # paper
    plate = grey[margin:-margin, margin:-margin]
    plate[::4, :] = 40  # engraved lines every 4 px
    master = tmp_path / "plate.tif"
    tifffile.imwrite(master, grey)
    output = tmp_path / "out.tif"
    colorize_master(
        master,
        output,
        ConstantChroma(),
        ColorizeParams(chroma_size=320, paper_mask=paper_mask, render=render),
        provenance=PROVENANCE,
    )
    rgb, _page, tiff = _read(output)
    tiff.close()
    _lightness, a, b = color.srgb_codes_to_lab(rgb, 8)
    chroma = np.hypot(a, b)
    outer = np.ones((height, width), bool)
    outer[margin // 2 : -margin // 2, margin // 2 : -margin // 2] = False
    inner = chroma[margin + 20 : -margin - 20, margin + 20 : -margin - 20]
    assert float(inner.mean()) > 10.0
    if paper_mask:
        assert float(chroma[outer].mean()) <= 2.0
    else:
        assert float(chroma[outer].mean()) > 10.0


# --- wash rendering -------------------------------------------------------------------------


def _enlarged(plane: np.ndarray, width: int, height: int) -> np.ndarray:
    """OpenCV's bilinear resize (half-pixel centres) over the whole page."""
    return cv2.resize(plane, (width, height), interpolation=cv2.INTER_LINEAR)


@pytest.mark.parametrize("kind", ["gray8", "gray16", "bilevel"])
@pytest.mark.parametrize("paper_mask", [False, True])
def test_wash_is_the_definition_on_the_whole_page(
    tmp_path: Path, kind: str, paper_mask: bool
) -> None:
    """The streamed, tiled wash derivative equals render_wash_codes applied to the whole page
    at once with a*, b* and the strength enlarged bilinearly in whole-image coordinates: the
    tiles leave no trace, the dimensions are exact, 8-bit/bilevel give 8-bit RGB, 16-bit 16."""
    from archive_colorizer.imaging.paper import plate_strength
    from archive_colorizer.imaging.wash import render_wash_codes

    width, height = 1100, 700  # three output tile columns, two tile rows, uneven edges
    if kind == "gray8":
        master = factories.write_gray8(tmp_path / "m.tif", width, height, rows_per_strip=3)
    elif kind == "gray16":
        master = factories.write_gray16(tmp_path / "m.tif", width, height, tiled=True)
    else:
        master = factories.write_bilevel(tmp_path / "m.tif", width, height, compression="ccitt_g4")
    bits = 16 if kind == "gray16" else 8
    predictor = SmoothChroma()
    output = tmp_path / "out.tif"
    params = ColorizeParams(chroma_size=96, paper_mask=paper_mask, render="wash")
    result = colorize_master(master, output, predictor, params, provenance=PROVENANCE)
    working = predictor.inputs[0]
    ab = predictor.predict_ab(working)
    strength = _enlarged(plate_strength(working), width, height) if paper_mask else None
    expected = render_wash_codes(
        _displayed_grey(master, bits),
        bits,
        _enlarged(ab[0], width, height),
        _enlarged(ab[1], width, height),
        strength,
    )
    rgb, _page, tiff = _read(output)
    tiff.close()
    assert rgb.shape == (height, width, 3) and (result.width, result.height) == (width, height)
    assert rgb.dtype == (np.uint16 if bits == 16 else np.uint8) and result.bits == bits
    assert int(np.abs(rgb.astype(int) - expected.astype(int)).max()) <= 1


@pytest.mark.parametrize(("width", "height"), [(1, 1), (1, 7), (7, 5), (513, 257)])
def test_wash_output_has_the_masters_dimensions(tmp_path: Path, width: int, height: int) -> None:
    master = factories.write_gray8(tmp_path / "m.tif", width, height)
    result = _run(master, tmp_path / "out.tif", render="wash")
    rgb, _page, tiff = _read(tmp_path / "out.tif")
    tiff.close()
    assert rgb.shape == (height, width, 3) and (result.width, result.height) == (width, height)


def _line_drawing(width: int = 640, height: int = 480, margin: int = 80) -> np.ndarray:
    """A framed line drawing on white paper: a ruled border, a few outlines, blank paper (a sky)
    filling most of the picture, wide blank margins (8-bit grey codes)."""
    grey = np.full((height, width), 255, np.uint8)
    top, left, bottom, right = margin, margin, height - margin, width - margin
    grey[top : top + 3, left:right] = 0
    grey[bottom - 3 : bottom, left:right] = 0
    grey[top:bottom, left : left + 3] = 0
    grey[top:bottom, right - 3 : right] = 0
    y, x = np.mgrid[0:height, 0:width]
    ring = np.abs(np.hypot(y - 300, x - 250) - 50) < 2  # a figure drawn in outline only
    grey[ring] = 0
    grey[360:364, left + 20 : right - 20] = 0  # the ground line
    return grey


@pytest.mark.parametrize("bilevel", [False, True])
def test_wash_colours_paper_inside_the_picture_and_keeps_the_page(
    tmp_path: Path, bilevel: bool
) -> None:
    """A line drawing on white paper (L* 100, where luminance rendering has no room for colour):
    the wash colours the paper inside the picture, ink stays ink, the margins stay paper."""
    height, width, margin = 480, 640, 80
    grey = _line_drawing()
    master = tmp_path / "drawing.tif"
    if bilevel:
        tifffile.imwrite(master, grey == 0, photometric="miniswhite")  # 1-bit, 1 = ink
    else:
        tifffile.imwrite(master, grey)
    output = tmp_path / "out.tif"
    colorize_master(
        master,
        output,
        ConstantChroma(),
        ColorizeParams(chroma_size=320, render="wash"),
        provenance=PROVENANCE,
    )
    rgb, _page, tiff = _read(output)
    tiff.close()
    assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8
    lightness, a, b = color.srgb_codes_to_lab(rgb, 8)
    chroma = np.hypot(a, b)
    sky = (slice(margin + 20, 220), slice(margin + 20, width - margin - 20))
    assert float((chroma[sky] > 6).mean()) > 0.95  # the paper inside the picture takes colour
    assert float(chroma[sky].mean()) > 20.0
    outer = np.ones((height, width), bool)
    outer[margin // 2 : -margin // 2, margin // 2 : -margin // 2] = False
    assert float(chroma[outer].max()) <= 2.0  # the page: neutral, exactly its own tone
    assert (rgb[outer] == 255).all()
    ink = grey == 0
    assert float(np.abs(lightness[ink]).mean()) <= 1.0  # black ink stays black


def test_luminance_render_no_longer_neutralises_paper_inside_the_picture(tmp_path: Path) -> None:
    """On a light-toned plate the paper between the lines keeps the predicted chroma (the old
    paper mask removed it), while the page around the plate stays neutral."""
    height, width, margin = 480, 640, 80
    grey = _line_drawing()
    grey[grey == 255] = 225  # toned paper (L* ~89): luminance rendering has room for colour
    master = tmp_path / "drawing.tif"
    tifffile.imwrite(master, grey)
    output = tmp_path / "out.tif"
    colorize_master(
        master, output, ConstantChroma(), ColorizeParams(chroma_size=320), provenance=PROVENANCE
    )
    rgb, _page, tiff = _read(output)
    tiff.close()
    _lightness, a, b = color.srgb_codes_to_lab(rgb, 8)
    chroma = np.hypot(a, b)
    sky = (slice(margin + 20, 220), slice(margin + 20, width - margin - 20))
    assert float(chroma[sky].mean()) > 10.0
    outer = np.ones((height, width), bool)
    outer[margin // 2 : -margin // 2, margin // 2 : -margin // 2] = False
    assert float(chroma[outer].mean()) <= 2.0
