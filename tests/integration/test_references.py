"""Colour references in the catalog and the queue: a volume's default reference re-queues exactly
its pages, clearing it brings the old keys back, a changed reference file fails its jobs."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from archive_colorizer.catalog.queue import ClaimFilter
from archive_colorizer.catalog.schema import Derivative, Event, Job, JobState, Scan, Volume
from archive_colorizer.config import Settings
from archive_colorizer.errors import InputError, PermanentJobError
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.metadata import parse_xmp
from archive_colorizer.imaging.reference import ReferenceImage
from archive_colorizer.imaging.synthetic import write_synthetic_page
from archive_colorizer.provenance import EventType
from archive_colorizer.services import enqueue as queueing
from archive_colorizer.services import models as model_identity
from archive_colorizer.services import runner as job_runner
from archive_colorizer.services import store as store_layout
from archive_colorizer.services.colorize import ColorizeParams
from archive_colorizer.services.ingest import ingest
from archive_colorizer.services.references import (
    clear_volume_reference,
    list_references,
    reference_for_job,
    register_reference,
    set_volume_reference,
)
from archive_colorizer.services.worker import WorkerConfig, WorkerSummary, run_worker

pytestmark = pytest.mark.usefixtures("fixture_model_default")

PARAMS = ColorizeParams(chroma_size=48)


def _reference(path: Path, colour: tuple[int, int, int] = (225, 120, 110)) -> Path:
    rgb = np.full((120, 160, 3), 245, dtype=np.uint8)
    rgb[20:100, 20:140] = colour
    rgb[::10] = 30
    Image.fromarray(rgb).save(path)
    return path


@pytest.fixture
def catalog(engine: Engine, database_url: str, tmp_path: Path) -> Settings:
    """Volumes ``a`` and ``b``, two small pages each."""
    settings = Settings(database_url=database_url, store=tmp_path / "store")
    for name in ("a", "b"):
        folder = tmp_path / name
        for number in range(2):
            write_synthetic_page(
                folder / f"p{number}.tif", width=64, height=80, compression="deflate", seed=number
            )
        ingest(engine, settings, [folder], volume=name)
    return settings


def _run(
    engine: Engine, settings: Settings, predictor: object, params: ColorizeParams = PARAMS
) -> tuple[queueing.EnqueueSummary, WorkerSummary]:
    model = model_identity.resolve_model(None)
    queued = queueing.enqueue(engine, model=model, params=params)
    only = ClaimFilter(model_name=model.name, weights_sha256=model.weights_sha256)
    runner = job_runner.ColorizeRunner(settings.store, predictor)  # type: ignore[arg-type]
    config = WorkerConfig(database_url=settings.database_url, only=only, poll_seconds=0.1)
    return queued, run_worker(config, runner)


def _volume_of_jobs(engine: Engine, state: str) -> list[str]:
    with Session(engine) as session:
        return sorted(
            session.scalars(
                select(Volume.name)
                .join(Scan, Scan.volume_id == Volume.id)
                .join(Job, Job.scan_id == Scan.id)
                .where(Job.state == state)
            )
        )


def _events(engine: Engine, kind: EventType) -> int:
    with Session(engine) as session:
        count = session.scalar(select(func.count()).select_from(Event).where(Event.type == kind))
    return int(count or 0)


def test_a_volume_reference_requeues_only_its_pages_and_clearing_restores_the_old_keys(
    engine: Engine, catalog: Settings, tmp_path: Path, predictor: object
) -> None:
    first, done = _run(engine, catalog, predictor)
    assert (first.queued, done.done) == (4, 4)

    image = _reference(tmp_path / "plate-7-coloured.png")
    digest = sha256_file(image)[0]
    change = set_volume_reference(engine, "a", image)
    assert (change.sha256, change.changed, change.scans) == (digest, True, 2)
    assert _events(engine, EventType.REFERENCE_SET) == 2
    again = set_volume_reference(engine, "a", image)  # the same image: nothing to record
    assert not again.changed and _events(engine, EventType.REFERENCE_SET) == 2

    second, done = _run(engine, catalog, predictor)
    assert (second.queued, second.already_done, done.done, done.dead) == (2, 2, 2, 0)
    with Session(engine) as session:
        referenced = [
            d
            for d in session.scalars(select(Derivative)).all()
            if "reference_sha256" in d.job.params
        ]
        assert len(referenced) == 2
        assert {d.scan.volume.name for d in referenced} == {"a"}
        for derivative in referenced:
            assert derivative.job.params["reference_sha256"] == digest
            activity = derivative.provenance["activity"]
            assert activity["parameters"]["reference_sha256"] == digest
            assert activity["reference"]["file_name"] == "plate-7-coloured.png"
            path = store_layout.inside_store(catalog.store, derivative.path)
            with tifffile.TiffFile(path) as tiff:
                xmp = parse_xmp(tiff.pages[0].tags["XMP"].value)
            assert xmp.parameters["reference_sha256"] == digest
            assert xmp.provenance["reference"]["sha256"] == digest
            assert xmp.provenance["reference"]["file_name"] == "plate-7-coloured.png"
        # the derivatives made without the reference stay, as history
        assert session.scalar(select(func.count()).select_from(Derivative)) == 6

    assert list_references(engine)[0]["volumes"] == ["a"]
    cleared = clear_volume_reference(engine, "a")
    assert (cleared.previous_sha256, cleared.changed, cleared.scans) == (digest, True, 2)
    assert _events(engine, EventType.REFERENCE_CLEAR) == 2
    third, done = _run(engine, catalog, predictor)  # back to the old keys: all done already
    assert (third.queued, third.already_done, done.done) == (0, 4, 0)
    assert not clear_volume_reference(engine, "a").changed

    # a run's reference overrides the volumes' defaults: every page is queued with it
    set_volume_reference(engine, "b", image)
    other = register_reference(engine, _reference(tmp_path / "blue.png", (110, 130, 225)))
    run_params = replace(PARAMS, reference_sha256=other.sha256)
    fourth, done = _run(engine, catalog, predictor, run_params)
    assert (fourth.queued, done.done) == (4, 4)
    assert [row["file_name"] for row in list_references(engine)] == [
        "plate-7-coloured.png",
        "blue.png",
    ]


def test_a_changed_reference_file_fails_its_jobs_naming_the_file(
    engine: Engine, catalog: Settings, tmp_path: Path, predictor: object
) -> None:
    image = _reference(tmp_path / "ref.png")
    set_volume_reference(engine, "b", image)
    _reference(image, (110, 130, 225))  # edited after it was set
    queued, done = _run(engine, catalog, predictor)
    assert (queued.queued, done.done, done.dead) == (4, 2, 2)
    assert _volume_of_jobs(engine, JobState.DEAD) == ["b", "b"]
    with Session(engine) as session:
        errors = session.scalars(select(Job.last_error).where(Job.state == JobState.DEAD)).all()
    for error in errors:
        assert error is not None and "\n" not in error
        assert f"{image}: the colour reference changed" in error
        assert "`archcolor reference set VOLUME IMAGE` again" in error


def test_a_worker_checks_a_cached_reference_against_its_file_before_every_page(
    engine: Engine, catalog: Settings, tmp_path: Path
) -> None:
    image = register_reference(engine, _reference(tmp_path / "ref.png"))
    loaded: dict[str, ReferenceImage] = {}
    first = reference_for_job(engine, image.sha256, loaded)
    assert reference_for_job(engine, image.sha256, loaded) is first  # hashed, not decoded
    _reference(tmp_path / "ref.png", (110, 130, 225))
    with pytest.raises(PermanentJobError, match=r"ref\.png: the colour reference changed"):
        reference_for_job(engine, image.sha256, loaded)
    (tmp_path / "ref.png").unlink()
    with pytest.raises(PermanentJobError, match=r"ref\.png: the colour reference .* cannot be"):
        reference_for_job(engine, image.sha256, loaded)
    with pytest.raises(PermanentJobError, match="is not registered"):
        reference_for_job(engine, "0" * 64)


def test_an_unusable_reference_changes_nothing(
    engine: Engine, catalog: Settings, tmp_path: Path
) -> None:
    (tmp_path / "notes.png").write_text("not an image")
    with pytest.raises(InputError, match=r"notes\.png: cannot be used as a colour reference"):
        set_volume_reference(engine, "a", tmp_path / "notes.png")
    assert list_references(engine) == []
    assert _events(engine, EventType.REFERENCE_SET) == 0
