"""Hostile-audit attacks on pages (issue 14: attacks 2, 3, 4, 9), through ingest, verify and the
real worker on SQLite and PostgreSQL.

* a mask IFD before an image IFD: the worker colorizes the page ingest catalogued;
* decompression bombs (a 65536² tile on a 64x64 page; a JPEG tile whose SOF declares 65000²):
  the job is dead with a reason and the worker's memory stays small; a page needing more than
  the worker's memory cap ends as a dead job, not an out-of-memory process;
* a file with more image pages than the page limit is rejected at ingest with a reason;
* malformed tags (ImageWidth with 2 values) are a permanent, named error, not a retried
  TypeError; all-zero strip byte counts: verify --decode and process agree (both reject).

Rows "catalogued before this fix" are made by ingesting a sound file and then putting the
hostile bytes in its place with the row's sha256/size updated (and no IFD offset), exactly what
an older catalog holds.
"""

from __future__ import annotations

import resource
import zlib
from pathlib import Path

import numpy as np
import pytest
import tifffile
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from archive_colorizer.catalog.queue import ClaimFilter
from archive_colorizer.catalog.schema import Derivative, Scan, ScanState
from archive_colorizer.config import Settings
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.tiff_facts import read_facts
from archive_colorizer.services import enqueue as queueing
from archive_colorizer.services import jobs as job_reads
from archive_colorizer.services import models as model_identity
from archive_colorizer.services import runner as job_runner
from archive_colorizer.services.colorize import ColorizeParams
from archive_colorizer.services.ingest import ingest
from archive_colorizer.services.verify import verify
from archive_colorizer.services.worker import WorkerConfig, run_worker
from tests import factories

pytestmark = [pytest.mark.usefixtures("fixture_model_default"), pytest.mark.slow]

PARAMS = ColorizeParams(chroma_size=64)
MIB = 1024 * 1024


def _ingest(engine: Engine, url: str, folder: Path, **settings: object) -> None:
    ingest(engine, Settings(database_url=url, **settings), [folder], volume="vol")  # type: ignore[arg-type]


def _process(
    engine: Engine,
    url: str,
    store: Path,
    predictor: object,
    params: ColorizeParams = PARAMS,
    **runner: object,
) -> list[dict[str, object]]:
    model = model_identity.resolve_model(None)
    queueing.enqueue(engine, model=model, params=params, store=store)
    only = ClaimFilter(model_name=model.name, weights_sha256=model.weights_sha256)
    worker = job_runner.ColorizeRunner(store, predictor, **runner)  # type: ignore[arg-type]
    run_worker(
        WorkerConfig(database_url=url, only=only, poll_seconds=0.05, backoff_base=0.01), worker
    )
    return job_reads.list_jobs(engine)


def _scans(engine: Engine) -> list[Scan]:
    with Session(engine) as session:
        return list(session.scalars(select(Scan).order_by(Scan.path, Scan.page_index)))


def _as_legacy_row(engine: Engine, path: Path, hostile: bytes) -> None:
    """Put ``hostile`` bytes at the catalogued ``path`` as an older catalog would hold them."""
    path.write_bytes(hostile)
    digest, size = sha256_file(path)
    with Session(engine) as session, session.begin():
        for scan in session.scalars(select(Scan).where(Scan.path == path.name)):
            scan.sha256, scan.size, scan.ifd_offset = digest, size, None


def _peak_rss() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# --- attack 2: a mask page before an image page ------------------------------------------------


