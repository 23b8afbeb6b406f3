"""Database errors met by a worker are classified by what they are: a read-only catalog stops
the worker at once with one clear error; it is not retried as if the server were restarting."""

from __future__ import annotations

import time

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from archive_colorizer.catalog.engine import create_catalog_engine
from archive_colorizer.catalog.migrations import ensure_schema
from archive_colorizer.catalog.schema import Job
from archive_colorizer.errors import DatabaseReadOnlyError
from archive_colorizer.services.worker import WorkerConfig, run_worker
from tests.databases import read_only
from tests.queue_support import NoopRunner, add_plain_jobs


def test_worker_stops_at_once_on_a_read_only_database(database_url: str) -> None:
    engine = create_catalog_engine(database_url)
    try:
        ensure_schema(engine)
        add_plain_jobs(engine, 2)
        with read_only(database_url) as url:
            started = time.monotonic()
            with pytest.raises(DatabaseReadOnlyError, match="read-only"):
                run_worker(WorkerConfig(database_url=url, poll_seconds=0.05), NoopRunner())
            assert time.monotonic() - started < 5  # not retried with backoff
        with Session(engine) as session:
            assert set(session.scalars(select(Job.state))) == {"pending"}
    finally:
        engine.dispose()
