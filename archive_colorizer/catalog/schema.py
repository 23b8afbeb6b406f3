"""The catalog schema: typed SQLAlchemy ORM classes for volumes, scans and their events.

One ``Scan`` row per image page of a master file (a rejected file gets one row, page 0).
A file is identified by ``(volume, path)``; each time its bytes change a new *version* of its
rows is added and the old rows become ``superseded`` (pointing at their replacement), so history
is never overwritten. ``Event`` rows are PREMIS-like: what happened to a scan, when, by which
agent, with which outcome.

Timestamps are timezone-aware UTC on every database (:class:`UtcDateTime`). Constraint names
follow :data:`NAMING_CONVENTION`, so Alembic migrations can refer to them on SQLite and PostgreSQL.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import (
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
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.types import TypeDecorator

NAMING_CONVENTION: dict[str, str] = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: 64-bit ids on PostgreSQL; plain INTEGER on SQLite, where only that is an auto-increment rowid
BigId = BigInteger().with_variant(Integer(), "sqlite")


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

    scans: Mapped[list[Scan]] = relationship(back_populates="volume")


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
