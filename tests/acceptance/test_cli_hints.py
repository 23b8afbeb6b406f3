"""`archcolor hints` end to end, on the example of docs/hints.md (its JSON and its commands)."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest

from archive_colorizer.cli.app import run
from tests import factories

DOC = Path(__file__).resolve().parents[2] / "docs" / "hints.md"


def _blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(encoding="utf-8"), re.S)


def _json(capsys: pytest.CaptureFixture[str]) -> Any:
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    return json.loads(out)


def test_the_documented_example(
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    db = ["--db", database_url]
    volume = tmp_path / "costumes-1872"
    factories.write_gray8(volume / "plate-012.tif", width=640, height=480)
    factories.write_multipage(volume / "plates-013-014.tif", pages=2, width=400, height=600)
    factories.write_gray8(volume / "title.tif")
    assert run([*db, "ingest", str(volume), "--json"]) == 0
    capsys.readouterr()
    assert run([*db, "scans", "--json"]) == 0
    ids = {(row["path"], row["page_index"]): row["id"] for row in _json(capsys)}

    example = json.loads(_blocks("json")[0])
    example["pages"][2]["scan"] = ids[("title.tif", 0)]  # the example's scan 4
    monkeypatch.chdir(tmp_path)
    Path("costumes-1872.hints.json").write_text(json.dumps(example), encoding="utf-8")

    assert run([*db, "hints", "import", "costumes-1872.hints.json", "--json"]) == 0
    assert _json(capsys) == {
        "file": "costumes-1872.hints.json",
        "pages": 3,
        "imported": 3,
        "unchanged": 0,
        "hints": 4,
        "scans": [ids[("plate-012.tif", 0)], ids[("plates-013-014.tif", 1)], ids[("title.tif", 0)]],
    }
    assert run([*db, "hints", "import", "costumes-1872.hints.json"]) == 0
    assert "0 new hint set(s) (0 hints), 3 unchanged" in capsys.readouterr().out

    assert run([*db, "hints", "list", "--volume", "costumes-1872", "--json"]) == 0
    listed = _json(capsys)
    assert [(row["file"], row["page"], row["hints"], row["author"]) for row in listed] == [
        ("plate-012.tif", 0, 2, "M. Keller (prints department)"),
        ("plates-013-014.tif", 1, 1, "J. Brandt"),
        ("title.tif", 0, 1, "M. Keller (prints department)"),
    ]

    # every command the document shows runs as shown
    for line in _blocks("sh")[0].splitlines():
        argv = shlex.split(line)
        assert argv[0] == "archcolor"
        assert run([*db, *argv[1:]]) == 0, line
    out = capsys.readouterr().out
    assert "scan " in out and "1 hint set(s) cleared" in out
    exported = json.loads(Path("costumes-1872.hints.json").read_text(encoding="utf-8"))
    assert exported["volume"] == "costumes-1872" and len(exported["pages"]) == 3

    # a bad file: one line on stderr, exit 1, nothing recorded
    example["pages"][0]["hints"][0]["point"] = [640, 10]
    Path("bad.json").write_text(json.dumps(example), encoding="utf-8")
    assert run([*db, "hints", "import", "bad.json"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert "bad.json: pages[0].hints[0]: point (640, 10) is outside plate-012.tif" in err
    assert run([*db, "hints", "list", "--json"]) == 0
    assert len(_json(capsys)) == 2  # title.tif was cleared above; nothing else changed

    assert run([*db, "hints", "clear"]) == 1
    assert "--scan ID or --volume NAME" in capsys.readouterr().err
