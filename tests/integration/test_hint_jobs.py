"""Colour hints in the queue: for every model a page's current hint set is part of its job key
(changed hints re-queue exactly that page, clearing brings the old key back), the runner colours
with the set the job names and records it with the propagation's parameters; a model without
hint inputs takes them after the network (``imaging.hint_propagation``)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import tifffile
from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from archive_colorizer.catalog.queue import ClaimFilter
from archive_colorizer.catalog.schema import Derivative, HintSet, Job, JobState, Scan
from archive_colorizer.config import Settings
from archive_colorizer.imaging.hint_propagation import DEFAULT_PROPAGATION
from archive_colorizer.imaging.metadata import parse_xmp
from archive_colorizer.imaging.synthetic import write_synthetic_page
from archive_colorizer.inference import registry
from archive_colorizer.services import enqueue as queueing
from archive_colorizer.services import models as model_identity
from archive_colorizer.services import runner as job_runner
from archive_colorizer.services import store as store_layout
from archive_colorizer.services.colorize import ColorizeParams
from archive_colorizer.services.hints import clear_hints, import_hints
from archive_colorizer.services.ingest import ingest
from archive_colorizer.services.worker import WorkerConfig, WorkerSummary, run_worker
from tests import factories

PARAMS = ColorizeParams(chroma_size=48)


@pytest.fixture
def hint_model(fixture_model_default: Path) -> str:
    return factories.write_hint_model(fixture_model_default)


@pytest.fixture
def catalog(engine: Engine, database_url: str, tmp_path: Path) -> Settings:
    """Volume ``a`` with two small pages."""
    settings = Settings(database_url=database_url, store=tmp_path / "store")
    folder = tmp_path / "a"
    for number in range(2):
        write_synthetic_page(
            folder / f"p{number}.tif", width=64, height=80, compression="deflate", seed=number
        )
    ingest(engine, settings, [folder], volume="a")
    return settings


def _hints(path: Path, colour: str, page: str = "p0.tif") -> Path:
    document = {
        "format": "archcolor-hints/1",
        "volume": "a",
        "author": "M. Keller",
        "pages": [
            {
                "file": page,
                "hints": [
                    {"point": [20, 30], "radius": 6, "color": colour},
                    {"stroke": [[5, 60], [50, 62]], "radius": 3, "lab": [60, 40, 30]},
                ],
            }
        ],
    }
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _run(
    engine: Engine, settings: Settings, model: str | None
) -> tuple[queueing.EnqueueSummary, WorkerSummary]:
    identity = model_identity.resolve_model(model)
    queued = queueing.enqueue(engine, model=identity, params=PARAMS)
    only = ClaimFilter(model_name=identity.name, weights_sha256=identity.weights_sha256)
    predictor = registry.load_predictor(identity.name, device="cpu")
    runner = job_runner.ColorizeRunner(settings.store, predictor)
    config = WorkerConfig(database_url=settings.database_url, only=only, poll_seconds=0.1)
    return queued, run_worker(config, runner)


def _hinted_derivatives(engine: Engine) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    with Session(engine) as session:
        return [
            (d.path, dict(d.job.params), dict(d.provenance["activity"]))
            for d in session.scalars(select(Derivative).order_by(Derivative.id))
            if "hints_sha256" in d.job.params
        ]


def _first_pixels(engine: Engine, catalog: Settings) -> Any:
    """The pixels of p0.tif's first derivative (made before any hints)."""
    with Session(engine) as session:
        plain = session.scalars(
            select(Derivative)
            .join(Scan, Scan.id == Derivative.scan_id)
            .where(Scan.path == "p0.tif", Derivative.generation == 1)
            .order_by(Derivative.id)
        ).first()
        assert plain is not None
        plain_pixels = tifffile.imread(store_layout.inside_store(catalog.store, plain.path))
    return plain_pixels


