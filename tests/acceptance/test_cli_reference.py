"""Colour references end to end: `colorize --reference`, `reference set | list | clear` and
`process --reference`, with the untrained fixture model."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile
from PIL import Image

from archive_colorizer.cli.app import run
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.metadata import parse_xmp
from archive_colorizer.imaging.synthetic import write_synthetic_page
from tests import factories

pytestmark = pytest.mark.usefixtures("fixture_model_default")


def _reference(path: Path) -> Path:
    rgb = np.full((200, 300, 3), 240, dtype=np.uint8)
    rgb[30:170, 40:260] = (60, 110, 200)  # a dark blue sky: another global mood than the page
    rgb[::9] = 25
    Image.fromarray(rgb).save(path)
    return path


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    return json.loads(capsys.readouterr().out)


def test_colorize_with_a_reference_differs_and_names_it_in_the_xmp(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    master = write_synthetic_page(tmp_path / "m.tif", width=120, height=90, seed=3)
    image = _reference(tmp_path / "sky.jpg")
    digest = sha256_file(image)[0]
    base = ["colorize", str(master), "--chroma-size", "64", "--json", "-o"]
    assert run([*base, str(tmp_path / "plain.tif")]) == 0
    plain = _json(capsys)
    assert "reference" not in plain and "reference_sha256" not in plain["parameters"]
    assert run([*base, str(tmp_path / "ref.tif"), "--reference", str(image)]) == 0
    summary = _json(capsys)
    assert summary["reference"]["sha256"] == digest
    assert summary["parameters"]["reference_sha256"] == digest
    assert summary["parameters"]["reference_palette"] == 0.0
    with tifffile.TiffFile(tmp_path / "ref.tif") as tiff:
        pixels = tiff.pages[0].asarray()
        xmp = parse_xmp(tiff.pages[0].tags["XMP"].value)
    assert xmp.parameters["reference_sha256"] == digest
    assert xmp.provenance["reference"] == summary["reference"]
    assert xmp.provenance["reference"]["file_name"] == "sky.jpg"
    assert not np.array_equal(pixels, tifffile.imread(tmp_path / "plain.tif"))
    assert run([*base, str(tmp_path / "p.tif"), "--reference-palette", "0.5"]) == 1
    assert "--reference-palette, --reference-prior" in capsys.readouterr().err
    # the fixture model has no class head: the reference's colours cannot be its prior
    assert "reference_prior" not in summary["parameters"]
    prior = ["--reference", str(image), "--reference-prior", "1"]
    assert run([*base, str(tmp_path / "p.tif"), *prior]) == 1
    assert "needs a model with a class head" in capsys.readouterr().err
    assert run([*base, str(tmp_path / "p.tif"), "--reference-prior", "1"]) == 1
    assert "--reference-global need --reference" in capsys.readouterr().err
    assert run([*base, str(tmp_path / "p.tif"), "--reference", str(master.with_suffix(""))]) == 1
    assert "no such colour reference" in capsys.readouterr().err


def test_reference_set_list_clear_and_process(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", database_url, "--store", str(tmp_path / "store")]
    process = factories.processed_volume(db, tmp_path)
    capsys.readouterr()
    image = _reference(tmp_path / "sky.png")
    digest = sha256_file(image)[0]

    assert run([*db, "reference", "set", "vol", str(image), "--json"]) == 0
    assert _json(capsys) == {
        "volume": "vol",
        "sha256": digest,
        "file_name": "sky.png",
        "previous_sha256": None,
        "changed": True,
        "scans": 2,
    }
    assert run([*db, "reference", "list", "--json"]) == 0
    (listed,) = _json(capsys)
    assert (listed["sha256"], listed["path"], listed["volumes"]) == (digest, str(image), ["vol"])
    assert run(process) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert json.loads(lines[-1])["queued"] == 2 and json.loads(lines[-1])["done"] == 2

    assert run([*db, "reference", "clear", "vol"]) == 0
    assert "colour reference removed (2 scan(s)" in capsys.readouterr().out
    assert run(process) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["queued"] == 0

    assert run([*process, "--reference", str(image), "--reference-palette", "0.5"]) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["queued"] == 2
    assert run([*db, "reference", "set", "nowhere", str(image)]) == 1
    assert "no volume named 'nowhere'" in capsys.readouterr().err
