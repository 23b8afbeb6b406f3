"""Colour references in the catalog: a volume's default reference, and finding one for a job.

A reference is registered by the sha256 of its file (``colour_references``; registering the same
bytes again from another path only records the new path). `archcolor reference set VOLUME IMAGE`
makes it the volume's default: :mod:`~archive_colorizer.services.enqueue` then puts its sha256
into the parameters of each of the volume's pages, so their job keys change and exactly those
pages are queued again (the old derivatives stay as history); `reference clear` brings the old
keys back. Each change is a ``reference-set`` / ``reference-clear`` event on every current
scan of the volume. Workers find the file by sha256 (:func:`reference_for_job`) and colour a
page only when the file still has that sha256.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from archive_colorizer.catalog.repository import require_volume
from archive_colorizer.catalog.schema import ColourReference, Event, Scan, ScanState, Volume
from archive_colorizer.errors import InputError, PermanentJobError
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.reference import ReferenceImage, load_reference
from archive_colorizer.provenance import EventType, Outcome, agent

__all__ = [
    "ReferenceChange",
    "clear_volume_reference",
    "list_references",
    "reference_for_job",
    "register",
    "register_reference",
    "set_volume_reference",
    "volume_references",
]


@dataclass(frozen=True)
class ReferenceChange:
    """What `reference set` / `reference clear` did to a volume."""

    volume: str
    #: the reference now in force (None: none)
    sha256: str | None
    file_name: str | None
    #: the one it replaced (None: none)
    previous_sha256: str | None
    #: False when the volume already had this reference (nothing was recorded)
    changed: bool
    #: scans the change was recorded on (their pages are queued again by `process --pending`)
    scans: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "volume": self.volume,
            "sha256": self.sha256,
            "file_name": self.file_name,
            "previous_sha256": self.previous_sha256,
            "changed": self.changed,
            "scans": self.scans,
        }


def register(session: Session, image: ReferenceImage) -> ColourReference:
    """The catalog row of ``image`` (added when new; its path updated to where it was given)."""
    path = str(Path(image.path).absolute())
    row = session.scalars(
        select(ColourReference).where(ColourReference.sha256 == image.sha256)
    ).one_or_none()
    if row is None:
        row = ColourReference(
            sha256=image.sha256,
            path=path,
            file_name=image.file_name,
            width=image.width,
            height=image.height,
        )
        session.add(row)
    elif row.path != path:
        row.path, row.file_name = path, image.file_name
    session.flush()
    return row


def register_reference(engine: Engine, path: Path) -> ReferenceImage:
    """Load the reference at ``path`` and register it (`process --reference`)."""
    image = load_reference(path)
    with Session(engine) as session, session.begin():
        register(session, image)
    return image


def _record(session: Session, volume: Volume, kind: EventType, detail: str) -> int:
    scan_ids = session.scalars(
        select(Scan.id).where(Scan.volume_id == volume.id, Scan.state == ScanState.INGESTED)
    ).all()
    for scan_id in scan_ids:
        session.add(
            Event(
                scan_id=scan_id,
                type=str(kind),
                outcome=str(Outcome.SUCCESS),
                detail=detail,
                agent=agent(),
            )
        )
    return len(scan_ids)


def set_volume_reference(engine: Engine, volume: str, path: Path) -> ReferenceChange:
    """Make the image at ``path`` the default colour reference of ``volume``."""
    image = load_reference(path)  # before any write: an unusable file changes nothing
    with Session(engine) as session, session.begin():
        row = require_volume(session, volume)
        previous = row.reference.sha256 if row.reference is not None else None
        reference = register(session, image)
        if previous == image.sha256:
            return ReferenceChange(volume, image.sha256, image.file_name, previous, False, 0)
        row.reference_id = reference.id
        was = f", replacing sha256 {previous}" if previous else ""
        detail = (
            f"volume {volume}: colour reference {image.file_name} (sha256 {image.sha256}, "
            f"{reference.path}){was}"
        )
        scans = _record(session, row, EventType.REFERENCE_SET, detail)
    return ReferenceChange(volume, image.sha256, image.file_name, previous, True, scans)


def clear_volume_reference(engine: Engine, volume: str) -> ReferenceChange:
    """Remove the default colour reference of ``volume`` (its pages go back to their own)."""
    with Session(engine) as session, session.begin():
        row = require_volume(session, volume)
        if row.reference is None:
            return ReferenceChange(volume, None, None, None, False, 0)
        previous = row.reference
        row.reference_id = None
        detail = (
            f"volume {volume}: colour reference {previous.file_name} (sha256 {previous.sha256}) "
            "removed"
        )
        scans = _record(session, row, EventType.REFERENCE_CLEAR, detail)
        return ReferenceChange(volume, None, None, previous.sha256, True, scans)


def list_references(engine: Engine) -> list[dict[str, Any]]:
    """Every registered reference with the volumes it is the default of."""
    with Session(engine) as session:
        volumes: dict[int, list[str]] = {}
        for name, reference_id in session.execute(
            select(Volume.name, Volume.reference_id)
            .where(Volume.reference_id.is_not(None))
            .order_by(Volume.name)
        ):
            if reference_id is not None:
                volumes.setdefault(reference_id, []).append(name)
        return [
            {
                "id": row.id,
                "sha256": row.sha256,
                "file_name": row.file_name,
                "path": row.path,
                "width": row.width,
                "height": row.height,
                "created_at": row.created_at.isoformat(),
                "volumes": volumes.get(row.id, []),
            }
            for row in session.scalars(select(ColourReference).order_by(ColourReference.id))
        ]


def volume_references(session: Session) -> dict[int, str]:
    """``{volume id: sha256 of its default colour reference}`` for the volumes that have one."""
    rows = session.execute(
        select(Volume.id, ColourReference.sha256).join(
            ColourReference, Volume.reference_id == ColourReference.id
        )
    )
    return {int(volume_id): str(sha256) for volume_id, sha256 in rows}


def reference_for_job(
    engine: Engine, sha256: str, loaded: dict[str, ReferenceImage] | None = None
) -> ReferenceImage:
    """The registered reference ``sha256``, loaded from its path and checked (PermanentJobError
    naming the file when it is not registered, unreadable or no longer those bytes).

    ``loaded`` (a worker's cache, by sha256): a reference decoded before is only hashed again,
    not decoded again, when its file is still at the same path."""
    with Session(engine) as session:
        row = session.scalars(
            select(ColourReference).where(ColourReference.sha256 == sha256)
        ).one_or_none()
        if row is None:
            raise PermanentJobError(
                f"colour reference sha256 {sha256} is not registered in the catalog; give it "
                "again with `archcolor reference set VOLUME IMAGE` or `process --reference IMAGE`"
            )
        path = Path(row.path)
    again = "`archcolor reference set VOLUME IMAGE` again (or `process --reference IMAGE`)"
    cached = (loaded or {}).get(sha256)
    try:  # a file that cannot be read or hashed is refused like an unreadable one
        if cached is not None and cached.path == path and sha256_file(path)[0] == sha256:
            return cached
        image = load_reference(path)
    except OSError as error:
        raise PermanentJobError(
            f"{path}: the colour reference (sha256 {sha256}) cannot be read "
            f"({error.strerror or error}); make it available again and run `archcolor retry`"
        ) from error
    except InputError as error:
        raise PermanentJobError(
            f"{error}; the colour reference (sha256 {sha256}) must be readable: make it "
            f"available again and run `archcolor retry`, or run {again}"
        ) from error
    if image.sha256 != sha256:
        raise PermanentJobError(
            f"{path}: the colour reference changed: its sha256 is now {image.sha256}, the job "
            f"was queued with {sha256}; run {again}, then `archcolor process --pending`"
        )
    if loaded is not None:
        loaded[sha256] = image
    return image