def test_mask_before_image_page_colorizes_the_catalogued_page(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    folder = tmp_path / "masters"
    folder.mkdir()
    path = folder / "masked.tif"
    ramp = np.tile(np.linspace(0, 255, 64, dtype=np.uint8), (48, 1))
    mask = np.ones((48, 64), bool)  # an all-opaque transparency mask tagged MinIsBlack
    with tifffile.TiffWriter(path) as tiff:
        tiff.write(ramp, photometric="minisblack")
        tiff.write(mask, photometric="minisblack", subfiletype=4)
        tiff.write(ramp[:, ::-1].copy(), photometric="minisblack")
        tiff.write(mask, photometric="minisblack", subfiletype=4)
    _ingest(engine, database_url, folder)
    scans = _scans(engine)
    assert [(s.page_index, s.state) for s in scans] == [(0, "ingested"), (1, "ingested")]

    store = tmp_path / "store"
    jobs = _process(engine, database_url, store, predictor)
    assert [job["state"] for job in jobs] == ["done", "done"]
    with Session(engine) as session:
        second = session.scalars(select(Derivative).join(Scan).where(Scan.page_index == 1)).one()
        derivative = tifffile.imread(store / second.path)
    grey = derivative.astype(np.float64).mean(axis=2)
    # the derivative of page 2 is the ramp (dark to light, right to left), not the white mask
    assert grey.std() > 20
    assert grey[:, :8].mean() > grey[:, -8:].mean() + 100
    # the worker opened the IFDs recorded at ingest
    facts = read_facts(path, pixel_limit=10**9)
    assert [s.ifd_offset for s in scans] == [p.ifd_offset for p in facts.pages]


# --- attack 3: decompression bombs -------------------------------------------------------------


def _tile_bomb(path: Path, tile: int = 65536) -> bytes:
    """A 64x64 page whose single deflate tile is declared ``tile`` x ``tile`` (~20 bytes)."""
    data = zlib.compress(bytes(64))
    entries = [
        (256, factories.TIFF_LONG, [64]),
        (257, factories.TIFF_LONG, [64]),
        (258, factories.TIFF_SHORT, [8]),
        (259, factories.TIFF_SHORT, [8]),
        (262, factories.TIFF_SHORT, [1]),
        (277, factories.TIFF_SHORT, [1]),
        (322, factories.TIFF_LONG, [tile]),
        (323, factories.TIFF_LONG, [tile]),
        (324, factories.TIFF_LONG, [8]),
        (325, factories.TIFF_LONG, [len(data)]),
    ]
    return factories.raw_classic_tiff([entries], data=data)


def _jpeg_sof_bomb(path: Path, declared: int = 65000) -> Path:
    """A 16x16 JPEG-tiled page whose tile's SOF declares ``declared`` x ``declared`` pixels."""
    pixels = np.random.default_rng(3).integers(0, 255, (16, 16), dtype=np.uint8)
    tifffile.imwrite(path, pixels, tile=(16, 16), compression="jpeg", photometric="minisblack")
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tiff:
        offset, count = tiff.pages[0].dataoffsets[0], tiff.pages[0].databytecounts[0]
    sof = data.index(b"\xff\xc0", offset, offset + count)
    data[sof + 5 : sof + 9] = declared.to_bytes(2, "big") * 2
    path.write_bytes(bytes(data))
    return path


def test_tile_bomb_is_rejected_at_ingest(engine: Engine, database_url: str, tmp_path: Path) -> None:
    folder = tmp_path / "masters"
    folder.mkdir()
    (folder / "bomb.tif").write_bytes(_tile_bomb(folder / "bomb.tif"))
    _ingest(engine, database_url, folder)
    (scan,) = _scans(engine)
    assert scan.state == ScanState.REJECTED
    assert "65536x65536 tiles" in str(scan.reason) and "decompression-bomb" in str(scan.reason)


def test_tile_bomb_catalogued_earlier_is_dead_in_the_worker_without_the_memory(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    folder = tmp_path / "masters"
    path = factories.write_gray8(folder / "bomb.tif", width=64, height=64)
    _ingest(engine, database_url, folder)
    _as_legacy_row(engine, path, _tile_bomb(path))
    before = _peak_rss()
    (job,) = _process(engine, database_url, tmp_path / "store", predictor)
    assert _peak_rss() - before < 512 * MIB
    assert job["state"] == "dead" and job["attempts"] == 1
    assert "bomb.tif: page 0 declares 65536x65536 tiles" in str(job["last_error"])


def test_jpeg_sof_bomb_is_dead_in_the_worker_without_the_memory(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    folder = tmp_path / "masters"
    folder.mkdir()
    _jpeg_sof_bomb(folder / "sof.tif")
    _ingest(engine, database_url, folder)  # the tags are sound: only the stream lies
    assert [s.state for s in _scans(engine)] == ["ingested"]
    before = _peak_rss()
    (job,) = _process(engine, database_url, tmp_path / "store", predictor)
    assert _peak_rss() - before < 512 * MIB
    assert job["state"] == "dead" and job["attempts"] == 1
    assert "declares 65000x65000 pixels for a 16x16 segment" in str(job["last_error"])


def test_a_page_needing_more_than_the_memory_cap_is_a_dead_job(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    folder = tmp_path / "masters"
    folder.mkdir()
    # full-resolution chroma of 4000x4000 needs ~200 MB more than the process holds now
    tifffile.imwrite(
        folder / "big.tif",
        np.zeros((4000, 4000), np.uint8),
        compression="zlib",
        photometric="minisblack",
        rowsperstrip=64,
    )
    _ingest(engine, database_url, folder)
    from archive_colorizer.imaging.memory_cap import data_in_use

    in_use = data_in_use()
    assert in_use is not None
    cap = in_use + 64 * MIB
    (job,) = _process(
        engine,
        database_url,
        tmp_path / "store",
        predictor,
        params=ColorizeParams(chroma_size=0),
        memory_limit_bytes=cap,
    )
    assert job["state"] == "dead" and job["attempts"] == 1, job["last_error"]
    assert "big.tif: page 0: colorizing needed more memory than the worker's memory cap" in str(
        job["last_error"]
    )
    assert not list((tmp_path / "store").rglob("*.tif*"))


# --- attack 4: pages per file ------------------------------------------------------------------


def test_more_pages_than_the_page_limit_are_rejected_at_ingest(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    folder = tmp_path / "masters"
    factories.write_multipage(folder / "many.tif", pages=6)
    factories.write_multipage(folder / "few.tif", pages=5)
    _ingest(engine, database_url, folder, page_limit=5)
    by_file: dict[str, list[Scan]] = {}
    for scan in _scans(engine):
        by_file.setdefault(scan.path, []).append(scan)
    assert [s.state for s in by_file["few.tif"]] == ["ingested"] * 5
    (rejected,) = by_file["many.tif"]
    assert rejected.state == ScanState.REJECTED
    assert "more than 5 image pages" in str(rejected.reason)
    assert "--page-limit" in str(rejected.reason)


# --- attack 9: classification ------------------------------------------------------------------


def _two_widths() -> bytes:
    entries = factories.gray8_entries(64, 48, strip_offset=8)
    entries = [(256, factories.TIFF_LONG, [64, 64]) if e[0] == 256 else e for e in entries]
    return factories.raw_classic_tiff([entries], data=bytes(64 * 48))


def test_image_width_with_two_values_is_a_named_permanent_error(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    folder = tmp_path / "masters"
    folder.mkdir()
    (folder / "fresh.tif").write_bytes(_two_widths())
    _ingest(engine, database_url, folder)
    (fresh,) = _scans(engine)
    assert fresh.state == ScanState.REJECTED
    assert "fresh.tif: corrupt IFD: IFD 0 ImageWidth has 2 values" in str(fresh.reason)

    older = tmp_path / "older"
    path = factories.write_gray8(older / "old.tif", width=64, height=48)
    _ingest(engine, database_url, older)
    _as_legacy_row(engine, path, _two_widths())
    (job,) = _process(engine, database_url, tmp_path / "store", predictor)
    assert job["state"] == "dead" and job["attempts"] == 1
    error = str(job["last_error"])
    assert "CorruptTiffError" in error and "old.tif" in error and "ImageWidth" in error


def _zero_byte_counts() -> bytes:
    entries = factories.gray8_entries(64, 48, strip_offset=8, strip_bytes=0)
    entries = [(259, factories.TIFF_SHORT, [8]) if e[0] == 259 else e for e in entries]
    return factories.raw_classic_tiff([entries], data=zlib.compress(bytes(64 * 48)))


def test_all_zero_strip_byte_counts_verify_and_process_agree(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    folder = tmp_path / "masters"
    folder.mkdir()
    (folder / "empty.tif").write_bytes(_zero_byte_counts())
    _ingest(engine, database_url, folder)
    (fresh,) = _scans(engine)
    assert fresh.state == ScanState.REJECTED and "no pixel data" in str(fresh.reason)

    older = tmp_path / "older"
    path = factories.write_gray8(older / "old.tif", width=64, height=48)
    _ingest(engine, database_url, older)
    _as_legacy_row(engine, path, _zero_byte_counts())
    settings = Settings(database_url=database_url, store=tmp_path / "store")
    checked = verify(engine, settings, decode=True)
    assert (checked.files, checked.undecodable) == (1, 1)
    (job,) = _process(engine, database_url, tmp_path / "store", predictor)
    assert job["state"] == "dead" and job["attempts"] == 1
    assert "old.tif" in str(job["last_error"]) and "no pixel data" in str(job["last_error"])


def test_a_cap_below_what_the_worker_already_holds_is_named_not_blamed_on_the_file(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    folder = tmp_path / "masters"
    factories.write_gray8(folder / "fine.tif", width=64, height=48)
    _ingest(engine, database_url, folder)
    (job,) = _process(engine, database_url, tmp_path / "store", predictor, memory_limit_bytes=MIB)
    assert job["state"] == "dead" and job["attempts"] == 3  # transient: retried, then dead
    assert "already holds" in str(job["last_error"]) and "--worker-memory-mb" in str(
        job["last_error"]
    )
