"""`archcolor export --c2pa` and `archcolor verify --c2pa` on a real catalog (pages ingested and
colorized by the real `process` command, fixture model), with a test chain from
`archcolor c2pa test-cert`. Offline: no time-stamp authority."""

from __future__ import annotations

import json
from pathlib import Path

import bagit
import numpy as np
import pytest
import tifffile
from PIL import Image

from archive_colorizer.catalog.engine import create_catalog_engine
from archive_colorizer.cli.app import run
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.metadata import parse_xmp
from archive_colorizer.services.credentials import signing_credentials
from archive_colorizer.services.export import ExportOptions, export
from tests.integration.test_export import SIZES, make_catalog

pytest.importorskip("c2pa", reason="the c2pa extra is not installed")

pytestmark = [pytest.mark.usefixtures("fixture_model_default"), pytest.mark.slow]


def _verify(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    capsys.readouterr()
    code = run([*args, "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_signed_tiff_and_jpeg_verify_against_the_catalog_and_tampering_is_caught(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = make_catalog(tmp_path, database_url, sizes=SIZES[:2])
    base = ["--db", database_url, "--store", str(store)]
    assert run(["c2pa", "test-cert", str(tmp_path / "chain")]) == 0
    sign = ["--c2pa", "--c2pa-cert", str(tmp_path / "chain/test-chain.pem"),
            "--c2pa-key", str(tmp_path / "chain/test-key.pem")]  # fmt: skip
    for fmt in ("tiff", "jpeg"):
        out = tmp_path / fmt
        assert run([*base, "export", "--format", fmt, "--out", str(out), *sign]) == 0
        document = json.loads((out / "manifest.json").read_text())
        assert {p["c2pa"] for p in document["pages"]} == {"embedded"}
        code, report = _verify(capsys, *base, "verify", "--c2pa", str(out))
        assert code == 0, report
        assert (report["checked"], report["ok"], report["catalog_checked"]) == (2, 2, True)
        for entry, page in zip(report["files"], document["pages"], strict=True):
            assert entry["status"] == "valid"
            assert entry["master_sha256"] == page["master_sha256"]
            assert entry["catalog_master"].startswith("vol-1/page-0")
            assert entry["actions"] == ["c2pa.opened", "c2pa.color_adjustments"] + (
                ["c2pa.transcoded"] if fmt == "jpeg" else []
            )
            assert entry["weights_sha256"] == page["weights_sha256"]
        # the same again: nothing re-signed
        capsys.readouterr()
        assert run([*base, "export", "--format", fmt, "--out", str(out), *sign, "--json"]) == 0
        assert json.loads(capsys.readouterr().out)["unchanged"] == 2

    tiff = tmp_path / "tiff/vol-1/page-00-p0001.tif"
    with tifffile.TiffFile(tiff) as handle:  # the XMP provenance is still there, readable
        assert len(handle.pages) == 1
        page = handle.pages[0]
        assert parse_xmp(page.tags.valueof(700)).derived_from_sha256 is not None
        offset = page.dataoffsets[0] + 3
        pixels = page.asarray()
    with Image.open(tiff) as image:  # and for Pillow (libtiff): same pixels, same XMP
        assert np.array_equal(np.asarray(image.convert("RGB")), pixels)
        assert parse_xmp(image.tag_v2[700]).weights_sha256 is not None
    with Image.open(tmp_path / "jpeg/vol-1/page-00-p0001.jpg") as image:
        assert b"trainedAlgorithmicMedia" in image.info["xmp"]
    data = bytearray(tiff.read_bytes())
    data[offset] ^= 0x01
    tiff.write_bytes(bytes(data))
    code, report = _verify(capsys, *base, "c2pa", "verify", str(tmp_path / "tiff"))
    assert code == 3
    assert [f["status"] for f in report["files"]] == ["invalid", "valid"]
    assert "assertion.dataHash.mismatch" in report["files"][0]["failures"]

    # the verify command without a catalog: intact, master not compared
    code, report = _verify(capsys, "--db", f"sqlite:///{tmp_path / 'none.sqlite3'}", "verify",
                           "--c2pa", str(tmp_path / "jpeg"))  # fmt: skip
    assert code == 0 and report["catalog_checked"] is False and "no catalog" in report[
        "catalog_note"]  # fmt: skip
    assert not (tmp_path / "none.sqlite3").exists()


def test_sidecar_tiff_stays_the_derivative_and_unsigned_export_is_missing(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = make_catalog(tmp_path, database_url, sizes=SIZES[:1])
    base = ["--db", database_url, "--store", str(store)]
    assert run(["c2pa", "test-cert", str(tmp_path / "chain")]) == 0
    out = tmp_path / "out"
    env_sign = ["--c2pa", "--c2pa-sidecar", "--c2pa-cert", str(tmp_path / "chain/test-chain.pem"),
                "--c2pa-key", str(tmp_path / "chain/test-key.pem")]  # fmt: skip
    assert run([*base, "export", "--format", "tiff", "--out", str(out), *env_sign]) == 0
    page = json.loads((out / "manifest.json").read_text())["pages"][0]
    assert page["c2pa"] == "sidecar" and page["export_sha256"] == page["derivative_sha256"]
    lines = (out / "manifest-sha256.txt").read_text().splitlines()
    listed = {path: digest for digest, path in (line.split("  ", 1) for line in lines)}
    sidecar = page["c2pa_manifest"]
    assert listed[sidecar] == sha256_file(out / sidecar)[0]
    code, report = _verify(capsys, *base, "verify", "--c2pa", "--c2pa-trust",
                           str(tmp_path / "chain/test-ca.pem"), str(out))  # fmt: skip
    assert code == 0 and report["files"][0]["status"] == "trusted"
    assert report["files"][0]["sidecar"].endswith(".tif.c2pa")

    pyramid = tmp_path / "pyramid"
    sign = env_sign[:1] + env_sign[2:]
    assert (
        run([*base, "export", "--format", "tiff", "--pyramid", "--out", str(pyramid), *sign]) == 0
    )
    page = json.loads((pyramid / "manifest.json").read_text())["pages"][0]
    assert page["c2pa"] == "sidecar"
    with tifffile.TiffFile(pyramid / page["export_path"]) as handle:
        assert len(handle.pages) == len(handle.series[0].levels)  # the levels only
    code, report = _verify(capsys, *base, "verify", "--c2pa", str(pyramid))
    assert code == 0 and report["files"][0]["status"] == "valid"

    plain = tmp_path / "plain"
    assert run([*base, "export", "--format", "png", "--out", str(plain)]) == 0
    code, report = _verify(capsys, *base, "verify", "--c2pa", str(plain))
    assert code == 3 and report["files"][0]["status"] == "missing"


def test_missing_key_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert run(["c2pa", "test-cert", str(tmp_path / "chain")]) == 0
    capsys.readouterr()
    code = run(["export", "--out", str(tmp_path / "out"), "--c2pa",
                "--c2pa-cert", str(tmp_path / "chain/test-chain.pem")])  # fmt: skip
    assert code == 1
    assert "--c2pa needs the private key" in capsys.readouterr().err


def test_iiif_access_copies_are_signed_listed_and_verify(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = make_catalog(tmp_path, database_url, sizes=SIZES[:2])
    base = ["--db", database_url, "--store", str(store)]
    assert run(["c2pa", "test-cert", str(tmp_path / "chain")]) == 0
    cert, key = tmp_path / "chain/test-chain.pem", tmp_path / "chain/test-key.pem"
    out = tmp_path / "out"
    signed = ["export", "--format", "tiff", "--c2pa", "--c2pa-cert", str(cert), "--c2pa-key",
              str(key), "--iiif-base-url", "https://iiif.example.org/x"]  # fmt: skip
    command = [*base, *signed, "--out", str(out)]
    assert run(command) == 0
    copies = sorted((out / "iiif").rglob("*.jpg"))
    assert len(copies) == 2
    lines = (out / "manifest-sha256.txt").read_text().splitlines()
    listed = {path: digest for digest, path in (line.split("  ", 1) for line in lines)}
    for copy in copies:  # listed with the signed bytes' sha256
        assert listed[copy.relative_to(out).as_posix()] == sha256_file(copy)[0]
    code, report = _verify(capsys, *base, "verify", "--c2pa", str(out))
    assert code == 0, report
    assert (report["checked"], report["ok"]) == (4, 4)
    pages = json.loads((out / "manifest.json").read_text())["pages"]
    for entry in report["files"]:
        assert entry["status"] == "valid" and entry["catalog_master"] is not None
        if "/iiif/" in entry["path"]:
            assert entry["actions"] == [
                "c2pa.opened", "c2pa.color_adjustments", "c2pa.transcoded"]  # fmt: skip
            assert entry["master_sha256"] in {p["master_sha256"] for p in pages}
    before = {copy: sha256_file(copy)[0] for copy in copies}
    assert run(command) == 0  # the same again: the copies are kept, not re-signed
    assert {copy: sha256_file(copy)[0] for copy in copies} == before

    # a bag with smaller canvases: resized, signed before hashing, the bag valid
    bag = tmp_path / "bag"
    options = ExportOptions(format="png", out=bag, bagit=True, iiif_base_url="https://x.org/b",
                            iiif_access_size=200, c2pa=signing_credentials(cert, key))  # fmt: skip
    engine = create_catalog_engine(database_url)
    try:
        summary = export(engine, store, options)
    finally:
        engine.dispose()
    assert not summary.problems
    bagit.Bag(str(bag)).validate()
    code, report = _verify(capsys, *base, "verify", "--c2pa", str(bag))
    assert code == 0 and report["checked"] == 4, report
    resized = [f for f in report["files"] if "/iiif/" in f["path"]]
    assert [f["actions"][-2:] for f in resized] == [["c2pa.transcoded", "c2pa.resized"]] * 2
    for copy in sorted((bag / "data/iiif").rglob("*.jpg")):
        with Image.open(copy) as image:
            assert max(image.size) == 200

    # --c2pa-sidecar: the copies' manifests beside them, listed too
    side = tmp_path / "side"
    assert run([*base, *signed, "--c2pa-sidecar", "--out", str(side)]) == 0
    lines = (side / "manifest-sha256.txt").read_text().splitlines()
    listed = {path: digest for digest, path in (line.split("  ", 1) for line in lines)}
    sidecars = sorted((side / "iiif").rglob("*.jpg.c2pa"))
    assert len(sidecars) == 2
    for sidecar in sidecars:
        assert listed[sidecar.relative_to(side).as_posix()] == sha256_file(sidecar)[0]
    code, report = _verify(capsys, *base, "verify", "--c2pa", str(side))
    assert code == 0 and report["checked"] == 4, report
