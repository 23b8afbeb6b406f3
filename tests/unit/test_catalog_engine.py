"""Opening the catalog: SQLite pragmas and transactions, clear errors for bad URLs."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from archive_colorizer.catalog.engine import (
    SQLITE_BEGIN_OPTION,
    create_catalog_engine,
    display_url,
)
from archive_colorizer.errors import ConfigurationError, DatabaseUnavailableError


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
