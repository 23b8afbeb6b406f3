"""Checks before any work: an unusable store, a read-only or malformed catalog database, a URL
naming no database. Each is one line on stderr, exit 1, no traceback, nothing queued or created.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import URL, make_url

from archive_colorizer.cli.app import run
from archive_colorizer.imaging.synthetic import write_synthetic_page
from tests.databases import postgres_user_with_own_database, read_only, table_names


def _one_line_error(capsys: pytest.CaptureFixture[str], *needles: str) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    for needle in needles:
        assert needle in err, err
    return err


def _masters(folder: Path, pages: int = 2) -> Path:
    for number in range(pages):
        write_synthetic_page(
            folder / f"page-{number}.tif", width=64, height=64, compression="deflate", seed=number
        )
    return folder


def _ingested(database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Path:
    masters = _masters(tmp_path / "masters")
    assert run(["--db", database_url, "ingest", str(masters), "--volume", "vol"]) == 0
    capsys.readouterr()
    return masters


# --- the store ---------------------------------------------------------------------------------


@pytest.mark.usefixtures("fixture_model_default")
@pytest.mark.parametrize("where", ["a file", "under a file"])
def test_process_refuses_a_store_that_cannot_be_a_folder(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], where: str
) -> None:
    _ingested(database_url, tmp_path, capsys)
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a regular file\n")
    store = blocker if where == "a file" else blocker / "store"
    base = ["--db", database_url, "--store", str(store)]

    assert run([*base, "process", "--pending", "--device", "cpu"]) == 1
    _one_line_error(capsys, str(blocker), "--store")
    assert blocker.read_text() == "a regular file\n"
    assert run([*base, "jobs", "--json"]) == 0
    assert capsys.readouterr().out.strip() == "[]"  # nothing was queued, let alone claimed


@pytest.mark.usefixtures("fixture_model_default")
@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into folders without write permission")
def test_process_refuses_a_store_under_an_unwritable_folder(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ingested(sqlite_url, tmp_path, capsys)
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        base = ["--db", sqlite_url, "--store", str(locked / "store")]
        assert run([*base, "process", "--pending", "--device", "cpu"]) == 1
        _one_line_error(capsys, "store", "permission denied")
    finally:
        locked.chmod(0o755)


# --- a read-only catalog database --------------------------------------------------------------


@pytest.mark.usefixtures("fixture_model_default")
def test_writing_commands_refuse_a_read_only_database_reading_ones_work(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    masters = _ingested(database_url, tmp_path, capsys)
    store = tmp_path / "store"
    with read_only(database_url) as url:
        base = ["--db", url, "--store", str(store)]
        for command in (
            ["verify"],
            ["retry", "--dead"],
            ["ingest", str(masters), "--volume", "vol"],
            ["process", "--pending", "--device", "cpu"],
        ):
            assert run([*base, *command]) == 1, command
            _one_line_error(capsys, "read-only", "this command writes")
        assert run([*base, "status", "--json"]) == 0
        assert '"scans": 2' in capsys.readouterr().out
    assert not store.exists() or not any(store.rglob("*.tif"))


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes files without write permission")
def test_a_read_only_sqlite_file_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    database = tmp_path / "catalog.sqlite3"
    url = f"sqlite:///{database}"
    masters = _ingested(url, tmp_path, capsys)
    database.chmod(0o444)
    try:
        assert run(["--db", url, "ingest", str(masters)]) == 1
        _one_line_error(capsys, "read-only")
    finally:
        database.chmod(0o644)


# --- malformed URLs, URLs naming no database ---------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "postgres://bad:url:x",
        "postgresql+psycopg://archivist:s3cret@db.example:port/catalog",
        "not a url",
        "mysql://archivist@db.example/catalog",
    ],
)
@pytest.mark.parametrize("command", [["status"], ["ingest", "."], ["retry", "--dead"]])
def test_malformed_or_unsupported_url_is_one_line(
    url: str,
    command: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["--db", url, *command]) == 1
    err = _one_line_error(capsys, "database URL", "postgresql+psycopg://")
    assert "s3cret" not in err


def test_sqlite_url_without_a_file_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    for url in ("sqlite://", "sqlite:///", "sqlite:///:memory:"):
        assert run(["--db", url, "status"]) == 1
        _one_line_error(capsys, "names no database")


@pytest.mark.postgres
def test_postgres_url_without_a_database_is_refused_and_creates_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    # the role's own database stands in for the server's `postgres` database: a URL naming no
    # database connects to the database named like the user
    with postgres_user_with_own_database() as (role, its_database):
        server = make_url(its_database)
        url = URL.create(
            server.drivername, username=role, host=server.host, port=server.port or 5432
        ).render_as_string(hide_password=False)
        assert make_url(url).database is None and make_url(url).username == role
        for command in (["status"], ["db", "current"], ["db", "upgrade"], ["ingest", "."]):
            assert run(["--db", url, *command]) == 1, command
            _one_line_error(capsys, "names no database", "/dbname")
        assert table_names(its_database) == []


def test_postgres_scheme_without_driver_means_psycopg(capsys: pytest.CaptureFixture[str]) -> None:
    url = "postgres://archivist:s3cret@127.0.0.1:1/catalog"  # nothing listens on port 1
    assert run(["--db", url, "status"]) == 1
    err = _one_line_error(capsys, "cannot connect", "postgresql+psycopg://archivist:***@")
    assert "s3cret" not in err


# --- read-only commands never create the schema ------------------------------------------------


@pytest.mark.parametrize(
    "command",
    [["status"], ["scans"], ["show", "1"], ["jobs"], ["export", "--out", "exported"]],
)
def test_reading_commands_on_an_empty_database_create_nothing(
    database_url: str,
    command: list[str],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    assert run(["--db", database_url, *command]) == 1
    _one_line_error(capsys, "no archcolor schema", "archcolor db upgrade")
    assert table_names(database_url) == []
    assert run(["--db", database_url, "db", "current"]) == 0
    assert "empty" in capsys.readouterr().out


# --- any database error that escapes a command -------------------------------------------------


def test_a_database_error_inside_a_command_is_one_line(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _ingested(database_url, tmp_path, capsys)
    engine = create_engine(make_url(database_url))
    try:
        with engine.begin() as conn:
            conn.execute(text("DROP TABLE derivatives"))  # a damaged catalog
    finally:
        engine.dispose()
    assert run(["--db", database_url, "status"]) == 1
    _one_line_error(capsys, "derivatives", "catalog database")
