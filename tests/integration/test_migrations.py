"""Alembic migrations against real SQLite and PostgreSQL databases."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text

from archive_colorizer.catalog import migrations
from archive_colorizer.catalog.engine import create_catalog_engine
from archive_colorizer.catalog.schema import Base
from archive_colorizer.errors import CatalogError, SchemaOutOfDateError

REPO = Path(__file__).resolve().parents[2]

EXTRA_REVISION = '''
"""test-only revision after head"""
import sqlalchemy as sa
from alembic import op

revision = "9999"
down_revision = "{head}"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table("extra", sa.Column("id", sa.Integer(), primary_key=True))


def downgrade() -> None:
    op.drop_table("extra")
'''


def test_orm_metadata_equals_migrated_schema(database_url: str) -> None:
    engine = create_catalog_engine(database_url)
    try:
        migrations.ensure_schema(engine)
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            assert compare_metadata(context, Base.metadata) == []
    finally:
        engine.dispose()


def test_empty_database_is_migrated_to_head(database_url: str) -> None:
    engine = create_catalog_engine(database_url)
    try:
        assert migrations.schema_status(engine).current is None
        migrations.ensure_schema(engine)
        status = migrations.schema_status(engine)
        assert status.up_to_date and status.current == migrations.head()
        assert {"volumes", "scans", "events"} <= set(inspect(engine).get_table_names())
        assert migrations.upgrade(engine) == (migrations.head(), migrations.head())  # idempotent
    finally:
        engine.dispose()


def test_downgrade_to_base_and_upgrade_again(database_url: str) -> None:
    engine = create_catalog_engine(database_url)
    try:
        migrations.ensure_schema(engine)
        with engine.begin() as connection:
            command.downgrade(migrations.alembic_config(connection), "base")
        assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
        assert migrations.upgrade(engine) == (None, migrations.head())
    finally:
        engine.dispose()


def test_database_behind_head_names_db_upgrade(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = create_catalog_engine(database_url)
    try:
        migrations.ensure_schema(engine)  # at the real head
        newer = tmp_path / "migrations"
        shutil.copytree(migrations.MIGRATIONS_DIR, newer, ignore=shutil.ignore_patterns("__py*"))
        (newer / "versions" / "9999_extra.py").write_text(
            EXTRA_REVISION.format(head=migrations.head())
        )
        monkeypatch.setattr(migrations, "MIGRATIONS_DIR", newer)

        with pytest.raises(SchemaOutOfDateError, match="archcolor db upgrade"):
            migrations.ensure_schema(engine)
        assert migrations.upgrade(engine)[1] == "9999"
        migrations.ensure_schema(engine)
        assert "extra" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_unknown_revision_is_a_clear_error(database_url: str) -> None:
    engine = create_catalog_engine(database_url)
    try:
        migrations.ensure_schema(engine)
        with engine.begin() as connection:
            connection.execute(text("UPDATE alembic_version SET version_num = 'abcdef'"))
        with pytest.raises(CatalogError, match=r"abcdef.*newer archcolor"):
            migrations.ensure_schema(engine)
    finally:
        engine.dispose()


def test_foreign_tables_are_not_taken_over(database_url: str) -> None:
    engine = create_catalog_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(text("CREATE TABLE payroll (id INTEGER PRIMARY KEY)"))
        with pytest.raises(CatalogError, match="payroll"):
            migrations.ensure_schema(engine)
        assert "volumes" not in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_alembic_tool_finds_its_scripts_from_any_directory(sqlite_url: str, tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "alembic",
            "-c",
            str(REPO / "alembic.ini"),
            "-x",
            f"db={sqlite_url}",
            "upgrade",
            "head",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    engine = create_catalog_engine(sqlite_url)
    try:
        assert migrations.schema_status(engine).up_to_date
    finally:
        engine.dispose()


def _revisions() -> list[str]:
    """Every revision from the first to head, oldest first."""
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrations.alembic_config())
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


@pytest.mark.parametrize("back", [1, 2])
def test_a_populated_catalog_upgrades_to_head(database_url: str, tmp_path: Path, back: int) -> None:
    """A catalog with volumes, scans and events migrates from an earlier revision: on SQLite the
    batch migrations copy tables that other rows reference (volumes: scans), which an enforced
    foreign key would refuse at the drop (issue: `db upgrade` failed with FOREIGN KEY
    constraint failed on a real catalog)."""
    from archive_colorizer.config import Settings
    from archive_colorizer.imaging.synthetic import write_synthetic_page
    from archive_colorizer.services.ingest import ingest

    engine = create_catalog_engine(database_url)
    try:
        migrations.ensure_schema(engine)
        settings = Settings(database_url=database_url, store=tmp_path / "store")
        for number in range(2):
            write_synthetic_page(
                tmp_path / "v" / f"p{number}.tif", width=48, height=40, seed=number
            )
        ingest(engine, settings, [tmp_path / "v"], volume="v")
        older = _revisions()[-1 - back]
        with engine.connect() as connection:
            if connection.dialect.name == "sqlite":  # as upgrade() does, for the way down
                migrations._sqlite_pragma(connection, "foreign_keys = OFF")
            with connection.begin():
                command.downgrade(migrations.alembic_config(connection), older)
            if connection.dialect.name == "sqlite":
                migrations._sqlite_pragma(connection, "foreign_keys = ON")
        assert migrations.schema_status(engine).current == older
        assert migrations.upgrade(engine) == (older, migrations.head())
        with engine.connect() as connection:
            scans = connection.execute(text("SELECT count(*) FROM scans")).scalar_one()
            assert scans == 2
            if connection.dialect.name == "sqlite":
                assert connection.exec_driver_sql("PRAGMA foreign_keys").scalar_one() == 1
                assert connection.exec_driver_sql("PRAGMA foreign_key_check").fetchall() == []
    finally:
        engine.dispose()
