"""`archcolor ingest`: catalogue master files with fixity and format facts.

For each file under the given paths (sorted; see :mod:`archive_colorizer.services.walk`):

1. hash it once, streamed (sha256) — the bytes are the truth, mtimes are never trusted;
2. same sha256 as the current version at that (volume, path) → **unchanged**, nothing added
   (a previously rejected file is re-examined: if it now passes, e.g. after raising
   ``--pixel-limit``, it is ingested as a new version);
3. otherwise read the format facts from the TIFF tags (pixels are never decoded) and add one
   ``ingested`` scan row per image page, with ``message-digest-calculation``,
   ``format-identification`` and ``ingestion`` events;
4. different bytes at a known path → **changed**: a new version (``version`` + 1) whose rows carry
   a ``replacement`` event; the old rows are kept, marked ``superseded`` and point at the new ones;
5. bytes already catalogued at another path → **duplicates**: catalogued all the same (both paths
   exist in the archive and both need fixity), with a ``duplicate-detection`` event naming the
   other scan;
6. archcolor's own files (a SQLite catalog and its journals, the store) are left out when they
   live inside a volume folder; archcolor's own outputs found there (export manifests and bag tag
   files, files carrying archcolor's XMP: derivatives, access copies) → **skipped_own**: not
   catalogued, named with the reason (:func:`archive_colorizer.services.guard.own_output_reason`);
7. anything unusable (not a TIFF, truncated, corrupt, unreadable, symlink loop, a symbolic link
   leaving the folder without ``follow_links``, over the pixel limit, ...) → **rejected**: one
   ``rejected`` row (page 0) with a one-line reason and a ``rejection`` event (links refused are
   also counted in ``links_refused``). The run always goes on.

Each file counts in exactly one of ingested / unchanged / changed / duplicates / rejected /
skipped_own.
Writes are committed in batches (a crash loses at most the current batch, and a re-run redoes it).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from sqlalchemy import Engine, bindparam, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from archive_colorizer.catalog import repository
from archive_colorizer.catalog.engine import catalog_url, writer
from archive_colorizer.catalog.schema import Scan, ScanState, Volume
from archive_colorizer.config import Settings
from archive_colorizer.errors import CatalogError, MasterError
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.tiff_facts import PageFacts, TiffFacts, read_facts
from archive_colorizer.provenance import EventType, Outcome
from archive_colorizer.services.guard import own_output_reason
from archive_colorizer.services.walk import Candidate, ingest_root, walk

#: commit after this many files, this many bytes hashed, or this many seconds, whichever first
BATCH_FILES = 200
BATCH_BYTES = 1 << 30
BATCH_SECONDS = 2.0
#: longest reason stored on a rejected row
MAX_REASON = 500
#: longest relative path the catalog stores (scans.path is VARCHAR(1024))
MAX_PATH = 1024


class FileStatus(StrEnum):
    """What ingest did with one file."""

    INGESTED = "ingested"
    UNCHANGED = "unchanged"
    CHANGED = "changed"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"
    SKIPPED = "skipped"  # archcolor's own output: not catalogued


@dataclass(frozen=True)
class FileOutcome:
    """The result for one file."""

    volume: str
    path: str  # relative to its ingest root
    status: FileStatus
    size: int
    reason: str | None = None  # rejections; for duplicates, what it duplicates
    pages: int = 0  # scan rows added as ingested
    link_refused: bool = False  # a symbolic link leaving the folder, not followed


@dataclass
class IngestSummary:
    """Counts for one run; every file is counted in exactly one of the first six."""

    ingested: int = 0
    unchanged: int = 0
    changed: int = 0
    duplicates: int = 0
    rejected: int = 0
    skipped_own: int = 0  # archcolor's own outputs (manifests, derivatives): not catalogued
    links_refused: int = 0  # of the rejected: symbolic links leaving the folder, not followed
    bytes: int = 0  # bytes read (hashed) this run
    files: int = 0
    pages: int = 0  # image pages catalogued (scan rows added as ingested)
    skipped_reduced: int = 0  # reduced-resolution subfiles seen in new files, not catalogued
    volumes: list[str] = field(default_factory=list)

    def count(self, outcome: FileOutcome) -> None:
        self.files += 1
        self.pages += outcome.pages
        match outcome.status:
            case FileStatus.INGESTED:
                self.ingested += 1
            case FileStatus.UNCHANGED:
                self.unchanged += 1
            case FileStatus.CHANGED:
                self.changed += 1
            case FileStatus.DUPLICATE:
                self.duplicates += 1
            case FileStatus.REJECTED:
                self.rejected += 1
                self.links_refused += outcome.link_refused
            case FileStatus.SKIPPED:
                self.skipped_own += 1

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


@dataclass(frozen=True)
class IngestPlan:
    """What a run will look at: (volume name, candidate) pairs in processing order."""

    items: list[tuple[str, Candidate]]

    @property
    def files(self) -> int:
        return len(self.items)

    @property
    def bytes(self) -> int:
        return sum(candidate.size for _, candidate in self.items)


def default_volume_name(path: Path) -> str:
    """The volume a PATH goes to without --volume: the name of its folder (a file's parent)."""
    root, _ = ingest_root(path)
    return root.name or str(root)


def own_files(settings: Settings) -> frozenset[str]:
    """Real paths archcolor writes itself (SQLite catalog and its journals, the store): never
    ingested, even when they live inside a volume folder."""
    paths = [os.path.realpath(settings.store)]
    url = catalog_url(settings.database_url)  # a malformed or unusable URL: one line, up front
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        name = url.database
        if url.query.get("uri") == "true" and name.startswith("file:"):
            name = name[len("file:") :]  # sqlite:///file:path?mode=ro&uri=true
        database = os.path.realpath(name)
        paths += [database] + [database + suffix for suffix in ("-wal", "-shm", "-journal")]
    return frozenset(paths)


def plan(
    paths: Sequence[Path],
    volume: str | None = None,
    *,
    settings: Settings | None = None,
    follow_links: bool = False,
) -> IngestPlan:
    """Walk ``paths`` (each into ``volume`` or its own default volume), leaving out archcolor's
    own files; raise PathNotFoundError before anything is read if a path does not exist.
    ``follow_links``: follow symbolic links that leave the folder (refused by default)."""
    names = [volume or default_volume_name(path) for path in paths]
    exclude = own_files(settings) if settings is not None else frozenset()
    items: list[tuple[str, Candidate]] = []
    for name, path in zip(names, paths, strict=True):
        items.extend(
            (name, candidate)
            for candidate in walk(path, exclude=exclude, follow_links=follow_links)
        )
    return IngestPlan(items)


def ingest(
    engine: Engine,
    settings: Settings,
    paths: Sequence[Path],
    *,
    volume: str | None = None,
    on_file: Callable[[FileOutcome], None] | None = None,
    prepared: IngestPlan | None = None,
    follow_links: bool = False,
) -> IngestSummary:
    """Catalogue every file under ``paths``; call ``on_file`` after each one."""
    work = (
        prepared
        if prepared is not None
        else plan(paths, volume, settings=settings, follow_links=follow_links)
    )
    summary = IngestSummary()
    with Session(writer(engine), expire_on_commit=False) as session:
        run = _Run(session, settings)
        try:
            for volume_name, candidate in work.items:
                outcome = run.file(volume_name, candidate)
                summary.count(outcome)
                summary.bytes += run.last_bytes
                summary.skipped_reduced += run.last_skipped_reduced
                if volume_name not in summary.volumes:
                    summary.volumes.append(volume_name)
                run.maybe_commit()
                if on_file is not None:
                    on_file(outcome)
            session.commit()
        except IntegrityError as error:
            session.rollback()
            raise CatalogError(
                "another process changed the same catalog entries at the same time "
                f"({str(error.orig).strip().splitlines()[0]}); run the ingest again — files "
                "already committed will count as unchanged"
            ) from error
    return summary


def one_line(text: str) -> str:
    """A reason on one line, at most MAX_REASON characters."""
    line = " ".join(text.split())
    return line if len(line) <= MAX_REASON else line[: MAX_REASON - 1] + "…"


def storable(text: str) -> str:
    """``text`` with undecodable file-name bytes shown as escapes (every database accepts it)."""
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


class _Run:
    """State of one ingest run: the session, per-volume caches and the batch."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session = session
        self.settings = settings
        self.volumes: dict[str, Volume] = {}
        self.current: dict[str, dict[str, list[Scan]]] = {}
        self.pending_files = 0
        self.pending_bytes = 0
        self.batch_started = time.monotonic()
        self.last_bytes = 0
        self.last_skipped_reduced = 0
        #: built once: current ingested scans with a given sha256 (duplicate detection)
        self.same_sha256 = (
            select(Scan)
            .where(Scan.sha256 == bindparam("sha256"), Scan.state == ScanState.INGESTED)
            .order_by(Scan.id)
        )
        #: first page of each file ingested in this run, by sha256 (not flushed yet, maybe)
        self.added: dict[str, list[Scan]] = {}

    # --- batching --------------------------------------------------------------------------

    def maybe_commit(self) -> None:
        self.pending_files += 1
        self.pending_bytes += self.last_bytes
        if (
            self.pending_files >= BATCH_FILES
            or self.pending_bytes >= BATCH_BYTES
            or time.monotonic() - self.batch_started >= BATCH_SECONDS
        ):
            self.session.commit()
            self.pending_files = 0
            self.pending_bytes = 0
            self.batch_started = time.monotonic()

    # --- one file --------------------------------------------------------------------------

    def _volume(self, name: str) -> tuple[Volume, dict[str, list[Scan]]]:
        if name not in self.volumes:
            volume = repository.get_or_create_volume(self.session, name)
            self.volumes[name] = volume
            self.current[name] = repository.current_files(self.session, volume)
        return self.volumes[name], self.current[name]

    def file(self, volume_name: str, candidate: Candidate) -> FileOutcome:
        self.last_bytes = 0
        self.last_skipped_reduced = 0
        volume, current = self._volume(volume_name)
        relative = storable(candidate.relative)
        previous = current.get(relative)
        root = storable(str(candidate.root))

        problem = candidate.problem
        if problem is None and relative != candidate.relative:
            problem = "file name is not valid UTF-8; rename the file"
        if len(relative) > MAX_PATH:
            problem = f"path longer than {MAX_PATH} characters; shorten the folder names"
            relative = relative[: MAX_PATH - 1] + "…"
            previous = current.get(relative)
        sha256: str | None = None
        size = candidate.size
        if problem is None:
            own = own_output_reason(candidate.path, candidate.size)
            if own is not None:
                return FileOutcome(volume_name, relative, FileStatus.SKIPPED, size, own)
            try:
                sha256, size = sha256_file(candidate.path)
                self.last_bytes = size
            except OSError as error:
                problem = f"unreadable: {error.strerror or error}"
        if problem is not None:
            problem = one_line(problem)
        mtime = _mtime(candidate)

        # a rejected file with unchanged bytes is read again below: it may pass now
        if (
            previous is not None
            and _same_content(previous, sha256, problem)
            and (previous[0].state == ScanState.INGESTED or problem is not None)
        ):
            self._note_root(previous, root)
            return FileOutcome(volume_name, relative, FileStatus.UNCHANGED, size)

        facts: TiffFacts | None = None
        if problem is None:
            facts, problem = self._facts(candidate)
        if problem is not None:
            reason = one_line(problem)
            if previous is not None and _same_content(previous, sha256, reason):
                # a rejected file whose bytes did not change and that still fails
                self._note_root(previous, root)
                return FileOutcome(volume_name, relative, FileStatus.UNCHANGED, size)
            self._add_rejected(volume, relative, root, previous, size, mtime, sha256, reason)
            return FileOutcome(
                volume_name,
                relative,
                FileStatus.REJECTED,
                size,
                reason,
                link_refused=candidate.link_refused,
            )

        assert facts is not None and sha256 is not None
        self.last_skipped_reduced = facts.skipped_reduced
        replaces_ingested = previous is not None and previous[0].state == ScanState.INGESTED
        rows = self._add_pages(volume, relative, root, previous, size, mtime, sha256, facts)
        return self._ingested(volume, volume_name, relative, size, sha256, rows, replaces_ingested)

    def _facts(self, candidate: Candidate) -> tuple[TiffFacts | None, str | None]:
        """``(facts, None)`` of a TIFF with image pages, else ``(None, why not)``."""
        try:
            facts = read_facts(
                candidate.path,
                pixel_limit=self.settings.pixel_limit,
                page_limit=self.settings.page_limit,
            )
        except MasterError as error:
            return None, str(error)
        except Exception as error:  # a reader bug must not stop the run
            return None, f"cannot read the TIFF structure ({type(error).__name__}: {error})"
        if not facts.pages:
            return None, "no image pages: the TIFF holds only reduced-resolution subfiles"
        return facts, None

    def _ingested(
        self,
        volume: Volume,
        volume_name: str,
        relative: str,
        size: int,
        sha256: str,
        rows: list[Scan],
        replaces_ingested: bool,
    ) -> FileOutcome:
        """The outcome of a file whose pages were catalogued as ``rows`` (other files with the
        same bytes noted)."""
        others = self._others_with(sha256, volume, relative)
        status = FileStatus.INGESTED
        note: str | None = None
        if replaces_ingested:
            status = FileStatus.CHANGED
        if others:
            first = others[0]
            note = (
                f"same content (sha256 {sha256[:12]}…) as scan #{first.id} "
                f"{first.volume.name}/{first.path}"
                + (f" and {len(others) - 1} more" if len(others) > 1 else "")
            )
            for row in rows:
                repository.add_event(
                    row, EventType.DUPLICATE_DETECTION, Outcome.WARNING, note, session=self.session
                )
            if status == FileStatus.INGESTED:
                status = FileStatus.DUPLICATE
        return FileOutcome(volume_name, relative, status, size, note, pages=len(rows))

    def _others_with(self, sha256: str, volume: Volume, relative: str) -> list[Scan]:
        """Current ingested scans of other files with these bytes: catalogued before this batch
        (a query without flushing) or added in this run (remembered)."""
        with self.session.no_autoflush:
            stored = self.session.scalars(self.same_sha256, {"sha256": sha256}).all()
        found = {
            id(row): row
            for row in stored
            if row.state == ScanState.INGESTED
            and (row.volume_id != volume.id or row.path != relative)
        }
        for row in self.added.get(sha256, []):
            if row.state == ScanState.INGESTED and (
                row.volume is not volume or row.path != relative
            ):
                found.setdefault(id(row), row)
        others = sorted(found.values(), key=lambda row: (row.id is None, row.id or 0))
        if any(row.id is None for row in others):
            self.session.flush()  # a duplicate within this batch: give its original an id
            others.sort(key=lambda row: row.id)
        return others

    def _note_root(self, rows: list[Scan], root: str) -> None:
        for row in rows:
            if row.root != root:  # the same volume mounted elsewhere: remember where it is now
                row.root = root

    def _next_version(self, previous: list[Scan] | None) -> int:
        return previous[0].version + 1 if previous else 1

    def _supersede(self, previous: list[Scan] | None, new_rows: list[Scan]) -> None:
        if not previous:
            return
        old_first = previous[0]
        detail = (
            f"version {new_rows[0].version} replaces version {old_first.version} "
            f"(scan #{old_first.id}, "
            + (f"sha256 {old_first.sha256[:12]}…" if old_first.sha256 else "never hashed")
            + f", was {old_first.state})"
        )
        by_page = {row.page_index: row for row in new_rows}
        for old in previous:
            old.state = ScanState.SUPERSEDED
            old.superseded_by = by_page.get(old.page_index, new_rows[0])
        for row in new_rows:
            repository.add_event(
                row, EventType.REPLACEMENT, Outcome.SUCCESS, detail, session=self.session
            )

    def _add_rejected(
        self,
        volume: Volume,
        relative: str,
        root: str,
        previous: list[Scan] | None,
        size: int,
        mtime: datetime | None,
        sha256: str | None,
        reason: str,
    ) -> None:
        row = Scan(
            volume=volume,
            path=relative,
            root=root,
            version=self._next_version(previous),
            state=ScanState.REJECTED,
            reason=reason,
            size=size if sha256 is not None else (size or None),
            mtime=mtime,
            sha256=sha256,
            page_index=0,
            skipped_reduced=0,
        )
        self.session.add(row)
        if sha256 is not None:
            self._digest_event(row, sha256, size)
        repository.add_event(
            row, EventType.REJECTION, Outcome.FAILURE, reason, session=self.session
        )
        self._supersede(previous, [row])
        self.current[volume.name][relative] = [row]

    def _digest_event(self, row: Scan, sha256: str, size: int | None) -> None:
        repository.add_event(
            row,
            EventType.MESSAGE_DIGEST_CALCULATION,
            Outcome.SUCCESS,
            f"sha256 {sha256} over {size} bytes",
            session=self.session,
        )

    def _add_pages(
        self,
        volume: Volume,
        relative: str,
        root: str,
        previous: list[Scan] | None,
        size: int,
        mtime: datetime | None,
        sha256: str,
        facts: TiffFacts,
    ) -> list[Scan]:
        version = self._next_version(previous)
        rows: list[Scan] = []
        for page in facts.pages:
            row = Scan(
                volume=volume,
                path=relative,
                root=root,
                version=version,
                state=ScanState.INGESTED,
                reason=None,
                size=size,
                mtime=mtime,
                sha256=sha256,
                tiff_flavour=facts.flavour,
                byte_order=facts.byte_order,
                page_index=page.page_index,
                page_count=page.page_count,
                width=page.width,
                height=page.height,
                samples_per_pixel=page.samples_per_pixel,
                bits_per_sample=page.bits_per_sample,
                photometric=page.photometric,
                compression=page.compression,
                tiled=page.tiled,
                x_resolution=page.x_resolution,
                y_resolution=page.y_resolution,
                resolution_unit=page.resolution_unit,
                icc_present=page.icc_present,
                orientation=page.orientation,
                ifd_offset=page.ifd_offset,
                skipped_reduced=facts.skipped_reduced,
            )
            self.session.add(row)
            self._digest_event(row, sha256, size)
            repository.add_event(
                row,
                EventType.FORMAT_IDENTIFICATION,
                Outcome.SUCCESS,
                format_description(facts, page),
                session=self.session,
            )
            ingestion = f"catalogued {volume.name}/{relative} page {page.page_index + 1} of "
            ingestion += f"{page.page_count} from {root}"
            if facts.skipped_reduced:
                ingestion += (
                    f"; {facts.skipped_reduced} reduced-resolution subfile(s) in the file skipped"
                )
            repository.add_event(
                row, EventType.INGESTION, Outcome.SUCCESS, ingestion, session=self.session
            )
            rows.append(row)
        self._supersede(previous, rows)
        self.added.setdefault(sha256, []).append(rows[0])
        self.current[volume.name][relative] = rows
        return rows


def format_description(facts: TiffFacts, page: PageFacts) -> str:
    """One line describing a page's format, for the format-identification event."""
    flavour = "BigTIFF" if facts.flavour == "bigtiff" else "TIFF"
    layout = "tiled" if page.tiled else "striped"
    samples = f"{page.samples_per_pixel} sample" + ("s" if page.samples_per_pixel != 1 else "")
    return (
        f"{flavour} ({facts.byte_order}-endian), page {page.page_index + 1} of {page.page_count}: "
        f"{page.width}x{page.height}, {page.bits_per_sample}-bit {page.photometric}, {samples}, "
        f"{page.compression}, {layout}, ICC {'present' if page.icc_present else 'absent'}"
    )


def _same_content(previous: list[Scan], sha256: str | None, problem: str | None) -> bool:
    """Whether the file still holds what its current version recorded."""
    head = previous[0]
    if sha256 is not None:
        return head.sha256 == sha256
    # never hashable (unreadable, symlink loop, ...): the same only if it failed the same way
    return head.sha256 is None and head.state == ScanState.REJECTED and head.reason == problem


def _mtime(candidate: Candidate) -> datetime | None:
    if candidate.mtime_ns is None:
        return None
    return datetime.fromtimestamp(candidate.mtime_ns / 1e9, UTC)


__all__ = [
    "FileOutcome",
    "FileStatus",
    "IngestPlan",
    "IngestSummary",
    "default_volume_name",
    "ingest",
    "plan",
]
