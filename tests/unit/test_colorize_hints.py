"""Colour hints in the page pipeline: ``ColorizeParams.hints_sha256`` and the propagation's
parameters (only in the parameters when set), hint maps at the working size from displayed
coordinates, the sha256 checked, and hints spread over the prediction of any model."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import tifffile

from archive_colorizer.errors import ConfigurationError, HintsError
from archive_colorizer.imaging.hint_propagation import DEFAULT_PROPAGATION
from archive_colorizer.services.colorize import ColorizeParams, colorize_master
from archive_colorizer.services.hints import PageHintSet, canonical_sha256, hints_for_master
from tests import factories

HINTS: tuple[dict[str, Any], ...] = (
    {"point": [59, 0], "radius": 0, "color": "#9b1b30"},
    {"stroke": [[0, 39], [10, 39]], "radius": 0, "lab": [60, 40, 30]},
)
SET = PageHintSet(hints=HINTS, sha256=canonical_sha256(HINTS))
PROVENANCE = {"source_sha256": "0" * 64}


class _HintPredictor:
    """A model with hint inputs: records the hint maps it was given; predicts grey."""

    model_name = "recording"
    hint_inputs = True

    def __init__(self) -> None:
        self.hints: list[npt.NDArray[np.float32] | None] = []

    def predict_ab(
        self, lightness: npt.NDArray[np.float32], hints: npt.NDArray[np.float32] | None = None
    ) -> npt.NDArray[np.float32]:
        self.hints.append(hints)
        return np.zeros((2, *lightness.shape), dtype=np.float32)


class _PlainPredictor:
    def predict_ab(self, lightness: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        return np.zeros((2, *lightness.shape), dtype=np.float32)


def test_parameters_name_hints_only_when_there_are_some() -> None:
    plain = ColorizeParams().as_dict()
    assert "hints_sha256" not in plain
    assert set(plain) == {
        "chroma_size",
        "lowpass",
        "bilevel_lowpass",
        "compression",
        "output_tile",
        "paper_mask",
        "pipeline_version",
        "render",
    }
    hinted = ColorizeParams(hints_sha256=SET.sha256).as_dict()
    assert hinted == {
        **plain,
        "hints_sha256": SET.sha256,
        "hint_propagation": DEFAULT_PROPAGATION.as_dict(),
    }
    assert hinted["hint_propagation"]["method"] == "domain-transform-rf"
    stored = ColorizeParams(hints_sha256=SET.sha256, hint_propagation=hinted["hint_propagation"])
    assert stored.as_dict() == hinted  # a job's stored parameters give the same parameters
    for bad in ({"method": "bilateral"}, {"sigma_range": -1.0}, {"colour": 1}):
        with pytest.raises(ConfigurationError, match="hint propagation parameters"):
            ColorizeParams(hints_sha256=SET.sha256, hint_propagation=bad)  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="a hint set is named by the lower-case hex"):
        ColorizeParams(hints_sha256="ABC")


def test_hints_reach_the_network_at_the_working_size_in_displayed_coordinates(
    tmp_path: Path,
) -> None:
    # stored 40 wide x 60 high, Orientation 6: displayed 60 wide x 40 high
    master = factories.write_gray8(tmp_path / "m.tif", 40, 60, orientation=6)
    predictor = _HintPredictor()
    params = ColorizeParams(chroma_size=0, paper_mask=False, hints_sha256=SET.sha256)
    colorize_master(master, tmp_path / "o.tif", predictor, params, provenance=PROVENANCE,
                    hints=SET)  # fmt: skip
    [maps] = predictor.hints
    assert maps is not None and maps.shape == (3, 40, 60)
    assert maps[2, 0, 59] == 1.0 and maps[2, 39, 0:11].all()
    assert int(maps[2].sum()) == 12
    assert maps[0, 0, 59] > 30 and maps[0, 39, 5] == 40.0  # a* of #9b1b30, then the Lab one
    # at half the size the same places, scaled
    half = ColorizeParams(chroma_size=30, paper_mask=False, hints_sha256=SET.sha256)
    colorize_master(master, tmp_path / "h.tif", predictor, half, provenance=PROVENANCE,
                    hints=SET)  # fmt: skip
    maps = predictor.hints[-1]
    assert maps is not None and maps.shape == (3, 20, 30)
    assert maps[2, 0, 29] == 1.0 and maps[2, 19, 0:6].all()


def test_the_pipeline_refuses_hints_the_parameters_do_not_name(tmp_path: Path) -> None:
    master = factories.write_gray8(tmp_path / "m.tif", 40, 60)
    out = tmp_path / "out.tif"
    cases: list[tuple[ColorizeParams, PageHintSet | None, str]] = [
        (ColorizeParams(hints_sha256="1" * 64), SET, "the parameters name 1111"),
        (ColorizeParams(hints_sha256=SET.sha256), None, "but none was given"),
        (ColorizeParams(), SET, "the parameters name None"),
    ]
    for params, hints, message in cases:
        with pytest.raises(ConfigurationError, match=message):
            colorize_master(master, out, _HintPredictor(), params, provenance=PROVENANCE,
                            hints=hints)  # fmt: skip
    assert not out.exists()


def test_a_model_without_hint_inputs_takes_the_hints_after_the_network(tmp_path: Path) -> None:
    master = tmp_path / "m.tif"
    tifffile.imwrite(master, np.full((40, 60), 150, np.uint8))  # mid-grey, 60 x 40
    params = ColorizeParams(chroma_size=0, paper_mask=False, compression="none")
    plain = tmp_path / "plain.tif"
    colorize_master(master, plain, _PlainPredictor(), params, provenance=PROVENANCE)
    hinted = tmp_path / "hinted.tif"
    colorize_master(master, hinted, _PlainPredictor(), replace(params, hints_sha256=SET.sha256),
                    provenance=PROVENANCE, hints=SET)  # fmt: skip
    grey, coloured = tifffile.imread(plain), tifffile.imread(hinted).astype(int)
    assert (grey[..., 0] == grey[..., 2]).all()  # a grey prediction stays grey without hints
    red, orange = coloured[0, 59], coloured[39, 5]  # the two hints' pixels take their colours
    assert red[0] > red[1] + 40 and orange[0] > orange[2] + 40
    assert (np.abs(coloured[..., 0] - coloured[..., 2]) > 2).mean() > 0.5  # and they spread


def _file(path: Path, pages: list[dict[str, Any]]) -> Path:
    import json

    path.write_text(
        json.dumps({"format": "archcolor-hints/1", "volume": "v", "pages": pages}), "utf-8"
    )
    return path


def test_hints_for_a_master_outside_the_catalog(tmp_path: Path) -> None:
    hint = {"point": [59, 39], "color": "#3f6b2a"}
    path = _file(
        tmp_path / "h.json",
        [
            {"file": "sub/m.tif", "page": 1, "hints": [hint]},
            {"file": "other.tif", "hints": [{"point": [500, 500], "color": "#000000"}]},
            {"scan": 4, "hints": [hint]},
        ],
    )
    found = hints_for_master(path, "m.tif", 1, (60, 40))
    assert found.count == 1 and found.sha256 == canonical_sha256([{**hint, "radius": 0}])
    assert found.describe() == {"sha256": found.sha256, "count": 1, "source": "h.json"}
    with pytest.raises(HintsError, match=r"h\.json: no page for m\.tif page 0"):
        hints_for_master(path, "m.tif", 0, (60, 40))
    with pytest.raises(HintsError, match=r"pages\[0\]\.hints\[0\]: point \(59, 39\) is outside"):
        hints_for_master(path, "m.tif", 1, (50, 40))
    bad = _file(tmp_path / "bad.json", [{"file": "m.tif", "hints": [{"point": [1, 1],
                                                                    "color": "red"}]}])  # fmt: skip
    with pytest.raises(HintsError, match="malformed colour") as error:
        hints_for_master(bad, "m.tif", 0, (60, 40))
    assert "\n" not in str(error.value)