def test_changed_hints_requeue_exactly_their_page_and_clearing_restores_the_old_key(
    engine: Engine, catalog: Settings, tmp_path: Path, hint_model: str
) -> None:
    first, done = _run(engine, catalog, hint_model)
    assert (first.queued, done.done) == (2, 2)

    red = import_hints(engine, _hints(tmp_path / "red.json", "#9b1b30"))
    second, done = _run(engine, catalog, hint_model)
    assert (second.queued, second.already_done, done.done, done.dead) == (1, 1, 1, 0)
    [(path, params, activity)] = _hinted_derivatives(engine)
    with Session(engine) as session:
        hint_set = session.scalars(select(HintSet)).one()
    assert params["hints_sha256"] == hint_set.sha256
    assert activity["parameters"]["hints_sha256"] == hint_set.sha256
    assert activity["hints"] == {
        "sha256": hint_set.sha256,
        "count": 2,
        "author": "M. Keller",
        "source": "red.json",
        "set_id": hint_set.id,
    }
    with tifffile.TiffFile(store_layout.inside_store(catalog.store, path)) as tiff:
        hinted_pixels = tiff.pages[0].asarray()
        xmp = parse_xmp(tiff.pages[0].tags["XMP"].value)
    assert xmp.parameters["hints_sha256"] == hint_set.sha256
    assert xmp.provenance["hints"]["count"] == 2
    assert xmp.provenance["hints"]["sha256"] == hint_set.sha256
    plain_pixels = _first_pixels(engine, catalog)  # the same page without hints, first run
    assert (hinted_pixels != plain_pixels).any()  # the hints reached the output

    assert red.imported == 1
    import_hints(engine, _hints(tmp_path / "blue.json", "#2040c0"))  # changed hints
    third, done = _run(engine, catalog, hint_model)
    assert (third.queued, third.already_done, done.done) == (1, 1, 1)
    with Session(engine) as session:  # old derivatives stay as history
        assert session.scalar(select(func.count()).select_from(Derivative)) == 4

    clear_hints(engine, volume="a")
    fourth, done = _run(engine, catalog, hint_model)  # back to the hint-less keys
    assert (fourth.queued, fourth.already_done, done.done) == (0, 2, 0)
    import_hints(engine, tmp_path / "red.json")  # the first set again: its key is done
    fifth, _done = _run(engine, catalog, hint_model)
    assert (fifth.queued, fifth.already_done) == (0, 2)


def test_a_job_uses_the_set_it_names_and_fails_permanently_when_it_is_gone(
    engine: Engine, catalog: Settings, tmp_path: Path, hint_model: str
) -> None:
    identity = model_identity.resolve_model(hint_model)
    import_hints(engine, _hints(tmp_path / "red.json", "#9b1b30"))
    queueing.enqueue(engine, model=identity, params=PARAMS)
    import_hints(engine, _hints(tmp_path / "blue.json", "#2040c0"))  # red is history now
    _queued, done = _run(engine, catalog, hint_model)  # queues blue, runs red and blue
    assert (done.done, done.dead) == (3, 0)
    shas = {params["hints_sha256"] for _path, params, _activity in _hinted_derivatives(engine)}
    assert len(shas) == 2

    import_hints(engine, _hints(tmp_path / "green.json", "#30a040"))
    queueing.enqueue(engine, model=identity, params=PARAMS)
    with Session(engine) as session, session.begin():  # the set the job names disappears
        session.execute(delete(HintSet).where(HintSet.source == "green.json"))
    _queued, done = _run(engine, catalog, hint_model)  # p0 without hints now: done too
    assert (done.done, done.dead) == (1, 1)
    with Session(engine) as session:
        error = session.scalars(select(Job.last_error).where(Job.state == JobState.DEAD)).one()
    assert error is not None and "\n" not in error
    assert "holds no hint set with sha256" in error and "archcolor process --pending" in error


@pytest.mark.usefixtures("fixture_model_default")
def test_a_model_without_hint_inputs_takes_the_hints_too(
    engine: Engine, catalog: Settings, tmp_path: Path
) -> None:
    first, done = _run(engine, catalog, None)
    assert (first.queued, done.done) == (2, 2)
    import_hints(engine, _hints(tmp_path / "red.json", "#9b1b30"))
    second, done = _run(engine, catalog, None)  # the hinted page is queued again
    assert (second.queued, second.already_done, done.done, done.dead) == (1, 1, 1, 0)
    [(path, params, activity)] = _hinted_derivatives(engine)
    assert params["hint_propagation"] == DEFAULT_PROPAGATION.as_dict()
    assert activity["parameters"]["hint_propagation"]["method"] == "domain-transform-rf"
    plain_pixels = _first_pixels(engine, catalog)
    hinted_pixels = tifffile.imread(store_layout.inside_store(catalog.store, path))
    assert (hinted_pixels != plain_pixels).any()  # the hints reached the output
    clear_hints(engine, volume="a")
    third, _done = _run(engine, catalog, None)  # back to the hint-less keys, done already
    assert (third.queued, third.already_done) == (0, 2)
