"""Read-only views of the catalog for `archcolor status`, `scans` and `show` (JSON-ready dicts)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, selectinload

from archive_colorizer.catalog import repository
from archive_colorizer.catalog.schema import (
    Derivative,
    Event,
    Job,
    JobState,
    Scan,
    ScanState,
    Volume,
)
from archive_colorizer.config import SCAN_STATE_CHOICES

#: what `archcolor scans --state` accepts; "current" (default) = ingested and rejected
STATE_CHOICES = SCAN_STATE_CHOICES

#: scan columns in the order `show` and the JSON output list them
SCAN_FACTS = (
    "id",
    "volume",
    "path",
    "root",
    "version",
    "state",
    "reason",
    "superseded_by_id",
    "size",
    "mtime",
    "sha256",
    "tiff_flavour",
    "byte_order",
    "page_index",
    "page_count",
    "width",
    "height",
    "samples_per_pixel",
    "bits_per_sample",
    "photometric",
    "compression",
    "tiled",
    "x_resolution",
    "y_resolution",
    "resolution_unit",
    "icc_present",
    "orientation",
    "skipped_reduced",
    "created_at",
    "updated_at",
)


def _json_value(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def scan_facts(scan: Scan) -> dict[str, Any]:
    """Every catalogued fact of a scan row (timestamps as ISO 8601 UTC)."""
    facts: dict[str, Any] = {}
    for name in SCAN_FACTS:
        value = scan.volume.name if name == "volume" else getattr(scan, name)
        facts[name] = _json_value(value)
    return facts


def event_facts(event: Event) -> dict[str, Any]:
    """An event as a JSON-ready dict."""
    return {
        "id": event.id,
        "type": event.type,
        "outcome": event.outcome,
        "detail": event.detail,
        "agent": event.agent,
        "occurred_at": _json_value(event.occurred_at),
    }


def status_counts(engine: Engine) -> dict[str, int]:
    """Catalog totals.

    ``scans``: image pages currently catalogued (state ingested); ``rejected``: files currently
    rejected; ``superseded``: older versions kept as history; ``files``: distinct current files;
    ``bytes``: their total size; ``volumes``; ``events``; ``jobs_<state>``: colorization jobs in
    each state (``jobs_failed``: waiting for a retry); ``derivatives``: current derivatives.
    """
    with Session(engine) as session:
        by_state = repository.count_scans_by_state(session)
        current_first_pages = select(Scan).where(
            Scan.state != ScanState.SUPERSEDED, Scan.page_index == 0
        )
        current = current_first_pages.subquery()
        files, size = session.execute(
            select(func.count(), func.coalesce(func.sum(current.c.size), 0))
        ).one()
        return {
            "volumes": int(session.scalar(select(func.count()).select_from(Volume)) or 0),
            "scans": by_state.get(ScanState.INGESTED, 0),
            "rejected": by_state.get(ScanState.REJECTED, 0),
            "superseded": by_state.get(ScanState.SUPERSEDED, 0),
            "files": int(files or 0),
            "bytes": int(size or 0),
            "events": int(session.scalar(select(func.count()).select_from(Event)) or 0),
            **job_counts(session),
        }


def job_counts(session: Session) -> dict[str, int]:
    """``jobs_<state>`` for every job state, and ``derivatives`` (current ones)."""
    rows = session.execute(select(Job.state, func.count()).group_by(Job.state)).all()
    by_state = {str(state): int(count) for state, count in rows}
    counts = {f"jobs_{state}": by_state.get(str(state), 0) for state in JobState}
    counts["derivatives"] = int(
        session.scalar(
            select(func.count()).select_from(Derivative).where(Derivative.current.is_(True))
        )
        or 0
    )
    return counts


def derivative_facts(derivative: Derivative) -> dict[str, Any]:
    """A derivative with its job's model and its full provenance record."""
    job = derivative.job
    return {
        "id": derivative.id,
        "job": derivative.job_id,
        "path": derivative.path,
        "sha256": derivative.sha256,
        "width": derivative.width,
        "height": derivative.height,
        "bytes": derivative.bytes,
        "generation": derivative.generation,
        "current": derivative.current,
        "model": job.model_name,
        "weights_sha256": job.weights_sha256,
        "created_at": _json_value(derivative.created_at),
        "provenance": derivative.provenance,
    }


def list_scans(
    engine: Engine,
    *,
    volume: str | None = None,
    state: str = "current",
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Scan rows (facts only), ordered by volume, path, version and page."""
    if state not in STATE_CHOICES:
        raise ValueError(f"state must be one of {', '.join(STATE_CHOICES)}")
    with Session(engine) as session:
        query = select(Scan).join(Scan.volume)
        if volume is not None:
            query = query.where(Scan.volume_id == repository.require_volume(session, volume).id)
        if state == "current":
            query = query.where(Scan.state != ScanState.SUPERSEDED)
        elif state != "all":
            query = query.where(Scan.state == state)
        query = query.order_by(Volume.name, Scan.path, Scan.version, Scan.page_index)
        if limit is not None:
            query = query.limit(limit)
        return [scan_facts(scan) for scan in session.scalars(query)]


def show_scan(engine: Engine, scan_id: int) -> dict[str, Any]:
    """All facts of one scan, its events, the versions of its file and its duplicates."""
    with Session(engine) as session:
        scan = repository.scan_with_events(session, scan_id)
        result = scan_facts(scan)
        result["events"] = [event_facts(event) for event in scan.events]
        derivatives = session.scalars(
            select(Derivative)
            .where(Derivative.scan_id == scan.id)
            .options(selectinload(Derivative.job))
            .order_by(Derivative.id)
        ).all()
        result["derivatives"] = [derivative_facts(row) for row in derivatives]
        result["jobs"] = [
            {
                "id": job.id,
                "model": job.model_name,
                "state": job.state,
                "attempts": job.attempts,
                "max_attempts": job.max_attempts,
                "generation": job.generation,
                "last_error": job.last_error,
            }
            for job in session.scalars(select(Job).where(Job.scan_id == scan.id).order_by(Job.id))
        ]
        versions = session.scalars(
            select(Scan)
            .where(
                Scan.volume_id == scan.volume_id,
                Scan.path == scan.path,
                Scan.page_index == scan.page_index,
            )
            .order_by(Scan.version)
        ).all()
        result["versions"] = [
            {"id": row.id, "version": row.version, "state": row.state, "sha256": row.sha256}
            for row in versions
        ]
        duplicates = (
            repository.ingested_with_sha256(
                session, scan.sha256, other_than=(scan.volume_id, scan.path)
            )
            if scan.sha256 is not None
            else []
        )
        result["duplicates"] = [
            {
                "id": row.id,
                "volume": row.volume.name,
                "path": row.path,
                "page_index": row.page_index,
            }
            for row in duplicates
        ]
        return result
