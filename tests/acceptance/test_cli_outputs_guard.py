"""Hostile-audit attacks 1 and 7 through the CLI, on SQLite and PostgreSQL: no output lands on a
master or inside an ingested folder, exports never replace files they did not write, ingest
skips archcolor's own outputs and does not follow links that leave the folder being ingested."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from archive_colorizer.cli.app import run
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.synthetic import write_synthetic_page

pytestmark = pytest.mark.usefixtures("fixture_model_default")


def _json(capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    out = capsys.readouterr().out
    document = json.loads(out.strip().splitlines()[-1])
    assert isinstance(document, dict)
    return document


def _scans(tmp_path: Path, database_url: str) -> tuple[list[str], Path]:
    """scans/vol/plate.tif and scans/vol/plate-p0001.tif ingested and colorized."""
    volume = tmp_path / "scans" / "vol"
    write_synthetic_page(volume / "plate.tif", width=120, height=90, seed=1)
    write_synthetic_page(volume / "plate-p0001.tif", width=100, height=80, seed=2)
    base = ["--db", database_url, "--store", str(tmp_path / "store")]
    assert run([*base, "ingest", str(volume)]) == 0
    assert run([*base, "process", "--pending", "--device", "cpu", "--chroma-size", "32",
                "--poll-seconds", "0.05", "--json"]) == 0  # fmt: skip
    return base, volume


def _fingerprints(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): sha256_file(p)[0]
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_export_into_the_scans_root_never_touches_a_master(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, volume = _scans(tmp_path, database_url)
    before = _fingerprints(volume)
    capsys.readouterr()
    # the attack: --out is the folder above the volume, so vol/plate-p0001.tif is a master
    assert run([*base, "export", "--format", "tiff", "--out", str(tmp_path / "scans")]) == 1
    err = capsys.readouterr().err
    assert "ingested" in err and err.count("\n") == 1, err
    assert _fingerprints(volume) == before
    # inside the volume's folder, and the volume's folder itself
    for out in (volume / "exports", volume):
        assert run([*base, "export", "--format", "png", "--out", str(out)]) == 1
        assert "ingested" in capsys.readouterr().err
    assert _fingerprints(volume) == before
    assert not (volume / "exports").exists()
    # verify still finds every master intact
    assert run([*base, "verify", "--json"]) == 0


def test_export_never_replaces_a_file_it_did_not_write(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, volume = _scans(tmp_path, database_url)
    out = tmp_path / "delivery"
    foreign = out / "vol" / "plate-p0001.tif"
    foreign.parent.mkdir(parents=True)
    foreign.write_bytes(b"somebody else's file")
    copy_of_master = out / "vol" / "plate-p0001-p0001.tif"
    shutil.copyfile(volume / "plate-p0001.tif", copy_of_master)
    capsys.readouterr()
    assert run([*base, "export", "--format", "tiff", "--out", str(out), "--json"]) == 3
    summary = _json(capsys)
    assert (summary["written"], summary["replaced"]) == (0, 0)
    problems = summary["problems"]
    assert isinstance(problems, list) and len(problems) == 2
    assert any("not written by archcolor" in p for p in problems), problems
    assert any("master" in p and "sha256" in p for p in problems), problems
    assert foreign.read_bytes() == b"somebody else's file"
    assert sha256_file(copy_of_master) == sha256_file(volume / "plate-p0001.tif")
    # once moved away, export writes them; a file it wrote itself is replaced when changed
    foreign.unlink()
    copy_of_master.unlink()
    assert run([*base, "export", "--format", "tiff", "--out", str(out), "--json"]) == 0
    assert _json(capsys)["written"] == 2
    foreign.write_bytes(b"tampered")
    assert run([*base, "export", "--format", "tiff", "--out", str(out), "--json"]) == 0
    assert _json(capsys)["replaced"] == 1


def test_store_and_colorize_output_inside_an_ingested_folder_are_refused(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _base, volume = _scans(tmp_path, database_url)
    before = _fingerprints(volume)
    db = ["--db", database_url]
    capsys.readouterr()
    for store in (volume / "derivatives", tmp_path / "scans"):
        assert run([*db, "--store", str(store), "process", "--pending", "--device", "cpu"]) == 1
        err = capsys.readouterr().err
        assert "ingested" in err and err.count("\n") == 1, err
        assert not (volume / "derivatives").exists()
    target = volume / "plate-colour.tif"
    assert run([*db, "colorize", str(volume / "plate.tif"), "-o", str(target)]) == 1
    assert "ingested" in capsys.readouterr().err
    assert not target.exists()
    assert _fingerprints(volume) == before


def test_ingest_skips_archcolor_outputs_with_a_counted_reason(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base, _volume = _scans(tmp_path, database_url)
    out = tmp_path / "delivery"
    assert run([*base, "export", "--format", "tiff", "--out", str(out), "--bagit"]) == 0
    web = tmp_path / "delivery-web"
    assert run([*base, "export", "--format", "png", "--out", str(web)]) == 0
    capsys.readouterr()
    assert run([*base, "ingest", str(out), "--json"]) == 0
    summary = _json(capsys)
    # 2 derivatives + manifest.json, manifest.csv, manifest-sha256.txt, bagit.txt, bag-info.txt,
    # tagmanifest-sha256.txt
    assert (summary["ingested"], summary["rejected"], summary["skipped_own"]) == (0, 0, 8)
    assert run([*base, "ingest", str(web), "--json"]) == 0
    summary = _json(capsys)
    assert (summary["ingested"], summary["rejected"], summary["skipped_own"]) == (0, 0, 5)
    assert run([*base, "ingest", str(web)]) == 0
    captured = capsys.readouterr()
    assert "5 skipped" in captured.out
    assert "archcolor" in captured.err  # each skipped file is named with its reason


def test_ingest_does_not_follow_links_out_of_the_folder(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    outside = tmp_path / "outside"
    write_synthetic_page(outside / "secret.tif", width=40, height=30, seed=3)
    (outside / "notes.txt").write_text("private\n")
    volume = tmp_path / "scans" / "vol"
    write_synthetic_page(volume / "plate.tif", width=40, height=30, seed=4)
    os.symlink(outside, volume / "link_out")
    os.symlink(outside / "secret.tif", volume / "secret-link.tif")
    os.symlink("plate.tif", volume / "inside-link.tif")  # stays inside: followed
    db = ["--db", database_url]
    assert run([*db, "ingest", str(volume), "--json"]) == 3
    summary = _json(capsys)
    assert (summary["ingested"], summary["duplicates"], summary["rejected"]) == (1, 1, 2)
    assert summary["links_refused"] == 2
    assert run([*db, "scans", "--state", "rejected", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    reasons = {row["path"]: row["reason"] for row in rows}
    assert sorted(reasons) == ["link_out", "secret-link.tif"]
    assert all("--follow-links" in reason and "leaves" in reason for reason in reasons.values())
    assert not any(row.get("sha256") for row in rows)  # nothing outside was read
    # opted in: the link is followed
    assert run([*db, "ingest", str(volume), "--follow-links", "--json"]) == 3
    summary = _json(capsys)
    assert (summary["links_refused"], summary["rejected"]) == (0, 1)  # only notes.txt
