"""Fixtures shared by the integration tests: a migrated catalog on each database, the fixture
model's predictor."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine

from archive_colorizer.catalog.engine import create_catalog_engine
from archive_colorizer.catalog.migrations import ensure_schema


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    """A catalog at the current schema on SQLite and on PostgreSQL (``database_url``)."""
    engine = create_catalog_engine(database_url)
    ensure_schema(engine)
    yield engine
    engine.dispose()


@pytest.fixture(scope="module")
def predictor() -> object:
    """The untrained fixture model on the CPU: fast, independent of the shipped default."""
    from archive_colorizer.inference import registry
    from archive_colorizer.inference.fixture import FIXTURE_NAME

    return registry.load_predictor(FIXTURE_NAME, device="cpu")


@pytest.fixture
def fixture_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A models folder holding only the fixture model, in ARCHCOLOR_MODELS_DIR."""
    from archive_colorizer.inference.fixture import write_fixture

    models = tmp_path / "models"
    write_fixture(models / "iizuka.fixture")
    monkeypatch.setenv("ARCHCOLOR_MODELS_DIR", str(models))
    return models
