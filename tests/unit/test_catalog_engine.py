"""Opening the catalog: SQLite pragmas and transactions, clear errors for bad URLs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from archive_colorizer.catalog.engine import (
    SQLITE_BEGIN_OPTION,
    catalog_error,
    create_catalog_engine,
    display_url,
    is_transient,
)
from archive_colorizer.errors import (
    CatalogError,
    ConfigurationError,
    DatabaseReadOnlyError,
    DatabaseUnavailableError,
)


def test_sqlite_connections_use_wal_foreign_keys_and_busy_timeout(sqlite_url: str) -> None:
    engine = create_catalog_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert (connection.exec_driver_sql("PRAGMA busy_timeout").scalar() or 0) >= 1000
    finally:
        engine.dispose()


def test_sqlite_ddl_is_transactional(sqlite_url: str) -> None:
    engine = create_catalog_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            with connection.begin() as transaction:
                connection.execute(text("CREATE TABLE t (x INTEGER)"))
                transaction.rollback()
            tables = connection.exec_driver_sql(
                "SELECT name FROM sqlite_master WHERE type = 'table'"
            ).all()
        assert tables == []
    finally:
        engine.dispose()


def test_begin_immediate_takes_the_write_lock_up_front(tmp_path: Path) -> None:
    database = tmp_path / "c.sqlite3"
    engine = create_catalog_engine(f"sqlite:///{database}")
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
        immediate = engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"})
        with immediate, immediate.begin():
            immediate.execute(text("SELECT 1"))  # only a read, but the write lock is held
            other = sqlite3.connect(database, timeout=0.05, isolation_level=None)
            try:
                with pytest.raises(sqlite3.OperationalError, match="locked"):
                    other.execute("BEGIN IMMEDIATE")
            finally:
                other.close()
    finally:
        engine.dispose()


def test_unreachable_postgres_names_the_url_without_password() -> None:
    with pytest.raises(DatabaseUnavailableError) as caught:
        create_catalog_engine("postgresql+psycopg://archivist:s3cret@127.0.0.1:1/catalog")
    message = str(caught.value)
    assert "s3cret" not in message
    assert "postgresql+psycopg://archivist:***@127.0.0.1:1/catalog" in message
    assert "\n" not in message


def test_sqlite_in_missing_folder_is_unavailable(tmp_path: Path) -> None:
    with pytest.raises(DatabaseUnavailableError, match="no-such-folder"):
        create_catalog_engine(f"sqlite:///{tmp_path / 'no-such-folder' / 'c.sqlite3'}")


@pytest.mark.parametrize("url", ["not a url", "nosuchdb://x/y"])
def test_bad_urls_are_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError):
        create_catalog_engine(url)


def test_display_url_masks_password() -> None:
    assert display_url("postgresql+psycopg://u:pw@h/d") == "postgresql+psycopg://u:***@h/d"


@pytest.mark.parametrize(
    "url",
    [
        "postgres://bad:url:x",  # port "url:x"
        "postgresql+psycopg://u:pw@h:port/d",
        "sqlite://",  # in memory: the catalog would vanish with the command
        "sqlite:///",
        "sqlite:///:memory:",
        "postgresql+psycopg://postgres@127.0.0.1:5432",  # no database name
        "postgresql+psycopg://postgres@127.0.0.1:5432/",
        "mysql://u@h/d",
        "postgresql+asyncpg://u@h/d",
        "postgresql+psycopg2://u@h/d",
        "sqlite+aiosqlite:///c.sqlite3",
    ],
)
def test_unusable_catalog_urls_are_one_line_configuration_errors(url: str) -> None:
    with pytest.raises(ConfigurationError) as caught:
        create_catalog_engine(url, check=False)
    message = str(caught.value)
    assert "\n" not in message and "pw" not in message
    assert "postgresql+psycopg://user@host/dbname" in message


@pytest.mark.parametrize(
    "url",
    [
        "postgres://u:pw@h:5433/d",
        "postgresql://u:pw@h:5433/d",
        "postgresql+psycopg://u:pw@h:5433/d",
        "postgresql+psycopg://u@/d?host=/run/postgresql",
    ],
)
def test_postgres_schemes_use_psycopg(url: str) -> None:
    engine = create_catalog_engine(url, check=False)
    try:
        assert engine.url.drivername == "postgresql+psycopg"
        assert engine.url.database == "d"
    finally:
        engine.dispose()


def test_read_only_sqlite_is_permanent_and_named(tmp_path: Path) -> None:
    database = tmp_path / "c.sqlite3"
    with create_catalog_engine(f"sqlite:///{database}").begin() as connection:
        connection.execute(text("CREATE TABLE t (x INTEGER)"))
    engine = create_catalog_engine(f"sqlite:///file:{database}?mode=ro&uri=true")
    try:
        with pytest.raises(DBAPIError) as caught, engine.begin() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
    finally:
        engine.dispose()
    assert not is_transient(caught.value)
    error = catalog_error(engine.url, caught.value)
    assert isinstance(error, DatabaseReadOnlyError)
    assert "read-only" in str(error) and str(database) in str(error)


def test_refused_connection_is_transient(tmp_path: Path) -> None:
    engine = create_catalog_engine("postgresql+psycopg://u:pw@127.0.0.1:1/d", check=False)
    try:
        with pytest.raises(DBAPIError) as caught, engine.connect():
            pass
    finally:
        engine.dispose()
    assert is_transient(caught.value)
    error = catalog_error(engine.url, caught.value)
    assert isinstance(error, DatabaseUnavailableError) and "pw" not in str(error)


def test_missing_table_is_permanent(sqlite_url: str) -> None:
    engine = create_catalog_engine(sqlite_url)
    try:
        with pytest.raises(DBAPIError) as caught, engine.connect() as connection:
            connection.execute(text("SELECT * FROM jobs"))
    finally:
        engine.dispose()
    assert not is_transient(caught.value)
    error = catalog_error(engine.url, caught.value)
    assert type(error) is CatalogError and "no such table: jobs" in str(error)


@pytest.mark.postgres
def test_a_terminated_postgres_connection_is_transient(postgres_url: str) -> None:
    engine = create_catalog_engine(postgres_url, pre_ping=False)
    admin = create_catalog_engine(postgres_url)
    try:
        with engine.connect() as connection:
            pid = connection.exec_driver_sql("SELECT pg_backend_pid()").scalar()
            with admin.begin() as other:
                other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
            with pytest.raises(DBAPIError) as caught:
                connection.exec_driver_sql("SELECT 1")
    finally:
        engine.dispose()
        admin.dispose()
    assert is_transient(caught.value)  # a server restart or fail-over: retried by workers
    assert isinstance(catalog_error(engine.url, caught.value), DatabaseUnavailableError)


@pytest.mark.postgres
def test_a_read_only_postgres_transaction_is_permanent(postgres_url: str) -> None:
    engine = create_catalog_engine(postgres_url)
    try:
        with pytest.raises(DBAPIError) as caught, engine.begin() as connection:
            connection.exec_driver_sql("SET TRANSACTION READ ONLY")
            connection.exec_driver_sql("CREATE TABLE t (x INTEGER)")
    finally:
        engine.dispose()
    assert not is_transient(caught.value)
    assert isinstance(catalog_error(engine.url, caught.value), DatabaseReadOnlyError)
