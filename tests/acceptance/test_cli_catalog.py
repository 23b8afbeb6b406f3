"""The catalog commands end to end: ingest, status, scans, show, verify, db."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from archive_colorizer.cli.app import run
from tests import factories
from tests.volumes import build_mixed_volume

INGEST_FIELDS = ("ingested", "unchanged", "changed", "duplicates", "rejected", "bytes")


def _json(capsys: pytest.CaptureFixture[str]) -> object:
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out  # exactly one JSON document on one line
    return json.loads(out)


def test_ingest_status_scans_show_verify(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = ["--db", database_url]
    volume = tmp_path / "vol-3"
    expected = build_mixed_volume(volume)
    good = sum(1 for spec in expected.values() if spec.reason is None)
    bad = len(expected) - good

    assert run([*db, "ingest", str(volume), "--json"]) == 3
    first = _json(capsys)
    assert isinstance(first, dict)
    assert all(isinstance(first[field], int) for field in INGEST_FIELDS)
    assert (first["ingested"], first["rejected"], first["unchanged"]) == (good, bad, 0)

    assert run([*db, "ingest", str(volume), "--json"]) == 0
    second = _json(capsys)
    assert isinstance(second, dict)
    assert second["unchanged"] == len(expected) and second["rejected"] == 0

    assert run([*db, "status", "--json"]) == 0
    status = _json(capsys)
    assert isinstance(status, dict)
    pages = sum(spec.pages for spec in expected.values() if spec.reason is None)
    assert (status["volumes"], status["scans"], status["rejected"]) == (1, pages, bad)

    assert run([*db, "scans", "--state", "rejected", "--json"]) == 0
    rejected = _json(capsys)
    assert isinstance(rejected, list)
    assert sorted(row["path"] for row in rejected) == sorted(
        name for name, spec in expected.items() if spec.reason is not None
    )
    assert all(row["reason"] for row in rejected)

    assert run([*db, "scans", "--volume", "vol-3", "--json"]) == 0
    rows = _json(capsys)
    assert isinstance(rows, list) and len(rows) == pages + bad
    multipage = [row for row in rows if row["path"] == "11_multipage.tif"]
    assert [row["page_index"] for row in multipage] == [0, 1, 2]

    assert run([*db, "show", str(multipage[1]["id"]), "--json"]) == 0
    shown = _json(capsys)
    assert isinstance(shown, dict)
    assert shown["page_count"] == 3 and shown["sha256"] == multipage[1]["sha256"]
    assert [event["type"] for event in shown["events"]] == [
        "message-digest-calculation",
        "format-identification",
        "ingestion",
    ]
    assert shown["events"][0]["occurred_at"].endswith("+00:00")

    assert run([*db, "verify", "--json"]) == 0
    verified = _json(capsys)
    assert isinstance(verified, dict) and verified["ok"] == good

    (volume / "05_gray16.tif").unlink()
    assert run([*db, "verify"]) == 3
    captured = capsys.readouterr()
    assert "missing: vol-3/05_gray16.tif" in captured.err
    assert "1 missing" in captured.out


def test_modified_file_is_reported_as_changed(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    volume = tmp_path / "vol"
    factories.write_gray8(volume / "a.tif")
    assert run(["--db", sqlite_url, "ingest", str(volume), "--json"]) == 0
    capsys.readouterr()
    factories.write_gray8(volume / "a.tif", seed=9)
    assert run(["--db", sqlite_url, "ingest", str(volume), "--json"]) == 0
    summary = _json(capsys)
    assert isinstance(summary, dict) and summary["changed"] == 1
    assert run(["--db", sqlite_url, "scans", "--state", "all", "--json"]) == 0
    rows = _json(capsys)
    assert isinstance(rows, list)
    assert [(row["version"], row["state"]) for row in rows] == [
        (1, "superseded"),
        (2, "ingested"),
    ]


def test_human_output_names_each_rejected_file(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    volume = tmp_path / "vol"
    factories.write_gray8(volume / "good.tif")
    factories.write_png_named_tif(volume / "photo.tif")
    assert run(["--db", sqlite_url, "ingest", str(volume)]) == 3
    captured = capsys.readouterr()
    assert "rejected: vol/photo.tif: photo.tif: not a TIFF: PNG data" in captured.err
    assert "1 ingested" in captured.out and "1 rejected" in captured.out


def test_db_current_and_upgrade(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--db", sqlite_url, "db", "current", "--json"]) == 0
    empty = _json(capsys)
    assert isinstance(empty, dict) and empty["current"] is None and not empty["up_to_date"]
    assert run(["--db", sqlite_url, "db", "upgrade"]) == 0
    assert "upgraded from empty" in capsys.readouterr().out
    assert run(["--db", sqlite_url, "db", "current"]) == 0
    assert "(head)" in capsys.readouterr().out
    assert run(["--db", sqlite_url, "db", "upgrade", "--json"]) == 0
    again = _json(capsys)
    assert isinstance(again, dict) and again["changed"] is False


def test_unreachable_database_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgresql+psycopg://archivist:s3cret@127.0.0.1:1/catalog"
    assert run(["--db", url, "status"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: cannot connect")
    assert "s3cret" not in err


def test_missing_path_and_unknown_scan_are_one_line_errors(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["--db", sqlite_url, "ingest", str(tmp_path / "nowhere")]) == 1
    assert "nowhere: no such file or folder" in capsys.readouterr().err
    assert run(["--db", sqlite_url, "db", "upgrade"]) == 0  # reading commands create no tables
    capsys.readouterr()
    assert run(["--db", sqlite_url, "show", "42"]) == 1
    assert "no scan with id 42" in capsys.readouterr().err
    assert run(["--db", sqlite_url, "scans", "--state", "bogus"]) == 2


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("archcolor") is None, reason="console script not installed")
def test_console_script_end_to_end(tmp_path: Path) -> None:
    volume = tmp_path / "box"
    factories.write_multipage(volume / "book.tif", pages=2)
    factories.write_zero_byte(volume / "empty.tif")
    env = {**os.environ, "ARCHCOLOR_DATABASE_URL": f"sqlite:///{tmp_path / 'c.sqlite3'}"}
    script = str(Path(sys.executable).with_name("archcolor"))
    if not Path(script).exists():
        script = "archcolor"

    def archcolor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [script, *args], cwd=tmp_path, env=env, capture_output=True, text=True, check=False
        )

    ingested = archcolor("ingest", "box", "--json")
    assert ingested.returncode == 3, ingested.stderr
    summary = json.loads(ingested.stdout)
    assert (summary["ingested"], summary["rejected"], summary["pages"]) == (1, 1, 2)
    assert "\x1b[" not in ingested.stderr  # no progress bar when not on a terminal
    status = archcolor("status", "--json")
    assert json.loads(status.stdout)["scans"] == 2
