"""Colour hints in runs: `process` with a model without hint inputs re-queues a page whose hints
change and colours it with them; `colorize --hints FILE` gives one master's hints to any
model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from archive_colorizer.cli.app import run
from archive_colorizer.imaging.metadata import parse_xmp
from archive_colorizer.imaging.synthetic import write_synthetic_page
from tests import factories

pytestmark = pytest.mark.usefixtures("fixture_model_default")


def _hints(path: Path, file: str, point: list[int], colour: str = "#9b1b30") -> Path:
    document = {
        "format": "archcolor-hints/1",
        "volume": "vol",
        "pages": [{"file": file, "hints": [{"point": point, "radius": 8, "color": colour}]}],
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _last_json(capsys: pytest.CaptureFixture[str]) -> tuple[dict[str, Any], str]:
    captured = capsys.readouterr()
    return json.loads(captured.out.strip().splitlines()[-1]), captured.err


def test_process_uses_the_hints_with_a_model_without_hint_inputs(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", database_url, "--store", str(tmp_path / "store")]
    process = factories.processed_volume(db, tmp_path)
    summary, err = _last_json(capsys)
    assert "hints_unusable" not in summary and "colour hints" not in err

    assert run([*db, "hints", "import", str(_hints(tmp_path / "h.json", "p1.tif", [3, 4]))]) == 0
    capsys.readouterr()
    assert run(process) == 0
    summary, err = _last_json(capsys)
    assert (summary["queued"], summary["done"]) == (1, 1)
    assert "warning" not in err


def test_colorize_with_a_hints_file(
    fixture_model_default: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    model = factories.write_hint_model(fixture_model_default)
    master = write_synthetic_page(tmp_path / "plate.tif", width=120, height=90, seed=3)
    hints = _hints(tmp_path / "vol.hints.json", "plate.tif", [60, 45])
    base = ["colorize", str(master), "--model", model, "--chroma-size", "64", "--json", "-o"]
    assert run([*base, str(tmp_path / "plain.tif")]) == 0
    plain, _err = _last_json(capsys)
    assert "hints" not in plain and "hints_sha256" not in plain["parameters"]
    assert run([*base, str(tmp_path / "hinted.tif"), "--hints", str(hints)]) == 0
    summary, _err = _last_json(capsys)
    assert summary["hints"]["count"] == 1 and summary["hints"]["source"] == "vol.hints.json"
    assert summary["parameters"]["hints_sha256"] == summary["hints"]["sha256"]
    with tifffile.TiffFile(tmp_path / "hinted.tif") as tiff:
        pixels = tiff.pages[0].asarray()
        xmp = parse_xmp(tiff.pages[0].tags["XMP"].value)
    assert xmp.provenance["hints"] == summary["hints"]
    assert xmp.parameters["hints_sha256"] == summary["hints"]["sha256"]
    assert not np.array_equal(pixels, tifffile.imread(tmp_path / "plain.tif"))

    outside = _hints(tmp_path / "outside.json", "plate.tif", [120, 10])
    for argv, message in [
        (["--hints", str(outside)], "outside.json: pages[0].hints[0]: point (120, 10) is outside"),
        (["--hints", str(_hints(tmp_path / "o.json", "other.tif", [1, 1]))], "no page for"),
    ]:
        assert run([*base, str(tmp_path / "x.tif"), *argv]) == 1
        err = capsys.readouterr().err.strip()
        assert message in err and len(err.splitlines()) == 1, err
    assert not (tmp_path / "x.tif").exists()
    fixture = [*base[:3], "iizuka.fixture", *base[4:]]  # a model without hint inputs
    assert run([*fixture, str(tmp_path / "fixture-plain.tif")]) == 0
    assert run([*fixture, str(tmp_path / "fixture-hinted.tif"), "--hints", str(hints)]) == 0
    summary, _err = _last_json(capsys)
    assert summary["parameters"]["hint_propagation"]["method"] == "domain-transform-rf"
    assert not np.array_equal(
        tifffile.imread(tmp_path / "fixture-hinted.tif"),
        tifffile.imread(tmp_path / "fixture-plain.tif"),
    )
