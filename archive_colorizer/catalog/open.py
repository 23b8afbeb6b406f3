"""Open the catalog a command works on: connect, make sure the schema is current, dispose."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError

from archive_colorizer.catalog.engine import catalog_error, create_catalog_engine
from archive_colorizer.catalog.migrations import check_writable, ensure_schema

__all__ = [
    "open_catalog",
]


@contextmanager
def open_catalog(url: str, *, migrate: bool = True, read_only: bool = False) -> Iterator[Engine]:
    """An Engine on the catalog at ``url``, disposed on exit.

    With ``migrate`` (every command but `archcolor db`): a database behind head raises
    SchemaOutOfDateError naming `archcolor db upgrade`; an empty one is migrated to head, or,
    for a ``read_only`` command (status, scans, show, jobs, export, report), refused the same
    way: reading never creates tables. A command that writes (not ``read_only``) is checked up
    front to be able to write (DatabaseReadOnlyError otherwise), before it does any work. A
    database error inside the block leaves it as a one-line CatalogError (see
    :func:`~archive_colorizer.catalog.engine.catalog_error`).
    """
    engine = create_catalog_engine(url)
    try:
        if migrate:
            ensure_schema(engine, create=not read_only)
            if not read_only:
                check_writable(engine)
        yield engine
    except DBAPIError as error:
        raise catalog_error(engine.url, error) from error
    finally:
        engine.dispose()
