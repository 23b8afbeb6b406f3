"""`archcolor worker health`: can this machine work the queue (database, model, store)?"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive_colorizer.errors import (
    JobError,
)
from archive_colorizer.services import store as store_layout

if TYPE_CHECKING:
    pass


@dataclass(frozen=True)
class HealthCheck:
    """One probe of `archcolor worker health`."""

    name: str
    ok: bool
    detail: str
    seconds: float


def _timed(name: str, probe: Any) -> HealthCheck:
    started = time.perf_counter()
    try:
        detail = str(probe())
        ok = True
    except Exception as error:
        detail = str(error) or type(error).__name__
        ok = False
    return HealthCheck(name, ok, detail, round(time.perf_counter() - started, 3))


def health(
    database_url: str, store: Path, model: str | None, *, load_model: bool = True
) -> list[HealthCheck]:
    """Can this machine work the queue? The database (reachable, schema at head), the model
    (found, weights sha256 matches its card, network loads) and the store (writable)."""
    from archive_colorizer.catalog.engine import create_catalog_engine, display_url
    from archive_colorizer.catalog.migrations import schema_status

    def database() -> str:
        engine = create_catalog_engine(database_url)
        try:
            status = schema_status(engine)
        finally:
            engine.dispose()
        if not status.up_to_date:
            raise JobError(
                f"{display_url(database_url)} is at schema {status.current or 'empty'}, "
                f"head is {status.head}; run `archcolor db upgrade`"
            )
        return f"{display_url(database_url)} reachable, schema {status.current} (head)"

    def model_check() -> str:
        from archive_colorizer.inference import registry

        found = registry.find_model(model)
        digest = registry.verify_weights(found)
        if load_model:
            registry.load_network(found)
        loaded = "network loads, " if load_model else ""
        return f"{found.name}: {loaded}weights sha256 {digest} matches its card"

    def store_check() -> str:
        return f"{store_layout.ensure_writable(Path(store))} writable"

    return [
        _timed("database", database),
        _timed("model", model_check),
        _timed("store", store_check),
    ]
