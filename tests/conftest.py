"""Shared fixtures: real databases (a fresh SQLite file, a fresh PostgreSQL database)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# CI explores the same examples on every run (HYPOTHESIS_PROFILE=ci, set by .ci/run), so a red
# run is reproducible; locally the examples are random and keep finding new cases.
settings.register_profile("ci", derandomize=True, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))

POSTGRES_URL = os.environ.get(
    "ARCHCOLOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@pytest.fixture(autouse=True, scope="session")
def _private_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Keep the per-user cache (verified weights digests) out of the real home folder."""
    previous = os.environ.get("ARCHCOLOR_CACHE_DIR")
    os.environ["ARCHCOLOR_CACHE_DIR"] = str(tmp_path_factory.mktemp("archcolor-cache"))
    yield
    if previous is None:
        os.environ.pop("ARCHCOLOR_CACHE_DIR", None)
    else:
        os.environ["ARCHCOLOR_CACHE_DIR"] = previous


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """URL of a new, empty SQLite catalog file."""
    return f"sqlite:///{tmp_path / 'catalog.sqlite3'}"


@pytest.fixture
def postgres_url() -> Iterator[str]:
    """URL of a new, empty PostgreSQL database, dropped after the test."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin_url = make_url(POSTGRES_URL)
    name = f"archcolor_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest) -> str:
    """Each test using this runs twice: on SQLite and on PostgreSQL."""
    fixture = "sqlite_url" if request.param == "sqlite" else "postgres_url"
    return str(request.getfixturevalue(fixture))


@pytest.fixture
def fixture_model_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make a private copy of the untrained fixture model the default model, on the CPU.

    Tests of the queue, export and deployment use it so that they run fast and do not depend on
    which trained model ships as the repository default (subprocesses inherit the variables).
    """
    import shutil

    from archive_colorizer.inference.fixture import FIXTURE_NAME
    from archive_colorizer.inference.registry import ENV_MODELS_DIR, repository_models_dir

    directory = tmp_path / "models"
    shutil.copytree(repository_models_dir() / FIXTURE_NAME, directory / FIXTURE_NAME)
    (directory / "DEFAULT").write_text(FIXTURE_NAME + "\n")
    monkeypatch.setenv(ENV_MODELS_DIR, str(directory))
    monkeypatch.setenv("ARCHCOLOR_DEVICE", "cpu")
    monkeypatch.delenv("ARCHCOLOR_MODEL", raising=False)
    return directory
