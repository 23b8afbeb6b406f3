"""Open the catalog database: URL → SQLAlchemy Engine, with clear errors.

SQLite connections get WAL journaling, foreign keys and a busy timeout, and SQLAlchemy (not the
``sqlite3`` module) emits ``BEGIN`` so that transactions, DDL included, behave as documented.
A connection can ask for ``BEGIN IMMEDIATE`` (take the write lock up front, e.g. to claim work
atomically) with ``conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})``.

Nothing here runs at import time.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, NoSuchModuleError
from sqlalchemy.pool import ConnectionPoolEntry

from archive_colorizer.errors import ConfigurationError, DatabaseUnavailableError

#: milliseconds a SQLite connection waits for a lock held by another process
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: seconds PostgreSQL connection attempts wait before giving up
CONNECT_TIMEOUT_S = 10
#: execution option naming the SQLite BEGIN mode: "DEFERRED" (default), "IMMEDIATE", "EXCLUSIVE"
SQLITE_BEGIN_OPTION = "archcolor_sqlite_begin"
_BEGIN_MODES = {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}


def parse_url(url: str | URL) -> URL:
    """Parse a database URL, or raise ConfigurationError saying what is wrong with it."""
    if isinstance(url, URL):
        return url
    try:
        return make_url(url)
    except ArgumentError as error:
        raise ConfigurationError(
            f"invalid database URL {url!r}: expected e.g. sqlite:///archcolor.sqlite3 or "
            "postgresql+psycopg://user@host/dbname (--db / ARCHCOLOR_DATABASE_URL)"
        ) from error


def display_url(url: str | URL) -> str:
    """The URL as safe to print: password masked."""
    try:
        return parse_url(url).render_as_string(hide_password=True)
    except ConfigurationError:
        return "<invalid URL>"


def create_catalog_engine(url: str | URL, *, check: bool = True, pre_ping: bool = True) -> Engine:
    """An Engine for the catalog at ``url``; with ``check``, connect once to fail early.

    ``pre_ping`` (PostgreSQL): test each pooled connection before use (one extra round trip per
    transaction). Queue workers turn it off and handle a dropped connection themselves.

    Raises ConfigurationError for a malformed URL or unknown driver and DatabaseUnavailableError
    (naming the URL without its password) when the database cannot be reached.
    """
    parsed = parse_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        kwargs["pool_pre_ping"] = pre_ping
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        raise ConfigurationError(
            f"cannot use database URL {display_url(parsed)}: {error}; supported are sqlite:/// "
            "and postgresql+psycopg:// URLs"
        ) from error
    if engine.dialect.name == "sqlite":
        _configure_sqlite(engine)
    if check:
        try:
            with engine.connect():
                pass
        except DBAPIError as error:
            engine.dispose()
            raise unavailable(parsed, error) from error
    return engine


def unavailable(url: str | URL, error: BaseException) -> DatabaseUnavailableError:
    """A DatabaseUnavailableError naming ``url`` (no password) and the driver's first line."""
    cause = getattr(error, "orig", None) or error
    first_line = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    parsed = parse_url(url)
    hint = (
        "check --db / ARCHCOLOR_DATABASE_URL and that its folder exists and is writable"
        if parsed.get_backend_name() == "sqlite"
        else "check --db / ARCHCOLOR_DATABASE_URL and that the server is running"
    )
    return DatabaseUnavailableError(
        f"cannot connect to the catalog database {display_url(url)}: {first_line}; {hint}"
    )


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
        # let SQLAlchemy emit BEGIN (see module docstring); pragmas run outside a transaction
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.execute("PRAGMA foreign_keys = ON")
            if engine.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode = WAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = str(conn.get_execution_options().get(SQLITE_BEGIN_OPTION, "DEFERRED")).upper()
        if mode not in _BEGIN_MODES:
            raise ValueError(f"{SQLITE_BEGIN_OPTION} must be one of {sorted(_BEGIN_MODES)}")
        conn.exec_driver_sql(f"BEGIN {mode}")


def writer(engine: Engine) -> Engine:
    """The engine whose transactions take the write lock at BEGIN on SQLite (no-op elsewhere).

    Use it for every session that writes: a deferred SQLite transaction that reads first and
    writes later fails at once with "database is locked" when another connection committed in
    between (its snapshot is stale), whatever the busy timeout.
    """
    return engine.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
