"""The catalog schema: typed SQLAlchemy ORM classes for volumes, scans, events, jobs, derivatives.

One ``Scan`` row per image page of a master file (a rejected file gets one row, page 0).
A file is identified by ``(volume, path)``; each time its bytes change a new *version* of its
rows is added and the old rows become ``superseded`` (pointing at their replacement), so history
is never overwritten. ``Event`` rows are PREMIS-like: what happened to a scan, when, by which
agent, with which outcome.

``Job`` rows are the work queue (see :mod:`archive_colorizer.catalog.queue`): one per
idempotency key (scan + master sha256 + page + weights sha256 + parameters hash + pipeline
version; older catalogs may hold keys without the scan, see ``services.enqueue``).
``Derivative`` rows are the files a job produced in the store, with W3C PROV-style provenance;
re-running a job (``--force``, ``--repair``) adds a new row and marks the older ones
non-current, so history is kept.
``ColourReference`` rows are colour reference images (by sha256; ``Volume.reference`` is a
volume's default, whose sha256 enters each of its pages' job parameters).
``HintSet`` rows are a curator's colour hints for one scan (see ``docs/hints.md``): at most one
current set per scan; importing changed hints adds a new current set and keeps the old one.

Timestamps are timezone-aware UTC on every database (:class:`UtcDateTime`). Constraint names
follow :data:`NAMING_CONVENTION`, so Alembic migrations can refer to them on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

__all__ = [
    "ColourReference",
    "Derivative",
    "Event",
    "HintSet",
    "Job",
    "JobState",
    "Scan",
    "ScanState",
    "Volume",
    "utcnow",
]

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: 64-bit ids on PostgreSQL; plain INTEGER on SQLite, where only that is an auto-increment rowid
BigId = BigInteger().with_variant(Integer(), "sqlite")
#: JSON documents: JSONB on PostgreSQL, JSON (text) elsewhere
PortableJson = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every database.

    Binds only aware datetimes (naive ones are a programming error), stores UTC (``timestamptz``
    on PostgreSQL, naive UTC text on SQLite) and always returns aware UTC datetimes.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(f"naive datetime {value!r}: catalog timestamps must be timezone-aware")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):  # pragma: no cover - drivers return datetimes
            value = datetime.fromisoformat(str(value))
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class ScanState(StrEnum):
    """Where a scan row stands."""

    INGESTED = "ingested"  # catalogued, current version of its file
    REJECTED = "rejected"  # the file could not be used; ``reason`` says why
    SUPERSEDED = "superseded"  # an older version: the file's bytes changed since


class Base(DeclarativeBase):
    """Declarative base carrying the catalog's MetaData and naming convention."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Volume(Base):
    """A named group of masters (typically one scanned book or box)."""

    __tablename__ = "volumes"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    #: the volume's default colour reference (`archcolor reference set`), None: none
    reference_id: Mapped[int | None] = mapped_column(ForeignKey("colour_references.id"))

    scans: Mapped[list[Scan]] = relationship(back_populates="volume")
    reference: Mapped[ColourReference | None] = relationship()


class ColourReference(Base):
    """A colour reference image, identified by the sha256 of its file's bytes.

    ``path`` is where it was last given (absolute); workers read it there and check its sha256
    before every page it colours.
    """

    __tablename__ = "colour_references"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    sha256: Mapped[str] = mapped_column(String(64), unique=True)
    path: Mapped[str] = mapped_column(String(4096))
    file_name: Mapped[str] = mapped_column(String(1024))
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)


