"""Open the catalog database: URL → SQLAlchemy Engine, with clear errors.

SQLite connections get WAL journaling, foreign keys and a busy timeout, and SQLAlchemy (not the
``sqlite3`` module) emits ``BEGIN`` so that transactions, DDL included, behave as documented.
A connection can ask for ``BEGIN IMMEDIATE`` (take the write lock up front, e.g. to claim work
atomically) with ``conn.execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})``.

Database errors are classified by what they are (:func:`is_transient`): a lost or refused
connection, a restarting server, a lock or a full disk may go away by themselves; a read-only
database, missing privileges or tables, bad SQL may not. :func:`catalog_error` turns any of them
into the one-line CatalogError the CLI prints.

Nothing here runs at import time.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    InterfaceError,
    NoSuchModuleError,
    OperationalError,
    SQLAlchemyError,
)
from sqlalchemy.pool import ConnectionPoolEntry

from archive_colorizer.errors import (
    CatalogError,
    ConfigurationError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
)

__all__ = [
    "as_catalog_error",
    "catalog_error",
    "catalog_url",
    "create_catalog_engine",
    "display_url",
    "is_transient",
    "parse_url",
    "writer",
]

#: milliseconds a SQLite connection waits for a lock held by another process
SQLITE_BUSY_TIMEOUT_MS = 30_000
#: seconds PostgreSQL connection attempts wait before giving up
CONNECT_TIMEOUT_S = 10
#: execution option naming the SQLite BEGIN mode: "DEFERRED" (default), "IMMEDIATE", "EXCLUSIVE"
SQLITE_BEGIN_OPTION = "archcolor_sqlite_begin"
_BEGIN_MODES = {"DEFERRED", "IMMEDIATE", "EXCLUSIVE"}

#: what --db accepts, for messages
URL_EXAMPLES = "sqlite:///path/to/catalog.sqlite3 or postgresql+psycopg://user@host/dbname"
_URL_HINT = f"use e.g. {URL_EXAMPLES} (--db / ARCHCOLOR_DATABASE_URL)"
#: schemes meaning PostgreSQL through psycopg 3, the PostgreSQL driver archcolor ships
_POSTGRES_SCHEMES = {"postgres", "postgresql", "postgres+psycopg", "postgresql+psycopg"}
_SQLITE_SCHEMES = {"sqlite", "sqlite+pysqlite"}
_IN_MEMORY = {None, "", ":memory:", "file::memory:"}

# SQLite primary result codes that may go away by themselves: BUSY, LOCKED, NOMEM, INTERRUPT,
# IOERR, FULL, CANTOPEN, PROTOCOL; READONLY and PERM: the database cannot be written
_SQLITE_TRANSIENT = {5, 6, 7, 9, 10, 13, 14, 15}
_SQLITE_READ_ONLY = {3, 8}
# PostgreSQL SQLSTATE classes that may go away: connection exception, transaction rollback
# (serialisation, deadlock), insufficient resources, operator intervention (shutdown, restart),
# system error; plus lock_not_available. 25006: read-only transaction (or a standby); 42501:
# insufficient privilege
_PG_TRANSIENT_CLASSES = {"08", "40", "53", "57", "58"}
_PG_TRANSIENT = {"55P03"}
_PG_READ_ONLY = {"25006", "42501"}


def _masked(text: str) -> str:
    """A URL string that did not parse, with what may be its password masked."""
    return re.sub(r"(://[^/@]*?:)[^/@]*@", r"\1***@", text)


def parse_url(url: str | URL) -> URL:
    """Parse a database URL, or raise ConfigurationError saying what is wrong with it."""
    if isinstance(url, URL):
        return url
    try:
        return make_url(url)
    except (ArgumentError, ValueError) as error:
        detail = "not a URL" if isinstance(error, ArgumentError) else "the port is not a number"
        raise ConfigurationError(
            f"invalid database URL {_masked(url)!r} ({detail}): {_URL_HINT}"
        ) from error


def catalog_url(url: str | URL) -> URL:
    """The URL of a catalog database, checked and normalised; ConfigurationError otherwise.

    ``postgres://`` and ``postgresql://`` mean ``postgresql+psycopg://`` (the one PostgreSQL
    driver archcolor ships and tests); other drivers and databases are refused. The URL must
    name the database: a PostgreSQL URL without one would connect to the database named like
    the user (often the server's own ``postgres``), a SQLite URL without a file to a catalog
    that vanishes when the command ends.
    """
    parsed = parse_url(url)
    shown = display_url(parsed)
    scheme = parsed.drivername.lower()
    if scheme in _POSTGRES_SCHEMES:
        parsed = parsed.set(drivername="postgresql+psycopg")
        if not parsed.database and not parsed.query.get("dbname"):
            raise ConfigurationError(
                f"the database URL {shown} names no database (it would connect to the database "
                f"named like the user); add it after the host: {_URL_HINT}"
            )
    elif scheme in _SQLITE_SCHEMES:
        if parsed.database in _IN_MEMORY:
            raise ConfigurationError(
                f"the database URL {shown} names no database file (an in-memory catalog is lost "
                f"when the command ends): {_URL_HINT}"
            )
    else:
        raise ConfigurationError(
            f"unsupported database URL {shown}: archcolor catalogs live in SQLite or PostgreSQL "
            f"(through psycopg); {_URL_HINT}"
        )
    return parsed


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
    parsed = catalog_url(url)
    kwargs: dict[str, Any] = {}
    if parsed.get_backend_name() == "postgresql":
        kwargs["connect_args"] = {"connect_timeout": CONNECT_TIMEOUT_S}
        kwargs["pool_pre_ping"] = pre_ping
    try:
        engine = create_engine(parsed, **kwargs)
    except (ArgumentError, NoSuchModuleError, ImportError) as error:
        raise ConfigurationError(
            f"cannot use database URL {display_url(parsed)}: {error}; {_URL_HINT}"
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


def _first_line(error: BaseException) -> str:
    cause = getattr(error, "orig", None) or error
    return (str(cause).strip().splitlines() or [type(cause).__name__])[0]


def unavailable(url: str | URL, error: BaseException) -> DatabaseUnavailableError:
    """A DatabaseUnavailableError naming ``url`` (no password) and the driver's first line."""
    first_line = _first_line(error)
    parsed = parse_url(url)
    hint = (
        "check --db / ARCHCOLOR_DATABASE_URL and that its folder exists and is writable"
        if parsed.get_backend_name() == "sqlite"
        else "check --db / ARCHCOLOR_DATABASE_URL and that the server is running"
    )
    return DatabaseUnavailableError(
        f"cannot connect to the catalog database {display_url(url)}: {first_line}; {hint}"
    )


def _codes(error: DBAPIError) -> tuple[int | None, str | None]:
    """(SQLite primary result code, PostgreSQL SQLSTATE) of a driver error, where known."""
    orig = error.orig
    code = getattr(orig, "sqlite_errorcode", None)
    state = getattr(orig, "sqlstate", None)
    return (
        code & 0xFF if isinstance(code, int) else None,
        state if isinstance(state, str) and state else None,
    )


def is_read_only(error: BaseException) -> bool:
    """Whether ``error`` says the database cannot be written (read-only file or connection,
    read-only transaction or standby, no privilege)."""
    if not isinstance(error, DBAPIError):
        return False
    code, state = _codes(error)
    return code in _SQLITE_READ_ONLY or state in _PG_READ_ONLY


def is_transient(error: BaseException) -> bool:
    """Whether a database error may go away by itself, so that retrying later makes sense.

    Transient: a lost, refused or timed-out connection, a server shutting down or restarting,
    locks, deadlocks, serialisation failures, out of memory or disk. Permanent: a read-only
    database, missing privileges, tables or columns, bad SQL, constraint violations, a
    corrupt file. Errors of unknown drivers: connection-level (OperationalError,
    InterfaceError) are transient.
    """
    if not isinstance(error, DBAPIError):
        return False
    if error.connection_invalidated:
        return True
    code, state = _codes(error)
    if code is not None:
        return code in _SQLITE_TRANSIENT
    if state is not None:
        return state in _PG_TRANSIENT or state[:2] in _PG_TRANSIENT_CLASSES
    return isinstance(error, OperationalError | InterfaceError)


def catalog_error(url: str | URL | None, error: BaseException) -> CatalogError:
    """The one-line CatalogError for a database error met while working on the catalog at
    ``url`` (None: unknown): DatabaseReadOnlyError, DatabaseUnavailableError (transient) or
    CatalogError."""
    where = "the catalog database" + (f" {display_url(url)}" if url is not None else "")
    first_line = _first_line(error)
    if is_read_only(error):
        return DatabaseReadOnlyError(
            f"{where} is read-only ({first_line}) and this command writes to it: make it "
            "writable (SQLite: the file and its folder; PostgreSQL: the user's privileges, "
            "default_transaction_read_only, not a standby) or point --db at a writable catalog"
        )
    if isinstance(error, DBAPIError) and is_transient(error):
        code, state = _codes(error)
        if url is not None and code is None and (state is None or state[:2] == "08"):
            return unavailable(url, error)
        return DatabaseUnavailableError(
            f"{where} is unavailable for now ({first_line}); try again later"
        )
    if isinstance(error, DBAPIError):
        return CatalogError(
            f"{where} failed: {first_line}; check it is an archcolor catalog at the current "
            "schema (`archcolor db current`), or rerun with --debug"
        )
    return CatalogError(
        f"{where} could not be used: {type(error).__name__}: {first_line}; rerun with --debug"
    )


def as_catalog_error(error: BaseException) -> CatalogError | None:
    """``error`` as a CatalogError when it comes from SQLAlchemy or the database driver (an
    error that escaped a command), else None."""
    if isinstance(error, SQLAlchemyError) or _is_driver_error(error):
        return catalog_error(None, error)
    return None


def _is_driver_error(error: BaseException) -> bool:
    """A DB-API error of sqlite3 or psycopg raised outside SQLAlchemy (e.g. by a raw
    connection): a database error all the same."""
    import sqlite3
    import sys

    if isinstance(error, sqlite3.Error):
        return True
    psycopg = sys.modules.get("psycopg")  # only loaded when a PostgreSQL catalog was used
    return psycopg is not None and isinstance(error, psycopg.Error)


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
