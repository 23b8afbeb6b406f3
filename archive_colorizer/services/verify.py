"""`archcolor verify`: re-hash catalogued masters and (optionally) decode every page.

Every current ingested file is hashed once (streamed) and compared with its recorded sha256;
each of its scan rows gets a ``fixity-check`` event (success, or failure saying the file is
missing, unreadable or changed). With ``decode``, each page of an intact file is also fully
decoded in a child process under a time and memory limit and gets a ``validation`` event, so a
hostile file can fail the check but not hang or exhaust the machine. Nothing is ever written to
the masters; the catalog rows are not changed (a changed file is re-catalogued by `ingest`).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass
from enum import StrEnum
from itertools import groupby
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from archive_colorizer.catalog import repository
from archive_colorizer.catalog.engine import writer
from archive_colorizer.catalog.schema import Scan, ScanState, Volume
from archive_colorizer.config import Settings
from archive_colorizer.errors import MasterError
from archive_colorizer.imaging.decode_check import (
    DEFAULT_MEMORY_LIMIT_BYTES,
    DEFAULT_TIMEOUT_S,
    decode_check,
)
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.tiff_facts import TiffFacts, read_facts
from archive_colorizer.provenance import EventType, Outcome

__all__ = [
    "VerifyOutcome",
]

#: commit the recorded events after this many files or seconds
BATCH_FILES = 200
BATCH_SECONDS = 2.0


class FixityStatus(StrEnum):
    """What verify found for one file."""

    OK = "ok"
    MISSING = "missing"
    UNREADABLE = "unreadable"
    CHANGED = "changed"
    UNDECODABLE = "undecodable"


@dataclass(frozen=True)
class VerifyOutcome:
    """The result for one file."""

    volume: str
    path: str
    status: FixityStatus
    detail: str
    pages: int
    size: int  # recorded size of the file


@dataclass
class VerifySummary:
    """Counts for one run: each file counts in exactly one of ok/missing/unreadable/changed/
    undecodable; ``bytes`` were re-hashed; ``pages`` scan rows were checked."""

    files: int = 0
    pages: int = 0
    ok: int = 0
    missing: int = 0
    unreadable: int = 0
    changed: int = 0
    undecodable: int = 0
    bytes: int = 0

    @property
    def failures(self) -> int:
        return self.missing + self.unreadable + self.changed + self.undecodable

    def as_dict(self) -> dict[str, int]:
        return asdict(self)


@dataclass(frozen=True)
class DecodeLimits:
    """Limits of the child process decoding one page."""

    timeout_s: float = DEFAULT_TIMEOUT_S
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES


def verify(
    engine: Engine,
    settings: Settings,
    *,
    volume: str | None = None,
    decode: bool = False,
    limits: DecodeLimits | None = None,
    on_file: Callable[[VerifyOutcome], None] | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> VerifySummary:
    """Check every current ingested file (of ``volume``, or all); record events; summarise.

    ``on_start(files, bytes)`` is called once the work is known; ``on_file`` after each file.
    """
    limits = limits or DecodeLimits()
    summary = VerifySummary()
    with Session(writer(engine), expire_on_commit=False) as session:
        query = (
            select(Scan)
            .join(Scan.volume)
            .where(Scan.state == ScanState.INGESTED)
            .order_by(Volume.name, Scan.path, Scan.page_index)
        )
        if volume is not None:
            query = query.where(Scan.volume_id == repository.require_volume(session, volume).id)
        files = list(_by_file(session.scalars(query).all()))
        if on_start is not None:
            on_start(len(files), sum(rows[0].size or 0 for rows in files))
        pending, started = 0, time.monotonic()
        for rows_of_file in files:
            outcome, hashed = _check_file(session, settings, rows_of_file, decode, limits)
            summary.files += 1
            summary.pages += len(rows_of_file)
            summary.bytes += hashed
            setattr(summary, outcome.status.value, getattr(summary, outcome.status.value) + 1)
            pending += 1
            if pending >= BATCH_FILES or time.monotonic() - started >= BATCH_SECONDS:
                session.commit()
                pending, started = 0, time.monotonic()
            if on_file is not None:
                on_file(outcome)
        session.commit()
    return summary


def _by_file(rows: Sequence[Scan]) -> Iterator[list[Scan]]:
    for _, group in groupby(rows, key=lambda row: (row.volume_id, row.path)):
        yield list(group)


def _check_file(
    session: Session,
    settings: Settings,
    rows: list[Scan],
    decode: bool,
    limits: DecodeLimits,
) -> tuple[VerifyOutcome, int]:
    first = rows[0]
    path = Path(first.root) / first.path
    size = first.size or 0
    hashed = 0
    status = FixityStatus.OK
    if not path.exists():
        status = FixityStatus.MISSING
        detail = f"missing: {path} does not exist (recorded sha256 {first.sha256})"
    else:
        try:
            sha256, hashed = sha256_file(path)
        except OSError as error:
            status = FixityStatus.UNREADABLE
            detail = f"unreadable: {path}: {error.strerror or error}"
        else:
            if sha256 != first.sha256:
                status = FixityStatus.CHANGED
                detail = (
                    f"changed: sha256 is now {sha256} ({hashed} bytes), recorded {first.sha256} "
                    f"({first.size} bytes); run `archcolor ingest` to catalogue the new version"
                )
            else:
                detail = f"sha256 {sha256} matches ({hashed} bytes)"
    outcome = Outcome.SUCCESS if status == FixityStatus.OK else Outcome.FAILURE
    for row in rows:
        repository.add_event(row, EventType.FIXITY_CHECK, outcome, detail, session=session)

    if decode and status == FixityStatus.OK:
        failures = []
        facts: TiffFacts | MasterError
        try:  # the file's IFDs are walked once, not once per page
            facts = read_facts(
                path, pixel_limit=settings.pixel_limit, page_limit=settings.page_limit
            )
        except MasterError as error:
            facts = error
        for row in rows:
            try:
                if isinstance(facts, MasterError):
                    raise facts
                decode_check(
                    path,
                    page_index=row.page_index,
                    timeout_s=limits.timeout_s,
                    memory_limit_bytes=limits.memory_limit_bytes,
                    pixel_limit=settings.pixel_limit,
                    page_limit=settings.page_limit,
                    facts=facts,
                )
            except MasterError as error:
                message = " ".join(str(error).split())
                failures.append(f"page {row.page_index + 1}: {message}")
                repository.add_event(
                    row, EventType.VALIDATION, Outcome.FAILURE, message, session=session
                )
            else:
                repository.add_event(
                    row,
                    EventType.VALIDATION,
                    Outcome.SUCCESS,
                    f"page {row.page_index + 1} of {row.page_count} decodes fully",
                    session=session,
                )
        if failures:
            status = FixityStatus.UNDECODABLE
            detail = "undecodable: " + "; ".join(failures)
    session.flush()
    return VerifyOutcome(first.volume.name, first.path, status, detail, len(rows), size), hashed