class Scan(Base):
    """One image page of one version of a master file (or one rejected file)."""

    __tablename__ = "scans"
    __table_args__ = (
        UniqueConstraint("volume_id", "path", "version", "page_index"),
        Index("ix_scans_volume_id_path", "volume_id", "path"),
        CheckConstraint(
            "state IN ('ingested', 'rejected', 'superseded')",
            name="state",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    volume_id: Mapped[int] = mapped_column(ForeignKey("volumes.id"))
    #: POSIX path of the file relative to ``root``
    path: Mapped[str] = mapped_column(String(1024))
    #: absolute path of the ingest root the file was found under
    root: Mapped[str] = mapped_column(String(1024))
    #: 1 for the first bytes seen at this path, +1 each time they changed
    version: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(20), index=True)
    #: one line: why the file was rejected (None when ingested)
    reason: Mapped[str | None] = mapped_column(Text)
    superseded_by_id: Mapped[int | None] = mapped_column(ForeignKey("scans.id"))

    size: Mapped[int | None] = mapped_column(BigInteger)
    mtime: Mapped[datetime | None] = mapped_column(UtcDateTime())
    sha256: Mapped[str | None] = mapped_column(String(64), index=True)

    #: "classic" or "bigtiff"
    tiff_flavour: Mapped[str | None] = mapped_column(String(16))
    #: "little" or "big"
    byte_order: Mapped[str | None] = mapped_column(String(8))
    page_index: Mapped[int] = mapped_column(Integer, default=0)
    page_count: Mapped[int | None] = mapped_column(Integer)
    width: Mapped[int | None] = mapped_column(BigInteger)
    height: Mapped[int | None] = mapped_column(BigInteger)
    samples_per_pixel: Mapped[int | None] = mapped_column(Integer)
    bits_per_sample: Mapped[int | None] = mapped_column(Integer)
    photometric: Mapped[str | None] = mapped_column(String(32))
    compression: Mapped[str | None] = mapped_column(String(32))
    tiled: Mapped[bool | None] = mapped_column(Boolean)
    x_resolution: Mapped[float | None] = mapped_column(Float)
    y_resolution: Mapped[float | None] = mapped_column(Float)
    resolution_unit: Mapped[str | None] = mapped_column(String(16))
    icc_present: Mapped[bool | None] = mapped_column(Boolean)
    orientation: Mapped[int | None] = mapped_column(Integer)
    #: byte offset of this page's IFD in the file (the worker opens the page there); None for
    #: rows catalogued before it was recorded (the page is then found by its index)
    ifd_offset: Mapped[int | None] = mapped_column(BigInteger)
    #: reduced-resolution subfiles (thumbnails, pyramid levels) in the file, not catalogued
    skipped_reduced: Mapped[int] = mapped_column(Integer, default=0)

    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    volume: Mapped[Volume] = relationship(back_populates="scans")
    events: Mapped[list[Event]] = relationship(
        back_populates="scan", order_by="Event.id", cascade="all, delete-orphan"
    )
    superseded_by: Mapped[Scan | None] = relationship(remote_side="Scan.id")


class Event(Base):
    """A PREMIS-like event: something archcolor did to or found about a scan."""

    __tablename__ = "events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), index=True)
    #: an :class:`archive_colorizer.provenance.EventType` value
    type: Mapped[str] = mapped_column(String(40), index=True)
    #: an :class:`archive_colorizer.provenance.Outcome` value
    outcome: Mapped[str] = mapped_column(String(16))
    detail: Mapped[str] = mapped_column(Text, default="")
    #: "archcolor <version>"
    agent: Mapped[str] = mapped_column(String(100))
    occurred_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    scan: Mapped[Scan] = relationship(back_populates="events")


class JobState(StrEnum):
    """Where a job stands in the queue."""

    PENDING = "pending"  # waiting for a worker
    RUNNING = "running"  # claimed: a worker holds its lease
    DONE = "done"  # finished; its derivative is registered
    FAILED = "failed"  # a transient error; retried once ``not_before`` has passed
    DEAD = "dead"  # permanent error or out of attempts; ``last_error`` says why


#: the claimable states as literal SQL (a partial index is used only for a literal predicate)
CLAIMABLE_SQL = "state IN ('pending', 'failed')"


class Job(Base):
    """One unit of work: colorize one scan with one model and one parameter set."""

    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_state_not_before", "state", "not_before"),
        # the claim query walks this in id order: only claimable rows, however many are done
        Index(
            "ix_jobs_claimable",
            "id",
            postgresql_where=text(CLAIMABLE_SQL),
            sqlite_where=text(CLAIMABLE_SQL),
        ),
        CheckConstraint(
            "state IN ('pending', 'running', 'done', 'failed', 'dead')",
            name="state",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), index=True)
    model_name: Mapped[str] = mapped_column(String(200))
    weights_sha256: Mapped[str] = mapped_column(String(64))
    #: everything besides inputs and model the output depends on (ColorizeParams.as_dict())
    params: Mapped[dict[str, Any]] = mapped_column(PortableJson)
    #: sha256 of the canonical JSON of ``params``
    params_hash: Mapped[str] = mapped_column(String(64))
    pipeline_version: Mapped[int] = mapped_column(Integer)
    #: sha256 over scan, master sha256, page, weights sha256, params hash, pipeline version
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    #: 1, +1 each time the job is re-run on purpose (--force, --repair): names a new derivative
    generation: Mapped[int] = mapped_column(Integer, default=1)
    state: Mapped[str] = mapped_column(String(16), default=JobState.PENDING)
    #: claims so far in this generation (a claim whose lease expired counts)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    #: a failed job is not claimed before this time (retry backoff)
    not_before: Mapped[datetime | None] = mapped_column(UtcDateTime())
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime())
    worker_id: Mapped[str | None] = mapped_column(String(200))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    last_error: Mapped[str | None] = mapped_column(Text)
    #: when this generation was queued (recorded in the derivative's metadata)
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime())
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow, onupdate=utcnow)

    scan: Mapped[Scan] = relationship()
    derivatives: Mapped[list[Derivative]] = relationship(
        back_populates="job", order_by="Derivative.id"
    )


