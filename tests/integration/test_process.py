"""`process --pending` as a service: enqueue, colorize, dead letters, repair, force, provenance.

The model is the untrained fixture (real network, real weights file); pages are tiny.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from archive_colorizer.catalog.queue import ClaimFilter
from archive_colorizer.catalog.schema import Derivative, Event, Job, Scan, ScanState
from archive_colorizer.config import Settings
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.metadata import parse_xmp
from archive_colorizer.imaging.synthetic import write_synthetic_page
from archive_colorizer.inference import registry
from archive_colorizer.inference.fixture import FIXTURE_NAME
from archive_colorizer.services import enqueue as queueing
from archive_colorizer.services import models as model_identity
from archive_colorizer.services import runner as job_runner
from archive_colorizer.services import store as store_layout
from archive_colorizer.services.colorize import ColorizeParams
from archive_colorizer.services.ingest import ingest
from archive_colorizer.services.worker import WorkerConfig, WorkerSummary, run_worker

#: the queue and export run the untrained fixture model: fast, and independent of the shipped
#: default
pytestmark = pytest.mark.usefixtures("fixture_model_default")

PARAMS = ColorizeParams(chroma_size=64)


def _corrupt_pixels(path: Path) -> None:
    """Keep the tags, replace the compressed pixel data by noise: ingests, cannot decode."""
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        segments = list(zip(page.dataoffsets, page.databytecounts, strict=True))
    data = bytearray(path.read_bytes())
    noise = np.random.default_rng(0)
    for offset, count in segments:
        data[offset : offset + count] = noise.integers(0, 256, count, dtype=np.uint8).tobytes()
    path.write_bytes(bytes(data))


def _masters(tmp_path: Path, pages: int, broken: int | None = None) -> Path:
    folder = tmp_path / "masters"
    for number in range(pages):
        path = write_synthetic_page(
            folder / f"page-{number:02d}.tif",
            width=96,
            height=128,
            compression="deflate",
            seed=number,
        )
        if number == broken:
            _corrupt_pixels(path)
    return folder


def _ingest(engine: Engine, url: str, folder: Path, store: Path) -> None:
    settings = Settings(database_url=url, store=store)
    ingest(engine, settings, [folder], volume="vol")


def _run(
    engine: Engine, url: str, store: Path, predictor: object, **enqueue: object
) -> tuple[queueing.EnqueueSummary, WorkerSummary]:
    model = model_identity.resolve_model(None)
    queued = queueing.enqueue(
        engine,
        model=model,
        params=PARAMS,
        store=store,
        **enqueue,  # type: ignore[arg-type]
    )
    only = ClaimFilter(model_name=model.name, weights_sha256=model.weights_sha256)
    runner = job_runner.ColorizeRunner(store, predictor)  # type: ignore[arg-type]
    summary = run_worker(WorkerConfig(database_url=url, only=only, poll_seconds=0.1), runner)
    return queued, summary


def _current(engine: Engine) -> list[Derivative]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Derivative).where(Derivative.current.is_(True)).order_by(Derivative.id)
            )
        )


@pytest.mark.slow
def test_every_page_once_then_nothing_to_do(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    store = tmp_path / "store"
    _ingest(engine, database_url, _masters(tmp_path, 3), store)
    queued, summary = _run(engine, database_url, store, predictor)
    assert (queued.scans, queued.queued, summary.done, summary.dead) == (3, 3, 3, 0)
    again, second = _run(engine, database_url, store, predictor)
    assert (again.queued, again.already_done, second.done) == (0, 3, 0)  # idempotent
    derivatives = _current(engine)
    assert len(derivatives) == 3
    for derivative in derivatives:
        path = store_layout.inside_store(store, derivative.path)
        assert sha256_file(path) == (derivative.sha256, derivative.bytes)
        assert (derivative.width, derivative.height) == (96, 128)
    with Session(engine) as session:
        events = session.scalars(select(Event).where(Event.type == "colorization")).all()
    assert len(events) == 3 and {event.outcome for event in events} == {"success"}


def test_undecodable_master_is_dead_with_its_reason_and_the_rest_complete(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    store = tmp_path / "store"
    _ingest(engine, database_url, _masters(tmp_path, 3, broken=1), store)
    _queued, summary = _run(engine, database_url, store, predictor)
    assert (summary.done, summary.dead, summary.failed) == (2, 1, 0)
    with Session(engine) as session:
        dead = session.scalars(select(Job).where(Job.state == "dead")).one()
        assert dead.attempts == 1  # dead at once, not retried
        assert "page-01.tif" in (dead.last_error or "")
        assert "CorruptTiffError" in (dead.last_error or "")
        failure = session.scalars(
            select(Event).where(Event.type == "colorization", Event.outcome == "failure")
        ).one()
        assert failure.scan_id == dead.scan_id
    assert len(_current(engine)) == 2
    assert list(store_layout.temporaries(store)) == []  # the failed attempt left no file


@pytest.mark.slow
def test_repair_regenerates_deleted_and_corrupted_derivatives(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    store = tmp_path / "store"
    _ingest(engine, database_url, _masters(tmp_path, 3), store)
    _run(engine, database_url, store, predictor)
    first = _current(engine)
    deleted = store_layout.inside_store(store, first[0].path)
    deleted.unlink()
    corrupted = store_layout.inside_store(store, first[1].path)
    corrupted.write_bytes(corrupted.read_bytes()[:-10] + b"0123456789")

    plain, _ = _run(engine, database_url, store, predictor)  # without --repair: nothing
    assert plain.requeued == 0
    repaired, summary = _run(engine, database_url, store, predictor, repair=True)
    assert (repaired.requeued, repaired.repaired, summary.done) == (2, 2, 2)
    assert any("missing" in problem for problem in repaired.problems)
    assert any("changed" in problem for problem in repaired.problems)
    current = _current(engine)
    assert len(current) == 3
    for derivative in current:
        path = store_layout.inside_store(store, derivative.path)
        assert sha256_file(path) == (derivative.sha256, derivative.bytes)
    with Session(engine) as session:
        assert len(session.scalars(select(Derivative)).all()) == 5  # history kept
        fixity = session.scalars(select(Event).where(Event.type == "fixity-check")).all()
        assert {event.outcome for event in fixity} == {"failure"} and len(fixity) == 2


@pytest.mark.slow
def test_force_makes_new_derivatives_and_keeps_history(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    store = tmp_path / "store"
    _ingest(engine, database_url, _masters(tmp_path, 2), store)
    _run(engine, database_url, store, predictor)
    before = _current(engine)
    forced, summary = _run(engine, database_url, store, predictor, force=True)
    assert (forced.requeued, summary.done) == (2, 2)
    after = _current(engine)
    assert len(after) == 2 and {d.generation for d in after} == {2}
    assert {d.path for d in after}.isdisjoint({d.path for d in before})
    for old in before:  # the older files are still there, registered as history
        assert store_layout.inside_store(store, old.path).is_file()
    with Session(engine) as session:
        rows = session.scalars(select(Derivative).order_by(Derivative.id)).all()
        assert [row.current for row in rows] == [False, False, True, True]
        assert {job.generation for job in session.scalars(select(Job))} == {2}


def test_provenance_in_catalog_and_xmp_agree_with_the_model_card(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    store = tmp_path / "store"
    folder = _masters(tmp_path, 1)
    _ingest(engine, database_url, folder, store)
    _run(engine, database_url, store, predictor)
    (derivative,) = _current(engine)
    card_sha = registry.find_model(None).card.weights_sha256
    master_sha, _ = sha256_file(folder / "page-00.tif")

    prov = derivative.provenance
    assert prov["agent"]["model"]["weights_sha256"] == card_sha
    assert prov["entity"]["sha256"] == master_sha
    assert prov["entity"]["id"] == f"urn:sha256:{master_sha}"
    assert prov["generated"]["sha256"] == derivative.sha256
    assert prov["activity"]["parameters"] == PARAMS.as_dict()
    assert prov["activity"]["startedAtTime"] <= prov["activity"]["endedAtTime"]
    assert prov["agent"]["software"]["name"].startswith("archcolor ")

    with tifffile.TiffFile(store_layout.inside_store(store, derivative.path)) as tiff:
        xmp = parse_xmp(tiff.pages[0].tags["XMP"].value)
    assert xmp.weights_sha256 == card_sha
    assert xmp.derived_from_sha256 == master_sha
    assert xmp.model_name == prov["agent"]["model"]["name"]
    assert xmp.parameters == prov["activity"]["parameters"]


def test_a_cards_network_input_cap_is_recorded_with_the_parameters(
    engine: Engine, database_url: str, tmp_path: Path, fixture_model_default: Path
) -> None:
    card_path = fixture_model_default / FIXTURE_NAME / "card.json"
    card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "network_max_side": 48}))
    capped = registry.load_predictor(FIXTURE_NAME, device="cpu")
    store = tmp_path / "store"
    _ingest(engine, database_url, _masters(tmp_path, 1), store)
    _run(engine, database_url, store, capped)
    (derivative,) = _current(engine)
    expected = {**PARAMS.as_dict(), "network_max_side": 48}
    assert derivative.provenance["activity"]["parameters"] == expected
    with tifffile.TiffFile(store_layout.inside_store(store, derivative.path)) as tiff:
        assert parse_xmp(tiff.pages[0].tags["XMP"].value).parameters == expected


def test_duplicate_pages_get_a_job_each_and_keys_separate_parameters(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    store = tmp_path / "store"
    folder = _masters(tmp_path, 1)
    (folder / "copy.tif").write_bytes((folder / "page-00.tif").read_bytes())
    _ingest(engine, database_url, folder, store)
    model = model_identity.resolve_model(None)
    first = queueing.enqueue(engine, model=model, params=PARAMS)
    assert (first.scans, first.queued) == (2, 2)  # one job per catalogued page
    with Session(engine) as session:
        jobs = session.scalars(select(Job)).all()
        assert len({job.scan_id for job in jobs}) == 2
    other = queueing.enqueue(engine, model=model, params=ColorizeParams(chroma_size=32))
    assert other.queued == 2  # other parameters, other keys
    assert queueing.enqueue(engine, model=model, params=PARAMS).queued == 0


# --- attack 6: identical content at two paths ------------------------------------------------


def _scan_ids(engine: Engine) -> dict[str, int]:
    """Current ingested scans by file name."""
    with Session(engine) as session:
        return {
            Path(scan.path).name: scan.id
            for scan in session.scalars(select(Scan).where(Scan.state == ScanState.INGESTED))
        }


def _current_by_scan(engine: Engine) -> dict[int, Derivative]:
    found: dict[int, Derivative] = {}
    for derivative in _current(engine):
        assert derivative.scan_id not in found, "two current derivatives for one scan"
        found[derivative.scan_id] = derivative
    return found


def test_identical_pages_at_two_paths_each_get_a_derivative_and_survive_a_replaced_copy(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    store = tmp_path / "store"
    folder = _masters(tmp_path, 1)
    first, second = folder / "page-00.tif", folder / "page-99.tif"
    second.write_bytes(first.read_bytes())
    _ingest(engine, database_url, folder, store)
    queued, summary = _run(engine, database_url, store, predictor)
    assert (queued.scans, queued.queued, summary.done, summary.dead) == (2, 2, 2, 0)
    scans = _scan_ids(engine)
    derivatives = _current_by_scan(engine)
    assert set(derivatives) == {scans["page-00.tif"], scans["page-99.tif"]}
    kept = derivatives[scans["page-99.tif"]]

    # the first copy is replaced by other bytes and catalogued again
    write_synthetic_page(first, width=96, height=128, compression="deflate", seed=7)
    _ingest(engine, database_url, folder, store)
    repaired, summary = _run(engine, database_url, store, predictor, repair=True)
    assert (repaired.queued, repaired.requeued, repaired.already_done) == (1, 0, 1)
    assert (summary.done, summary.dead) == (1, 0)
    scans = _scan_ids(engine)
    derivatives = _current_by_scan(engine)  # (the replaced version keeps its own as history)
    assert {scans["page-00.tif"], scans["page-99.tif"]} <= set(derivatives)
    assert derivatives[scans["page-99.tif"]].id == kept.id  # the other copy is untouched
    path = store_layout.inside_store(store, kept.path)
    assert sha256_file(path) == (kept.sha256, kept.bytes)


def test_deleting_one_of_two_identical_pages_leaves_the_other_colorized(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    store = tmp_path / "store"
    folder = _masters(tmp_path, 1)
    first, second = folder / "page-00.tif", folder / "page-99.tif"
    second.write_bytes(first.read_bytes())
    _ingest(engine, database_url, folder, store)
    scans = _scan_ids(engine)
    first.unlink()  # gone before processing: only its own job can fail
    _queued, summary = _run(engine, database_url, store, predictor)
    assert (summary.done, summary.dead) == (1, 1)
    with Session(engine) as session:
        dead = session.scalars(select(Job).where(Job.state == "dead")).one()
    assert dead.scan_id == scans["page-00.tif"]
    assert set(_current_by_scan(engine)) == {scans["page-99.tif"]}


def _legacy_key(scan: Scan, model: model_identity.ModelIdentity) -> str:
    """The idempotency key archcolor wrote before jobs were per page: no scan in it."""
    from archive_colorizer.services.colorize import PIPELINE_VERSION

    text = (
        f"{scan.sha256}\n{scan.page_index}\n{model.weights_sha256}\n"
        f"{queueing.params_hash(PARAMS.as_dict())}\n{PIPELINE_VERSION}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def test_an_upgraded_catalog_keeps_its_done_jobs_and_colorizes_the_copies_they_shadowed(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    store = tmp_path / "store"
    folder = _masters(tmp_path, 1)
    _ingest(engine, database_url, folder, store)
    _run(engine, database_url, store, predictor)
    model = model_identity.resolve_model(None)
    with Session(engine) as session, session.begin():  # as the previous archcolor keyed it
        job = session.scalars(select(Job)).one()
        job.idempotency_key = _legacy_key(job.scan, model)
    (original,) = _current(engine)
    (folder / "page-99.tif").write_bytes((folder / "page-00.tif").read_bytes())
    _ingest(engine, database_url, folder, store)

    repaired, summary = _run(engine, database_url, store, predictor, repair=True)
    assert (repaired.queued, repaired.requeued, repaired.already_done) == (1, 0, 1)
    assert (summary.done, summary.dead) == (1, 0)
    scans = _scan_ids(engine)
    derivatives = _current_by_scan(engine)
    assert set(derivatives) == {scans["page-00.tif"], scans["page-99.tif"]}
    assert derivatives[scans["page-00.tif"]].id == original.id  # not colorized again
    again, _ = _run(engine, database_url, store, predictor, repair=True)
    assert (again.queued, again.requeued, again.already_done) == (0, 0, 2)


# --- attack 5: a master edited in place while it is being colorized --------------------------


class _EditingPredictor:
    """The real predictor; on its first call (between the pipeline's two reads of the master)
    ``edit`` runs: the master changes while it is being colorized."""

    def __init__(self, inner: object, edit: Callable[[], None]) -> None:
        self.inner = inner
        self.edit: Callable[[], None] | None = edit
        self.weights_sha256 = inner.weights_sha256  # type: ignore[attr-defined]
        self.card = getattr(inner, "card", None)
        self.device = getattr(inner, "device", "")

    def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
        if self.edit is not None:
            edit, self.edit = self.edit, None
            edit()
        return self.inner.predict_ab(lightness)  # type: ignore[attr-defined,no-any-return]


def _uncompressed_master(tmp_path: Path) -> tuple[Path, list[tuple[int, int]]]:
    folder = tmp_path / "masters"
    path = write_synthetic_page(folder / "plate.tif", width=96, height=600, seed=3)
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        return folder, list(zip(page.dataoffsets, page.databytecounts, strict=True))


def _invert_in_place(path: Path, segments: list[tuple[int, int]]) -> None:
    """Edit the pixel bytes in place (same inode, same size, same structure)."""
    with open(path, "r+b") as stream:
        for offset, count in segments:
            stream.seek(offset)
            data = stream.read(count)
            stream.seek(offset)
            stream.write(bytes(255 - byte for byte in data))


def test_a_master_edited_while_colorized_fails_fixity_and_nothing_is_published(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    store = tmp_path / "store"
    folder, segments = _uncompressed_master(tmp_path)
    master = folder / "plate.tif"
    _ingest(engine, database_url, folder, store)
    recorded, _ = sha256_file(master)
    editing = _EditingPredictor(predictor, lambda: _invert_in_place(master, segments))
    _queued, summary = _run(engine, database_url, store, editing)
    edited, _ = sha256_file(master)
    assert edited != recorded and editing.edit is None  # the edit did happen mid-job
    assert (summary.done, summary.dead, summary.failed) == (0, 1, 0)
    with Session(engine) as session:
        job = session.scalars(select(Job)).one()
        assert job.attempts == 1  # permanent: not retried
        error = job.last_error or ""
        assert error.startswith("FixityError")
        assert str(master) in error and recorded in error and edited in error
        assert session.scalars(select(Derivative)).all() == []
        failure = session.scalars(
            select(Event).where(Event.type == "colorization", Event.outcome == "failure")
        ).one()
        assert failure.scan_id == job.scan_id and edited in failure.detail
    assert [path for path in store.rglob("*") if path.is_file()] == []  # nothing published


def test_a_master_changed_and_restored_while_colorized_is_colorized_again(
    engine: Engine, database_url: str, tmp_path: Path, predictor: object
) -> None:
    store = tmp_path / "store"
    folder, segments = _uncompressed_master(tmp_path)
    master = folder / "plate.tif"
    _ingest(engine, database_url, folder, store)
    recorded, _ = sha256_file(master)

    def change_and_restore() -> None:  # edited, then put back from a copy: same bytes
        original = master.read_bytes()
        _invert_in_place(master, segments)
        restored = master.with_name("restored.tmp")
        restored.write_bytes(original)
        restored.replace(master)

    editing = _EditingPredictor(predictor, change_and_restore)
    model = model_identity.resolve_model(None)
    queueing.enqueue(engine, model=model, params=PARAMS)
    only = ClaimFilter(model_name=model.name, weights_sha256=model.weights_sha256)
    runner = job_runner.ColorizeRunner(store, editing)  # type: ignore[arg-type]
    config = WorkerConfig(database_url=database_url, only=only, poll_seconds=0.1, backoff_base=0)
    summary = run_worker(config, runner)
    assert sha256_file(master)[0] == recorded and editing.edit is None
    assert (summary.failed, summary.done, summary.dead) == (1, 1, 0)  # retried, then done
    with Session(engine) as session:
        job = session.scalars(select(Job)).one()
        assert job.attempts == 2 and "changed while" in (job.last_error or "")
    (derivative,) = _current(engine)
    with tifffile.TiffFile(store_layout.inside_store(store, derivative.path)) as tiff:
        assert parse_xmp(tiff.pages[0].tags["XMP"].value).derived_from_sha256 == recorded
