"""Schema versions: run the Alembic migrations in ``migrations/`` from code.

``ensure_schema`` is what every catalog command calls first: an empty database is migrated to
head by itself when the command writes (``create``), a reading command stops with a message
naming `archcolor db upgrade` instead (it never creates tables); a database behind head stops
with that message too; one at an unknown (newer) revision or holding foreign tables stops with
what to do. ``check_writable`` proves, before a command starts its work, that it can write.
"""

from __future__ import annotations

from dataclasses import dataclass

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from archive_colorizer import __version__
from archive_colorizer.catalog.engine import (
    SQLITE_BEGIN_OPTION,
    catalog_error,
    display_url,
    is_read_only,
    unavailable,
)
from archive_colorizer.errors import CatalogError, SchemaOutOfDateError
from archive_colorizer.shipped import shipped_dir

__all__ = [
    "SchemaStatus",
    "schema_status",
    "upgrade",
]

#: the Alembic script directory (the source tree's ``migrations/`` or the wheel's copy)
MIGRATIONS_DIR = shipped_dir("migrations")
#: PostgreSQL advisory-lock key serialising concurrent migrations ("archcolr" in ASCII)
MIGRATION_LOCK_KEY = 0x61726368636F6C72


@dataclass(frozen=True)
class SchemaStatus:
    """Where a database's schema stands relative to this archcolor version."""

    current: str | None  # None: never migrated
    head: str

    @property
    def up_to_date(self) -> bool:
        return self.current == self.head


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at the migrations, independent of the working directory."""
    if not (MIGRATIONS_DIR / "env.py").is_file():
        raise CatalogError(
            f"the database migrations are missing (expected {MIGRATIONS_DIR}); reinstall archcolor"
        )
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def head() -> str:
    """The newest schema revision this archcolor version knows."""
    revision = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if revision is None:  # pragma: no cover - the project always ships a migration
        raise CatalogError("no database migrations found")
    return revision


def known_revisions() -> set[str]:
    """Every revision id in the migrations directory."""
    script = ScriptDirectory.from_config(alembic_config())
    return {rev.revision for rev in script.walk_revisions()}


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def schema_status(engine: Engine) -> SchemaStatus:
    """The database's current revision and this version's head (does not migrate)."""
    try:
        with engine.connect() as connection:
            current = _current(connection)
    except DBAPIError as error:
        raise unavailable(engine.url, error) from error
    return SchemaStatus(current=current, head=head())


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Migrate the database to head; return (revision before, revision after).

    Safe to run from several processes at once: PostgreSQL takes an advisory lock, SQLite an
    immediate (write) transaction, and the revision is re-read under the lock.
    """
    target = head()
    try:
        with engine.connect().execution_options(**{SQLITE_BEGIN_OPTION: "IMMEDIATE"}) as conn:
            sqlite = conn.dialect.name == "sqlite"
            if sqlite:  # see _sqlite_foreign_keys_checked
                _sqlite_pragma(conn, "foreign_keys = OFF")
            try:
                with conn.begin():
                    if conn.dialect.name == "postgresql":
                        conn.execute(
                            text("SELECT pg_advisory_xact_lock(:key)"),
                            {"key": MIGRATION_LOCK_KEY},
                        )
                    before = _current(conn)
                    _check_known(engine, before)
                    if before != target:
                        _check_no_foreign_tables(engine, conn, before)
                        command.upgrade(alembic_config(conn), "head")
                        if sqlite:
                            _sqlite_foreign_keys_checked(conn)
            finally:
                if sqlite:
                    _sqlite_pragma(conn, "foreign_keys = ON")
            return before, target
    except DBAPIError as error:
        if is_read_only(error):
            raise catalog_error(engine.url, error) from error
        if error.connection_invalidated or "connect" in str(error.orig).lower():
            raise unavailable(engine.url, error) from error
        raise CatalogError(
            f"migrating the catalog database {display_url(engine.url)} failed: "
            f"{str(error.orig).strip().splitlines()[0]}"
        ) from error


def _sqlite_pragma(conn: Connection, pragma: str) -> None:
    """Run ``PRAGMA pragma`` on the driver's connection, outside any transaction (SQLite ignores
    ``foreign_keys`` inside one, and SQLAlchemy would begin one)."""
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    try:
        cursor.execute(f"PRAGMA {pragma}")
    finally:
        cursor.close()


def _sqlite_foreign_keys_checked(conn: Connection) -> None:
    """SQLite migrations copy a table, drop the original and rename the copy (Alembic's batch
    mode). With foreign keys enforced, dropping a table that other rows reference counts them
    as violations that the rename does not undo, so the migration runs with enforcement off
    (SQLite's documented procedure for schema changes) and checks every reference here, before
    the commit: a dangling one aborts the migration."""
    dangling = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
    if dangling:
        table, rowid, parent, _index = dangling[0]
        raise CatalogError(
            f"migration left {len(dangling)} row(s) pointing at missing rows (first: table "
            f"{table} row {rowid} → {parent}); nothing was changed"
        )


def ensure_schema(engine: Engine, *, create: bool = True) -> None:
    """Make sure the database is usable by this version: migrate an empty one (only with
    ``create``: else SchemaOutOfDateError naming `archcolor db upgrade`), refuse others."""
    status = schema_status(engine)
    if status.up_to_date:
        return
    if status.current is None:
        if create:
            upgrade(engine)
            return
        try:
            with engine.connect() as connection:
                _check_no_foreign_tables(engine, connection, None)
        except DBAPIError as error:
            raise catalog_error(engine.url, error) from error
        raise SchemaOutOfDateError(
            f"the catalog database {display_url(engine.url)} has no archcolor schema yet and "
            "this command only reads; run `archcolor db upgrade` (or `archcolor ingest`) first"
        )
    _check_known(engine, status.current)
    raise SchemaOutOfDateError(
        f"the catalog database {display_url(engine.url)} is at schema revision "
        f"{status.current}, this archcolor needs {status.head}; back it up and run "
        "`archcolor db upgrade`"
    )


def check_writable(engine: Engine) -> None:
    """Raise DatabaseReadOnlyError (or another CatalogError) unless this connection may write
    to the catalog: a no-op update of the schema version, rolled back."""
    try:
        with engine.connect() as connection, connection.begin() as transaction:
            connection.execute(text("UPDATE alembic_version SET version_num = version_num"))
            transaction.rollback()
    except DBAPIError as error:
        raise catalog_error(engine.url, error) from error


def _check_known(engine: Engine, revision: str | None) -> None:
    if revision is not None and revision not in known_revisions():
        raise CatalogError(
            f"the catalog database {display_url(engine.url)} is at schema revision {revision}, "
            f"which archcolor {__version__} does not know (written by a newer archcolor?); "
            "upgrade archcolor or point --db at another catalog"
        )


def _check_no_foreign_tables(engine: Engine, conn: Connection, revision: str | None) -> None:
    if revision is not None:
        return
    tables = sorted(set(inspect(conn).get_table_names()) - {"alembic_version"})
    if tables:
        shown = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise CatalogError(
            f"the database {display_url(engine.url)} already has tables ({shown}) but no archcolor "
            "schema version; point --db at an archcolor catalog or at an empty database"
        )
