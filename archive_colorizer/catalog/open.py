"""Open the catalog a command works on: connect, make sure the schema is current, dispose."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine

from archive_colorizer.catalog.engine import create_catalog_engine
from archive_colorizer.catalog.migrations import ensure_schema


@contextmanager
def open_catalog(url: str, *, migrate: bool = True) -> Iterator[Engine]:
    """An Engine on the catalog at ``url``, disposed on exit.

    With ``migrate`` (every command but `archcolor db`), an empty database is migrated to head and
    one behind head raises SchemaOutOfDateError naming `archcolor db upgrade`.
    """
    engine = create_catalog_engine(url)
    try:
        if migrate:
            ensure_schema(engine)
        yield engine
    finally:
        engine.dispose()