class Derivative(Base):
    """A colorized file in the store, produced by a job."""

    __tablename__ = "derivatives"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    job_id: Mapped[int] = mapped_column(ForeignKey("jobs.id"), index=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), index=True)
    #: POSIX path relative to the store
    path: Mapped[str] = mapped_column(String(1024))
    sha256: Mapped[str] = mapped_column(String(64))
    width: Mapped[int] = mapped_column(BigInteger)
    height: Mapped[int] = mapped_column(BigInteger)
    bytes: Mapped[int] = mapped_column(BigInteger)
    generation: Mapped[int] = mapped_column(Integer, default=1)
    #: False once a newer derivative of the same job replaced it (kept as history)
    current: Mapped[bool] = mapped_column(Boolean, default=True)
    #: W3C PROV-style record (see archive_colorizer.provenance.derivative_provenance)
    provenance: Mapped[dict[str, Any]] = mapped_column(PortableJson)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)

    job: Mapped[Job] = relationship(back_populates="derivatives")
    scan: Mapped[Scan] = relationship()


#: the "one current hint set per scan" predicate as literal SQL (for the partial unique index)
CURRENT_HINT_SET_SQL = "is_current"


class HintSet(Base):
    """A curator's colour hints for one scan (points and strokes in displayed pixels).

    Rows are never updated except to end them: a new import for the scan makes a new current
    row and ends the old one (``is_current`` False, ``ended_at`` set); ``archcolor hints
    clear`` ends the current row without a successor. Who and when are recorded here and as
    ``hint-import`` / ``hint-clear`` events of the scan.
    """

    __tablename__ = "hint_sets"
    __table_args__ = (
        Index(
            "uq_hint_sets_scan_id_current",
            "scan_id",
            unique=True,
            postgresql_where=text(CURRENT_HINT_SET_SQL),
            sqlite_where=text(CURRENT_HINT_SET_SQL),
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scan_id: Mapped[int] = mapped_column(ForeignKey("scans.id"), index=True)
    #: sha256 of the canonical JSON of ``hints`` (what a derivative made with them depends on)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    #: the hints in their canonical form (see ``services.hints``)
    hints: Mapped[list[Any]] = mapped_column(PortableJson)
    hint_count: Mapped[int] = mapped_column(Integer)
    #: who chose the colours (the file's ``author``, ``--author`` or the login name)
    author: Mapped[str] = mapped_column(String(255))
    note: Mapped[str | None] = mapped_column(Text)
    #: name of the file the set was imported from
    source: Mapped[str | None] = mapped_column(String(1024))
    is_current: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime(), default=utcnow)
    #: when a newer import replaced it or it was cleared (None while current)
    ended_at: Mapped[datetime | None] = mapped_column(UtcDateTime())

    scan: Mapped[Scan] = relationship()
