"""Catalog queries and writes shared by the services (all take an explicit Session)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from sqlalchemy import func, select
from sqlalchemy.orm import Session, selectinload

from archive_colorizer.catalog.schema import Event, Scan, ScanState, Volume
from archive_colorizer.errors import NotFoundError
from archive_colorizer.provenance import EventType, Outcome, agent

__all__ = [
    "add_event",
    "count_scans_by_state",
    "current_files",
    "get_or_create_volume",
    "ingested_scans",
    "ingested_with_sha256",
    "require_volume",
    "scan_with_events",
    "volume_named",
]


def volume_named(session: Session, name: str) -> Volume | None:
    """The volume called ``name``, if any."""
    return session.scalars(select(Volume).where(Volume.name == name)).one_or_none()


def get_or_create_volume(session: Session, name: str) -> Volume:
    """The volume called ``name``, created (and flushed) when new."""
    volume = volume_named(session, name)
    if volume is None:
        volume = Volume(name=name)
        session.add(volume)
        session.flush()
    return volume


def require_volume(session: Session, name: str) -> Volume:
    """The volume called ``name``, or NotFoundError listing the known ones."""
    volume = volume_named(session, name)
    if volume is None:
        known = session.scalars(select(Volume.name).order_by(Volume.name).limit(10)).all()
        hint = f"known volumes: {', '.join(known)}" if known else "the catalog has no volumes yet"
        raise NotFoundError(f"no volume named {name!r} in the catalog ({hint})")
    return volume


def ingested_scans(session: Session, volume: str | None = None) -> list[Scan]:
    """The ingested scans with a sha256 (of the volume called ``volume``, or all), ordered by
    volume, path and page."""
    query = (
        select(Scan)
        .join(Scan.volume)
        .where(Scan.state == ScanState.INGESTED, Scan.sha256.is_not(None))
        .order_by(Volume.name, Scan.path, Scan.page_index)
    )
    if volume is not None:
        query = query.where(Scan.volume_id == require_volume(session, volume).id)
    return list(session.scalars(query).all())


def current_files(session: Session, volume: Volume) -> dict[str, list[Scan]]:
    """For each path of ``volume``: the rows of its current version, ordered by page."""
    rows = session.scalars(
        select(Scan)
        .where(Scan.volume_id == volume.id, Scan.state != ScanState.SUPERSEDED)
        .order_by(Scan.path, Scan.page_index)
    ).all()
    files: dict[str, list[Scan]] = defaultdict(list)
    for row in rows:
        files[row.path].append(row)
    return dict(files)


def ingested_with_sha256(
    session: Session, sha256: str, *, other_than: tuple[int, str] | None = None
) -> Sequence[Scan]:
    """Current ingested scans whose file has this sha256 (excluding one (volume id, path))."""
    query = select(Scan).where(Scan.sha256 == sha256, Scan.state == ScanState.INGESTED)
    if other_than is not None:
        volume_id, path = other_than
        query = query.where(~((Scan.volume_id == volume_id) & (Scan.path == path)))
    return session.scalars(query.order_by(Scan.id)).all()


def add_event(
    scan: Scan, event_type: EventType, outcome: Outcome, detail: str, *, session: Session
) -> Event:
    """Record a PREMIS-like event about ``scan`` (added to the session, not committed)."""
    event = Event(type=str(event_type), outcome=str(outcome), detail=detail, agent=agent())
    scan.events.append(event)
    session.add(event)
    return event


def scan_with_events(session: Session, scan_id: int) -> Scan:
    """A scan with its volume and events loaded, or NotFoundError."""
    scan = session.scalars(
        select(Scan)
        .where(Scan.id == scan_id)
        .options(selectinload(Scan.events), selectinload(Scan.volume))
    ).one_or_none()
    if scan is None:
        raise NotFoundError(f"no scan with id {scan_id}; list them with `archcolor scans`")
    return scan


def count_scans_by_state(session: Session) -> dict[str, int]:
    """Number of scan rows in each state."""
    rows = session.execute(select(Scan.state, func.count()).group_by(Scan.state)).all()
    return {str(state): int(count) for state, count in rows}
