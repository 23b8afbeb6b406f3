"""The report draws a page's current colour hints over its master thumbnail and lists each
volume's colour reference."""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np
from PIL import Image
from sqlalchemy import Engine

from archive_colorizer.config import Settings
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.synthetic import write_synthetic_page
from archive_colorizer.services.hints import clear_hints, import_hints
from archive_colorizer.services.ingest import ingest
from archive_colorizer.services.references import set_volume_reference
from archive_colorizer.services.report import write_report


def _articles(report: Path) -> dict[str, str]:
    text = report.read_text(encoding="utf-8")
    found = re.findall(r'<article class="page" data-scan="\d+"><h3>(.*?)</h3>(.*?)</article>',
                       text, re.S)  # fmt: skip
    return {re.search(r"p\d\.tif", heading).group(0): body for heading, body in found}  # type: ignore[union-attr]


def test_hints_on_the_master_thumbnail_and_the_volume_reference(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    settings = Settings(database_url=database_url, store=tmp_path / "store")
    folder = tmp_path / "vol"
    for number in range(2):
        write_synthetic_page(folder / f"p{number}.tif", width=160, height=120, seed=number)
    ingest(engine, settings, [folder], volume="vol")
    document = {
        "format": "archcolor-hints/1",
        "volume": "vol",
        "author": "M. Keller",
        "pages": [
            {
                "file": "p0.tif",
                "hints": [
                    {"point": [40, 30], "radius": 5, "color": "#9b1b30"},
                    {"stroke": [[10, 100], [150, 100]], "radius": 2, "lab": [50, 0, 0]},
                ],
            }
        ],
    }
    (tmp_path / "h.json").write_text(json.dumps(document), encoding="utf-8")
    import_hints(engine, tmp_path / "h.json")
    rgb = np.full((60, 80, 3), (200, 120, 90), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "plate-7.png")
    digest = sha256_file(tmp_path / "plate-7.png")[0]
    set_volume_reference(engine, "vol", tmp_path / "plate-7.png")

    report = tmp_path / "r" / "index.html"
    write_report(engine, settings.store, report)
    articles = _articles(report)
    hinted, plain = articles["p0.tif"], articles["p1.tif"]
    assert "<svg" not in plain and '<div class="hinted">' not in plain
    svg = re.search(r'<div class="hinted"><a href="[^"]+"[^>]*><img [^>]+></a>(<svg.*?</svg>)',
                    hinted, re.S)  # fmt: skip
    assert svg is not None
    assert 'viewBox="0 0 160 120"' in svg.group(1)
    assert '<circle cx="40.5" cy="30.5" r="5" fill="#9b1b30"' in svg.group(1)
    assert 'points="10.5,100.5 150.5,100.5"' in svg.group(1)
    assert re.search(r'stroke="#7[0-9a-f]7[0-9a-f]7[0-9a-f]" stroke-width="4"', svg.group(1))
    assert "with 2 colour hint(s)" in hinted and "chosen by M. Keller" in hinted

    text = report.read_text(encoding="utf-8")
    table = re.search(r'<table class="list" id="references">(.*?)</table>', text, re.S)
    assert "<h2>Colour references</h2>" in text and table is not None
    assert "<td>vol</td><td>plate-7.png</td>" in table.group(1)
    assert f"{digest[:16]}…" in table.group(1)

    clear_hints(engine, volume="vol")
    write_report(engine, settings.store, report)
    assert "<svg" not in report.read_text(encoding="utf-8")
