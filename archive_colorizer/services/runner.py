"""The colorize-job runner: one claimed job's page → a staged derivative, published and
registered by the worker loop (:mod:`archive_colorizer.services.worker`).

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

A job whose parameters name a colour hint set (``hints_sha256``) is colorized with that set
(the scan's current one or, if the hints changed since it was queued, the earlier one with that
sha256; PermanentJobError when the catalog holds neither); its provenance and XMP name the hint
count and the set's sha256 (``hints``).

The model is loaded once per worker process (:class:`ColorizeRunnerFactory`).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, update
from sqlalchemy.orm import Session, selectinload

from archive_colorizer import __version__
from archive_colorizer.catalog.queue import ClaimedJob
from archive_colorizer.catalog.schema import (
    Derivative,
    Event,
    Scan,
    utcnow,
)
from archive_colorizer.config import DEFAULT_PIXEL_LIMIT, DEFAULT_WORKER_MEMORY_MB
from archive_colorizer.errors import (
    FixityError,
    JobError,
    PathNotFoundError,
    PermanentJobError,
    TransientJobError,
)
from archive_colorizer.imaging.atomic import fsync_directory
from archive_colorizer.imaging.hashing import FileSnapshot, changes_since, snapshot
from archive_colorizer.imaging.memory_cap import data_in_use, is_out_of_memory, memory_cap
from archive_colorizer.provenance import EventType, Outcome, agent, derivative_provenance
from archive_colorizer.services import store as store_layout
from archive_colorizer.services.colorize import (
    PIPELINE_VERSION,
    ColorizeParams,
    ColorizeResult,
    colorize_master,
)
from archive_colorizer.services.colorize_file import embedded_provenance
from archive_colorizer.services.enqueue import params_hash
from archive_colorizer.services.hints import PageHintSet, hints_for_job
from archive_colorizer.services.references import reference_for_job
from archive_colorizer.services.worker import WorkerContext

if TYPE_CHECKING:
    from archive_colorizer.imaging.reference import ReferenceImage
    from archive_colorizer.inference.inferer import NetworkPredictor


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


#: what a job row without a parameter meant (rows from before the parameter existed)
_ABSENT_MEANT: dict[str, Any] = {"paper_mask": False}


def params_from_job(job: ClaimedJob) -> ColorizeParams:
    """The ColorizeParams a job was queued with (PermanentJobError if this version differs)."""
    stored = dict(job.params)
    if job.pipeline_version != PIPELINE_VERSION:
        raise PermanentJobError(
            f"job {job.id} was queued for pipeline version {job.pipeline_version}, this archcolor "
            f"has {PIPELINE_VERSION}; run `archcolor process --pending` to queue the page again"
        )
    # the row holds ColorizeParams.as_dict(): its fields (and fixed facts of this pipeline);
    # a field missing from a row is read as ColorizeParams' default, but for those that rows
    # written before it existed meant otherwise
    fields = {spec.name for spec in dataclasses.fields(ColorizeParams)}
    params = ColorizeParams(
        **{**_ABSENT_MEANT, **{key: value for key, value in stored.items() if key in fields}}
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
        #: colour references decoded so far, by sha256 (re-hashed, not re-decoded, per job)
        self.references: dict[str, ReferenceImage] = {}

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
        reference = None
        if params.reference_sha256 is not None:  # the file must still hold those bytes
            reference = reference_for_job(ctx.engine, params.reference_sha256, self.references)
        references = {} if reference is None else {"reference": reference.describe()}
        hints = None
        if params.hints_sha256 is not None:  # the set the key names, current or history
            hints = hints_for_job(ctx.engine, scan.id, params.hints_sha256)
            references["hints"] = hints.describe()
        started = utcnow()
        with ctx.interruptible():
            before = snapshot(master)
        if before.sha256 != scan.sha256:
            raise FixityError(
                f"{master}: sha256 {before.sha256} differs from {scan.sha256} recorded at ingest "
                f"(scan {scan.id}); the master changed — run `archcolor ingest` on its volume "
                "again"
            )
        relpath, final, staging = self._staging(scan, job, ctx)
        card = getattr(self.predictor, "card", None)
        # the model card's network input cap shapes the output: record it with the parameters
        cap = getattr(card, "network_max_side", None)
        parameters = {**params.as_dict(), **({"network_max_side": cap} if cap else {})}
        embedded = embedded_provenance(
            source_name=PurePosixPath(scan.path).name,
            source_sha256=scan.sha256,
            model_name=job.model_name,
            weights_sha256=job.weights_sha256,
            parameters=parameters,
            # the generation's queue time, so retries of a job write identical bytes
            when=job.queued_at,
            entity=_master_facts(scan),
            idempotency_key=job.idempotency_key,
            generation=job.generation,
            **references,
        )
        result = self._colorize(
            job, ctx, scan, before, staging, params, embedded, (reference, hints)
        )
        record = self._record(job, ctx, scan, relpath, result, parameters, started, references)
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

    def _record(
        self,
        job: ClaimedJob,
        ctx: WorkerContext,
        scan: _ScanFacts,
        relpath: PurePosixPath,
        result: ColorizeResult,
        parameters: dict[str, Any],
        started: datetime,
        references: dict[str, Any],
    ) -> dict[str, Any]:
        """The derivative's provenance record (kept with its catalogue row); ``references``:
        ``{"reference": its facts}`` when the page had a colour reference, else empty."""
        return derivative_provenance(
            master=_master_facts(scan),
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
            ended_at=utcnow(),
            activity={
                "job_id": job.id,
                "attempt": job.attempts,
                "generation": job.generation,
                "idempotency_key": job.idempotency_key,
                "worker": ctx.worker_id,
                "device": self.device or str(getattr(self.predictor, "device", "")),
                "stage_seconds": dict(result.stage_seconds),
                **references,
            },
            model_card=_card_summary(getattr(self.predictor, "card", None)),
        )

    def _staging(
        self, scan: _ScanFacts, job: ClaimedJob, ctx: WorkerContext
    ) -> tuple[PurePosixPath, Path, Path]:
        """``(store-relative path, final path, staging path)`` of the job's derivative, the
        staging files of killed attempts removed."""
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
        return relpath, final, staging

    def _colorize(
        self,
        job: ClaimedJob,
        ctx: WorkerContext,
        scan: _ScanFacts,
        before: FileSnapshot,
        staging: Path,
        params: ColorizeParams,
        embedded: dict[str, Any],
        guidance: tuple[ReferenceImage | None, PageHintSet | None],
    ) -> ColorizeResult:
        """Colorize the page into ``staging`` (with its colour reference and hint set, if any)
        under the memory cap, then check the master is unchanged; the staging file is removed
        on any failure."""
        reference, hints = guidance
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
                    before.path,
                    staging,
                    self.predictor,
                    params,
                    page_index=scan.page_index,
                    provenance=embedded,
                    ifd_offset=scan.ifd_offset,
                    pixel_limit=self.pixel_limit,
                    reference=reference,
                    hints=hints,
                )
                _verify_unchanged(scan, before)
        except Exception as error:
            staging.unlink(missing_ok=True)
            if not (self.memory_limit_bytes and is_out_of_memory(error)):
                raise
            cap = self.memory_limit_bytes // (1024 * 1024)
            raise PermanentJobError(
                f"{before.path}: page {scan.page_index}: colorizing needed more memory than the "
                f"worker's memory cap of {cap} MiB ({_first_line(error)}); the file may be a "
                "decompression bomb (raise --worker-memory-mb / ARCHCOLOR_WORKER_MEMORY_MB only "
                "for a genuine page)"
            ) from error
        except BaseException:
            staging.unlink(missing_ok=True)
            raise
        return result


def _master_facts(scan: _ScanFacts) -> dict[str, Any]:
    """The master as provenance names it."""
    return {
        "sha256": scan.sha256,
        "volume": scan.volume,
        "path": scan.path,
        "page_index": scan.page_index,
        "scan_id": scan.id,
    }


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
