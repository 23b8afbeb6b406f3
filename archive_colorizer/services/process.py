"""`archcolor process --pending`: queue every page that lacks a derivative, colorize them.

1. **Enqueue** (:func:`enqueue`): for each current ingested scan (optionally of one volume), a
   job keyed by its *idempotency key* — sha256 over the scan, the master's sha256 and page, the
   model's weights sha256, the parameters' hash and the pipeline version. A key already queued
   or done is skipped (re-running is always safe). Every catalogued page has its own job and
   derivative, also when its bytes repeat another page's: replacing or deleting one copy never
   takes the derivative of another. (Catalogs written before the scan was part of the key keep
   their done jobs: a job under the old key still counts for the scan that owns it.)
   ``force`` re-runs done jobs (a new generation: new derivative file and row, the old ones
   kept as history); ``repair`` re-runs only done jobs whose current derivative file is
   missing or no longer matches its sha256.
2. **Work** (:mod:`archive_colorizer.services.worker`): workers claim jobs for their model,
   colorize the master page into a hidden staging file in the store
   (:mod:`archive_colorizer.services.store`), rename it into place (fsync'd) while holding the
   lease, then register the derivative, a ``colorization`` event and the job's ``done`` state in
   ONE transaction. A crash anywhere leaves either nothing registered (and a temporary file the
   next run sweeps) or a complete, registered derivative.
3. **Fixity** (:class:`ColorizeRunner`): the master's sha256 is checked against the catalog
   before colorizing and again, with its size, mtime, ctime and inode, after colorizing and
   before anything is published: a master that changed meanwhile fails the job (FixityError,
   dead) and nothing is published or registered, so a derivative's recorded source sha256 is
   always the sha256 of the bytes it was made from.

The model is loaded once per worker process (:class:`ColorizeRunnerFactory`).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, selectinload

from archive_colorizer import __version__
from archive_colorizer.catalog import queue
from archive_colorizer.catalog.queue import ClaimedJob, ClaimFilter
from archive_colorizer.catalog.schema import (
    Derivative,
    Event,
    Job,
    JobState,
    Scan,
    ScanState,
    Volume,
    utcnow,
)
from archive_colorizer.config import DEFAULT_PIXEL_LIMIT, DEFAULT_WORKER_MEMORY_MB
from archive_colorizer.errors import (
    FixityError,
    JobError,
    NotFoundError,
    PathNotFoundError,
    PermanentJobError,
    TransientJobError,
)
from archive_colorizer.imaging.atomic import fsync_directory
from archive_colorizer.imaging.hashing import FileSnapshot, changes_since, sha256_file, snapshot
from archive_colorizer.imaging.memory_cap import data_in_use, is_out_of_memory, memory_cap
from archive_colorizer.imaging.wash import WASH_DARKENING
from archive_colorizer.provenance import EventType, Outcome, agent, derivative_provenance
from archive_colorizer.services import store as store_layout
from archive_colorizer.services.colorize import PIPELINE_VERSION, ColorizeParams, colorize_master
from archive_colorizer.services.worker import WorkerContext

if TYPE_CHECKING:
    from archive_colorizer.inference.inferer import NetworkPredictor

__all__ = [
    "DEFAULT_MAX_ATTEMPTS",
    "ColorizeRunner",
    "ColorizeRunnerFactory",
    "EnqueueSummary",
    "ModelIdentity",
    "enqueue",
    "idempotency_key",
    "legacy_idempotency_key",
    "list_jobs",
    "params_hash",
    "progress",
    "resolve_model",
    "retry_jobs",
    "sweep_store",
]

DEFAULT_MAX_ATTEMPTS = 3
#: jobs inserted or looked up per statement
_BATCH = 500


@dataclass(frozen=True)
class ModelIdentity:
    """The model jobs are made for (read from its card; no weights loaded)."""

    name: str
    weights_sha256: str
    #: the render mode its card names (None: the card names none, i.e. ``luminance``)
    render: str | None = None
    #: the wash darkening its card names (None: the built-in value)
    wash_darkening: float | None = None


def resolve_model(name: str | None) -> ModelIdentity:
    """The installed model ``name`` (None: the default) as named in its card."""
    from archive_colorizer.inference import registry

    model = registry.find_model(name)
    return ModelIdentity(
        name=model.name,
        weights_sha256=model.card.weights_sha256,
        render=model.card.render,
        wash_darkening=model.card.wash_darkening,
    )


def params_hash(params: Mapping[str, Any]) -> str:
    """sha256 of the parameters' canonical JSON."""
    canonical = json.dumps(dict(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key(
    scan_id: int,
    master_sha256: str,
    page_index: int,
    weights_sha256: str,
    parameters_hash: str,
    pipeline: int,
) -> str:
    """The catalogued page and everything its derivative depends on, hashed: same key ⇔ same
    derivative of the same page (byte-identical pages at two paths have two keys)."""
    text = (
        f"scan {scan_id}\n{master_sha256}\n{page_index}\n{weights_sha256}\n"
        f"{parameters_hash}\n{pipeline}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def legacy_idempotency_key(
    master_sha256: str, page_index: int, weights_sha256: str, parameters_hash: str, pipeline: int
) -> str:
    """The key earlier archcolor releases wrote, without the scan: byte-identical pages shared one
    job, owned by the first scan. Still looked up so an upgraded catalog keeps its done jobs."""
    text = f"{master_sha256}\n{page_index}\n{weights_sha256}\n{parameters_hash}\n{pipeline}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class EnqueueSummary:
    """What enqueueing found and did."""

    scans: int = 0  # current ingested scans selected
    queued: int = 0  # new jobs
    requeued: int = 0  # done jobs re-run (--force / --repair)
    repaired: int = 0  # of which: derivative missing or changed
    already_done: int = 0
    in_queue: int = 0  # pending, running or failed already
    dead: int = 0  # dead jobs left alone (see `archcolor retry`)
    problems: list[str] = field(default_factory=list)


def _insert_ignoring_duplicates(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert jobs; rows whose key another process queued meanwhile are skipped. Returns the
    number inserted."""
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        insert(Job).on_conflict_do_nothing(index_elements=["idempotency_key"]).returning(Job.id)
    )
    return len(session.execute(statement, rows).all())


def _derivative_intact(store: Path, derivative: Derivative) -> str | None:
    """None when the file is there with its recorded sha256, else what is wrong."""
    try:
        path = store_layout.inside_store(store, derivative.path)
    except Exception as error:
        return str(error)
    if not path.is_file():
        return f"derivative {derivative.path} is missing from the store {store}"
    digest, _size = sha256_file(path)
    if digest != derivative.sha256:
        return (
            f"derivative {derivative.path} changed: sha256 {digest}, recorded {derivative.sha256}"
        )
    return None


def enqueue(
    engine: Engine,
    *,
    model: ModelIdentity,
    params: ColorizeParams,
    volume: str | None = None,
    force: bool = False,
    repair: bool = False,
    store: Path | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    limit: int | None = None,
) -> EnqueueSummary:
    """Queue a job for every selected scan without a done job for this model and parameters."""
    if repair and store is None:
        raise ValueError("repair needs the store to check derivatives in")
    parameters = params.as_dict()
    digest = params_hash(parameters)
    summary = EnqueueSummary()
    now = utcnow()
    with Session(queue.writer(engine)) as session, session.begin():
        query = (
            select(Scan)
            .join(Scan.volume)
            .where(Scan.state == ScanState.INGESTED, Scan.sha256.is_not(None))
            .order_by(Volume.name, Scan.path, Scan.page_index)
        )
        if volume is not None:
            from archive_colorizer.catalog.repository import require_volume

            query = query.where(Scan.volume_id == require_volume(session, volume).id)
        scans = session.scalars(query).all()
        summary.scans = len(scans)
        keyed: dict[str, Scan] = {}
        legacy: dict[str, str] = {}  # key → the key an older archcolor gave the same page
        for scan in scans:
            facts = (str(scan.sha256), scan.page_index, model.weights_sha256, digest)
            key = idempotency_key(scan.id, *facts, PIPELINE_VERSION)
            keyed[key] = scan
            legacy[key] = legacy_idempotency_key(*facts, PIPELINE_VERSION)
        keys = list(keyed)
        lookup = keys + sorted(set(legacy.values()))
        existing: dict[str, Job] = {}
        for start in range(0, len(lookup), _BATCH):
            chunk = lookup[start : start + _BATCH]
            for job in session.scalars(
                select(Job)
                .where(Job.idempotency_key.in_(chunk))
                .options(selectinload(Job.derivatives))
            ):
                existing[job.idempotency_key] = job
        new_rows: list[dict[str, Any]] = []
        for key in keys:
            scan = keyed[key]
            found = existing.get(key)
            if found is None:  # a job under the old key counts for the scan it was made for
                old = existing.get(legacy[key])
                found = old if old is not None and old.scan_id == scan.id else None
            if found is None:
                if limit is not None and summary.queued + len(new_rows) >= limit:
                    continue
                new_rows.append(
                    {
                        "scan_id": scan.id,
                        "model_name": model.name,
                        "weights_sha256": model.weights_sha256,
                        "params": parameters,
                        "params_hash": digest,
                        "pipeline_version": PIPELINE_VERSION,
                        "idempotency_key": key,
                        "generation": 1,
                        "state": str(JobState.PENDING),
                        "attempts": 0,
                        "max_attempts": max_attempts,
                        "queued_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
                continue
            job = found
            if job.state == JobState.DEAD:
                summary.dead += 1
            elif job.state != JobState.DONE:
                summary.in_queue += 1
            else:
                problem = None
                if repair and store is not None:
                    current = [d for d in job.derivatives if d.current]
                    problem = (
                        "no current derivative registered"
                        if not current
                        else _derivative_intact(store, current[-1])
                    )
                if force or problem is not None:
                    job.generation += 1
                    job.state = JobState.PENDING
                    job.attempts = 0
                    job.not_before = None
                    job.last_error = None
                    job.queued_at = now
                    job.finished_at = None
                    summary.requeued += 1
                    if problem is not None:
                        summary.repaired += 1
                        summary.problems.append(problem)
                        session.add(
                            Event(
                                scan_id=job.scan_id,
                                type=str(EventType.FIXITY_CHECK),
                                outcome=str(Outcome.FAILURE),
                                detail=f"{problem}; job {job.id} queued again (repair)",
                                agent=agent(),
                            )
                        )
                else:
                    summary.already_done += 1
        for start in range(0, len(new_rows), _BATCH):
            summary.queued += _insert_ignoring_duplicates(session, new_rows[start : start + _BATCH])
    return summary


def claim_filter(engine: Engine, model: ModelIdentity, volume: str | None) -> ClaimFilter:
    """The jobs workers of this run may take: this model's, of ``volume`` if given."""
    volume_id = None
    if volume is not None:
        from archive_colorizer.catalog.repository import require_volume

        with Session(engine) as session:
            volume_id = require_volume(session, volume).id
    return ClaimFilter(
        model_name=model.name, weights_sha256=model.weights_sha256, volume_id=volume_id
    )


def sweep_store(engine: Engine, store: Path) -> list[Path]:
    """Delete temporary files in the store left by workers that no longer hold their job."""
    with Session(engine) as session:
        running = {
            int(job_id): queue.worker_token(str(worker_id))
            for job_id, worker_id in session.execute(
                select(Job.id, Job.worker_id).where(
                    Job.state == JobState.RUNNING, Job.worker_id.is_not(None)
                )
            )
        }
    return store_layout.sweep_temporaries(store, lambda job_id, token: running.get(job_id) == token)


# --- the colorize runner ---------------------------------------------------------------------


@dataclass
class DerivativeResult:
    """A colorized page in its staging file, ready to be published and registered."""

    staging: Path
    final: Path
    relpath: PurePosixPath
    scan_id: int
    generation: int
    width: int
    height: int
    sha256: str
    size: int
    provenance: dict[str, Any]
    report: Mapping[str, Any]

    def publish(self) -> None:
        os.replace(self.staging, self.final)
        fsync_directory(self.final.parent)

    def record(self, session: Session, job: ClaimedJob) -> None:
        session.execute(
            update(Derivative)
            .where(Derivative.job_id == job.id, Derivative.current.is_(True))
            .values(current=False)
        )
        session.add(
            Derivative(
                job_id=job.id,
                scan_id=self.scan_id,
                path=self.relpath.as_posix(),
                sha256=self.sha256,
                width=self.width,
                height=self.height,
                bytes=self.size,
                generation=self.generation,
                current=True,
                provenance=self.provenance,
            )
        )
        session.add(
            Event(
                scan_id=self.scan_id,
                type=str(EventType.COLORIZATION),
                outcome=str(Outcome.SUCCESS),
                detail=(
                    f"job {job.id}: {self.relpath.as_posix()} ({self.width}x{self.height}, "
                    f"sha256 {self.sha256}) with model {job.model_name} "
                    f"(weights sha256 {job.weights_sha256})"
                ),
                agent=agent(),
            )
        )

    def discard(self) -> None:
        self.staging.unlink(missing_ok=True)


@dataclass(frozen=True)
class _ScanFacts:
    id: int
    volume: str
    path: str
    root: str
    page_index: int
    sha256: str
    width: int | None
    height: int | None
    ifd_offset: int | None = None


def _scan_facts(engine: Engine, scan_id: int) -> _ScanFacts:
    with Session(engine) as session:
        scan = session.get(Scan, scan_id, options=[selectinload(Scan.volume)])
        if scan is None or scan.sha256 is None:
            raise PermanentJobError(f"scan {scan_id} is no longer in the catalog")
        return _ScanFacts(
            id=scan.id,
            volume=scan.volume.name,
            path=scan.path,
            root=scan.root,
            page_index=scan.page_index,
            sha256=scan.sha256,
            width=scan.width,
            height=scan.height,
            ifd_offset=scan.ifd_offset,
        )


def params_from_job(job: ClaimedJob) -> ColorizeParams:
    """The ColorizeParams a job was queued with (PermanentJobError if this version differs)."""
    stored = dict(job.params)
    if job.pipeline_version != PIPELINE_VERSION:
        raise PermanentJobError(
            f"job {job.id} was queued for pipeline version {job.pipeline_version}, this archcolor "
            f"has {PIPELINE_VERSION}; run `archcolor process --pending` to queue the page again"
        )
    params = ColorizeParams(
        chroma_size=int(stored["chroma_size"]),
        lowpass=float(stored["lowpass"]),
        compression=str(stored["compression"]),
        paper_mask=bool(stored.get("paper_mask", False)),
        render=str(stored.get("render", "luminance")),
        wash_darkening=float(stored.get("wash_darkening", WASH_DARKENING)),
    )
    if params_hash(params.as_dict()) != job.params_hash:
        raise PermanentJobError(
            f"job {job.id}: its parameters {stored} are not reproducible by this archcolor "
            f"{__version__}; run `archcolor process --pending` to queue the page again"
        )
    return params


class ColorizeRunner:
    """Colorizes one job's page with a predictor loaded once for the worker process."""

    def __init__(
        self,
        store: Path,
        predictor: NetworkPredictor,
        device: str = "",
        *,
        pixel_limit: int = DEFAULT_PIXEL_LIMIT,
        memory_limit_bytes: int | None = DEFAULT_WORKER_MEMORY_MB * 1024 * 1024,
    ) -> None:
        self.store = Path(store)
        self.predictor = predictor
        self.device = device
        self.pixel_limit = pixel_limit
        #: RLIMIT_DATA cap while a page is colorized (None: no cap)
        self.memory_limit_bytes = memory_limit_bytes

    def __call__(self, job: ClaimedJob, ctx: WorkerContext) -> DerivativeResult:
        if job.weights_sha256 != self.predictor.weights_sha256:
            raise JobError(
                f"job {job.id} needs weights {job.weights_sha256[:12]}…, this worker has "
                f"{self.predictor.weights_sha256[:12]}… loaded"
            )
        scan = _scan_facts(ctx.engine, job.scan_id)
        master = Path(scan.root) / scan.path
        if not master.is_file():
            raise PathNotFoundError(
                f"{master}: master of scan {scan.id} is missing (volume not mounted? moved?); "
                f"make it available again and run `archcolor retry {job.id}`"
            )
        params = params_from_job(job)
        started = utcnow()
        with ctx.interruptible():
            before = snapshot(master)
        digest = before.sha256
        if digest != scan.sha256:
            raise FixityError(
                f"{master}: sha256 {digest} differs from {scan.sha256} recorded at ingest (scan "
                f"{scan.id}); the master changed — run `archcolor ingest` on its volume again"
            )
        relpath = store_layout.derivative_relpath(
            volume=scan.volume,
            master_path=scan.path,
            page_index=scan.page_index,
            model_name=job.model_name,
            idempotency_key=job.idempotency_key,
            generation=job.generation,
        )
        final = store_layout.inside_store(self.store, relpath)
        final.parent.mkdir(parents=True, exist_ok=True)
        staging = store_layout.staging_path(final, job.id, ctx.token)
        for stale in store_layout.stale_staging(final, ctx.token):  # from a killed attempt
            stale.unlink(missing_ok=True)
        master_facts = {
            "sha256": scan.sha256,
            "volume": scan.volume,
            "path": scan.path,
            "page_index": scan.page_index,
            "scan_id": scan.id,
        }
        card = getattr(self.predictor, "card", None)
        # the model card's network input cap shapes the output: record it with the parameters
        cap = getattr(card, "network_max_side", None)
        parameters = {**params.as_dict(), **({"network_max_side": cap} if cap else {})}
        embedded = {
            "source_name": PurePosixPath(scan.path).name,
            "source_sha256": scan.sha256,
            "model_name": job.model_name,
            "weights_sha256": job.weights_sha256,
            "parameters": parameters,
            "archcolor_version": __version__,
            # the generation's queue time, so retries of a job write identical bytes
            "datetime": job.queued_at,
            "entity": master_facts,
            "idempotency_key": job.idempotency_key,
            "generation": job.generation,
        }
        in_use = data_in_use()
        if self.memory_limit_bytes and in_use is not None and in_use >= self.memory_limit_bytes:
            raise TransientJobError(
                f"this worker already holds {in_use // 2**20} MiB, at or above its memory cap of "
                f"{self.memory_limit_bytes // 2**20} MiB (the model?); raise --worker-memory-mb / "
                f"ARCHCOLOR_WORKER_MEMORY_MB, then `archcolor retry {job.id}`"
            )
        try:
            with memory_cap(self.memory_limit_bytes), ctx.interruptible():
                result = colorize_master(
                    master,
                    staging,
                    self.predictor,
                    params,
                    page_index=scan.page_index,
                    provenance=embedded,
                    ifd_offset=scan.ifd_offset,
                    pixel_limit=self.pixel_limit,
                )
                _verify_unchanged(scan, before)
        except Exception as error:
            staging.unlink(missing_ok=True)
            if not (self.memory_limit_bytes and is_out_of_memory(error)):
                raise
            cap = self.memory_limit_bytes // (1024 * 1024)
            raise PermanentJobError(
                f"{master}: page {scan.page_index}: colorizing needed more memory than the "
                f"worker's memory cap of {cap} MiB ({_first_line(error)}); the file may be a "
                "decompression bomb (raise --worker-memory-mb / ARCHCOLOR_WORKER_MEMORY_MB only "
                "for a genuine page)"
            ) from error
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        ended = utcnow()
        record = derivative_provenance(
            master=master_facts,
            derivative={
                "path": relpath.as_posix(),
                "sha256": result.sha256,
                "width": result.width,
                "height": result.height,
                "bytes": result.bytes,
                "bits": result.bits,
            },
            parameters=parameters,
            model_name=job.model_name,
            weights_sha256=job.weights_sha256,
            started_at=started,
            ended_at=ended,
            activity={
                "job_id": job.id,
                "attempt": job.attempts,
                "generation": job.generation,
                "idempotency_key": job.idempotency_key,
                "worker": ctx.worker_id,
                "device": self.device or str(getattr(self.predictor, "device", "")),
                "stage_seconds": dict(result.stage_seconds),
            },
            model_card=_card_summary(card),
        )
        return DerivativeResult(
            staging=staging,
            final=final,
            relpath=relpath,
            scan_id=scan.id,
            generation=job.generation,
            width=result.width,
            height=result.height,
            sha256=result.sha256,
            size=result.bytes,
            provenance=record,
            report={
                "derivative": relpath.as_posix(),
                "pixels": result.width * result.height,
                "volume": scan.volume,
                "path": scan.path,
                "page_index": scan.page_index,
            },
        )


def _verify_unchanged(scan: _ScanFacts, before: FileSnapshot) -> None:
    """After colorizing, before publishing: the master still holds the bytes whose sha256 is
    recorded (and was not touched meanwhile), so the derivative was made from those bytes.

    The pipeline reads only the page's own strips or tiles (by offset), not every byte of the
    file, so the sha256 cannot be computed from what it read; instead the whole file is hashed
    before and again after colorizing, and its stat identity compared.
    """
    master = before.path
    try:
        digest, changed = changes_since(before)
    except FileNotFoundError:
        raise PathNotFoundError(
            f"{master}: master of scan {scan.id} disappeared while it was being colorized; "
            "nothing was published — make it available again and run `archcolor retry`"
        ) from None
    if digest != scan.sha256:
        raise FixityError(
            f"{master}: changed while it was being colorized: sha256 {digest}, recorded at "
            f"ingest {scan.sha256} (scan {scan.id}); nothing was published — run `archcolor "
            "ingest` on its volume again, then `archcolor process --pending`"
        )
    if changed:
        raise TransientJobError(
            f"{master}: changed while it was being read for colorizing ({', '.join(changed)} "
            f"changed; scan {scan.id}); its sha256 matches the catalog again, so nothing was "
            "published and the page will be colorized again"
        )


def _first_line(error: BaseException) -> str:
    text = (str(error).strip().splitlines() or [""])[0]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _card_summary(card: Any) -> dict[str, Any] | None:
    if card is None:
        return None
    summary: dict[str, Any] = {}
    for name in (
        "name",
        "arch",
        "weights_file",
        "weights_sha256",
        "version",
        "trained_on",
        "render",
        "wash_darkening",
    ):
        value = getattr(card, name, None)
        if value is not None and isinstance(value, str | int | float):
            summary[name] = value
    return summary or None


@dataclass(frozen=True)
class ColorizeRunnerFactory:
    """Builds a ColorizeRunner in a worker process (picklable; loads the model once)."""

    store: str
    model: str | None = None
    device: str = "auto"
    expected_weights_sha256: str | None = None
    pixel_limit: int = DEFAULT_PIXEL_LIMIT
    memory_limit_bytes: int | None = DEFAULT_WORKER_MEMORY_MB * 1024 * 1024

    def __call__(self) -> ColorizeRunner:
        from archive_colorizer.errors import ModelError
        from archive_colorizer.inference import registry

        predictor = registry.load_predictor(self.model, device=self.device)
        if (
            self.expected_weights_sha256 is not None
            and predictor.weights_sha256 != self.expected_weights_sha256
        ):
            raise ModelError(
                f"model {predictor.model_name!r} now has weights "
                f"{predictor.weights_sha256[:12]}…, the jobs were queued for "
                f"{self.expected_weights_sha256[:12]}…; the model was replaced while queueing"
            )
        return ColorizeRunner(
            Path(self.store),
            predictor,
            str(getattr(predictor, "device", "")),
            pixel_limit=self.pixel_limit,
            memory_limit_bytes=self.memory_limit_bytes,
        )


# --- reading the queue -----------------------------------------------------------------------

JOB_STATES = tuple(str(state) for state in JobState)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def list_jobs(
    engine: Engine,
    *,
    state: str | None = None,
    volume: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Jobs (newest generation state) with their scan, ordered by id."""
    if state is not None and state not in JOB_STATES:
        raise ValueError(f"state must be one of {', '.join(JOB_STATES)}")
    with Session(engine) as session:
        query = (
            select(Job, Scan.path, Scan.page_index, Volume.name)
            .join(Scan, Job.scan_id == Scan.id)
            .join(Volume, Scan.volume_id == Volume.id)
            .order_by(Job.id)
        )
        if state is not None:
            query = query.where(Job.state == state)
        if volume is not None:
            query = query.where(Volume.name == volume)
        if limit is not None:
            query = query.limit(limit)
        return [
            {
                "id": job.id,
                "scan": job.scan_id,
                "volume": volume_name,
                "path": path,
                "page_index": page_index,
                "model": job.model_name,
                "weights_sha256": job.weights_sha256,
                "params": job.params,
                "idempotency_key": job.idempotency_key,
                "generation": job.generation,
                "state": job.state,
                "attempts": job.attempts,
                "max_attempts": job.max_attempts,
                "worker": job.worker_id,
                "lease_until": _iso(job.lease_until),
                "not_before": _iso(job.not_before),
                "last_error": job.last_error,
                "queued_at": _iso(job.queued_at),
                "started_at": _iso(job.started_at),
                "finished_at": _iso(job.finished_at),
            }
            for job, path, page_index, volume_name in session.execute(query)
        ]


def retry_jobs(engine: Engine, *, job_id: int | None = None, dead: bool = False) -> list[int]:
    """Queue a dead or failed job (or, with ``dead``, every dead job) again."""
    if job_id is None and not dead:
        raise ValueError("give a job id or dead=True")
    if job_id is not None:
        with Session(engine) as session:
            job = session.get(Job, job_id)
            if job is None:
                raise NotFoundError(f"no job with id {job_id}; list them with `archcolor jobs`")
            if job.state not in (JobState.DEAD, JobState.FAILED):
                raise JobError(
                    f"job {job_id} is {job.state}; only dead or failed jobs can be retried "
                    "(use `archcolor process --pending --force` to redo done pages)"
                )
        return queue.retry(engine, job_ids=[job_id])
    with Session(engine) as session:
        dead_ids = list(session.scalars(select(Job.id).where(Job.state == JobState.DEAD)))
    return queue.retry(engine, job_ids=dead_ids) if dead_ids else []


@dataclass(frozen=True)
class Progress:
    """Counts for a run's jobs and the pixels finished since it started."""

    counts: Mapping[str, int]
    pixels_done: int
    done_since: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def progress(engine: Engine, only: ClaimFilter, since: datetime) -> Progress:
    """Job counts for ``only`` and the pixels of jobs done since ``since``."""
    counts = queue.count_by_state(engine, only)
    with Session(engine) as session:
        done_since, pixels = session.execute(
            select(func.count(), func.coalesce(func.sum(Scan.width * Scan.height), 0))
            .select_from(Job)
            .join(Scan, Job.scan_id == Scan.id)
            .where(
                Job.state == JobState.DONE,
                Job.finished_at >= since,
                *only.conditions(),
            )
        ).one()
    return Progress(counts=counts, pixels_done=int(pixels or 0), done_since=int(done_since or 0))


# --- health ----------------------------------------------------------------------------------


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
