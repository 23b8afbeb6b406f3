"""`archcolor process --pending`: queue every page that lacks a derivative, then work the queue.

The use case in one place, for any front end: resolve the model and parameters, check the
store, queue the pages (:mod:`~archive_colorizer.services.enqueue`), load the model once
(interruptibly), work the queue in this process or in spawned worker processes
(:mod:`~archive_colorizer.services.worker`, jobs run by
:mod:`~archive_colorizer.services.runner`), and report what the run did. What the user sees is
the caller's: it passes a :class:`RunObserver` whose methods are called as the run goes.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import Any, Protocol

from archive_colorizer.catalog.engine import create_catalog_engine
from archive_colorizer.catalog.open import open_catalog
from archive_colorizer.catalog.queue import ClaimFilter, outlook
from archive_colorizer.catalog.schema import utcnow
from archive_colorizer.config import (
    DEFAULT_CHROMA_SIZE,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_WORKER_MEMORY_MB,
    RENDER_MODES,
    Settings,
)
from archive_colorizer.services.colorize import (
    DEFAULT_REFERENCE_PALETTE,
    ColorizeParams,
    resolve_reference_prior,
    resolve_rendering,
)
from archive_colorizer.services.enqueue import EnqueueSummary, enqueue
from archive_colorizer.services.guard import check_store
from archive_colorizer.services.jobs import Progress, claim_filter, progress, sweep_store
from archive_colorizer.services.models import ModelIdentity, resolve_model
from archive_colorizer.services.references import register_reference
from archive_colorizer.services.runner import ColorizeRunner, ColorizeRunnerFactory
from archive_colorizer.services.store import ensure_writable
from archive_colorizer.services.worker import (
    JobReport,
    WorkerConfig,
    WorkerInterrupted,
    WorkerSummary,
    run_worker,
    run_worker_processes,
)

__all__ = ["ProcessOptions", "ProcessRun", "RunObserver", "run_process"]

#: --follow: idle workers look for newly ingested pages to queue every this many polls
REFILL_POLLS = 15


@dataclass(frozen=True)
class ProcessOptions:
    """What `archcolor process` was asked to do (its options, one field each)."""

    model: str | None = None
    volume: str | None = None
    workers: int = 1
    limit: int | None = None
    device: str = "auto"
    chroma_size: int = DEFAULT_CHROMA_SIZE
    paper_mask: bool = True
    render: str | None = None
    follow: bool = False
    repair: bool = False
    force: bool = False
    lease_seconds: float = 60.0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    poll_seconds: float = 2.0
    #: worker processes print one JSON line per finished job on stdout themselves
    json_lines: bool = False
    worker_memory_mb: int = DEFAULT_WORKER_MEMORY_MB
    #: a colour reference image for every page of the run (overrides volumes' defaults)
    reference: Path | None = None
    #: palette transfer strength towards the page's reference (0..1; None: the default)
    reference_palette: float | None = None
    #: weight of the reference's ab histogram as a prior on the class head (None: the default)
    reference_prior: float | None = None
    #: whether the reference gives the global prior (None: the default)
    reference_global: bool | None = None


class RunObserver(Protocol):
    """What a front end is told while a run goes (all in the calling process)."""

    def enqueued(self, queued: EnqueueSummary, model: str, swept: int) -> None:
        """Pages were queued for ``model``; ``swept`` stale temporary files were removed."""

    def running(self, read_progress: Callable[[], Progress]) -> None:
        """Work starts; ``read_progress`` reads the run's job counts from the catalog."""

    def job_finished(self, report: JobReport, *, here: bool) -> None:
        """A job ended; ``here``: in this process (else a worker process, which printed its
        own JSON line when asked to)."""

    def tick(self) -> None:
        """Time passed (refresh a progress display)."""

    def close(self) -> None:
        """The work is over (stop a progress display)."""


@dataclass(frozen=True)
class ProcessRun:
    """What a run did, and the queue it left."""

    summary: WorkerSummary
    errors: list[str]
    counts: Mapping[str, int]
    queued: int
    seconds: float

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` summary object that ends every `process` run."""
        summary, seconds = self.summary, self.seconds
        megapixels = summary.pixels / 1e6
        return {
            "summary": True,
            "queued": self.queued,
            "done": summary.done,
            "failed": summary.failed,
            "dead": summary.dead,
            "released": summary.released,
            "megapixels": round(megapixels, 3),
            "seconds": round(seconds, 3),
            "megapixels_per_second": round(megapixels / seconds, 4) if seconds > 0 else 0.0,
            "stopped_by": summary.interrupted_by,
        }


def run_process(settings: Settings, options: ProcessOptions, observer: RunObserver) -> ProcessRun:
    """Queue the selected pages and colorize them until the queue is empty (``follow``:
    until a signal). Database and model problems before any work raise ArchcolorError."""
    params = _requested_params(options)
    identity = resolve_model(options.model)
    params = resolve_rendering(params, options.render, identity)
    params = resolve_reference_prior(
        params, options.reference_prior, identity.class_grid, options.reference_global
    )
    with open_catalog(settings.database_url) as engine:
        check_store(engine, settings.store)  # never inside a folder of masters
        ensure_writable(settings.store)  # before it is created there
        if options.reference is not None:  # registered: workers find it by its sha256
            image = register_reference(engine, options.reference)
            params = replace(params, reference_sha256=image.sha256)

        def queue_pages(force: bool, repair: bool, limit: int | None) -> EnqueueSummary:
            return enqueue(
                engine,
                model=identity,
                params=params,
                volume=options.volume,
                force=force,
                repair=repair,
                store=settings.store,
                max_attempts=options.max_attempts,
                limit=limit,
            )

        queued = queue_pages(options.force, options.repair, options.limit)
        queued_total = [queued.queued + queued.requeued]
        only = claim_filter(engine, identity, options.volume)
        settings.store.mkdir(parents=True, exist_ok=True)
        swept = sweep_store(engine, settings.store)
        observer.enqueued(queued, identity.name, len(swept))
        config, factory = _workers_for(settings, options, identity, only)
        since, started = utcnow(), time.monotonic()

        def queue_new_pages() -> None:
            """--follow: queue pages ingested since this run started."""
            queued_total[0] += queue_pages(False, False, None).queued

        refill = (
            _Throttled(queue_new_pages, options.poll_seconds * REFILL_POLLS)
            if options.follow
            else None
        )
        observer.running(lambda: progress(engine, only, since))
        try:
            summary, errors = _work(config, factory, options.workers, observer, refill)
        finally:
            observer.close()
        counts = progress(engine, only, since).counts
    return ProcessRun(
        summary,
        errors,
        counts,
        queued_total[0],
        time.monotonic() - started,
    )


def _requested_params(options: ProcessOptions) -> ColorizeParams:
    """The colorize parameters the options ask for; --render is checked here, before the model
    is looked up (the card decides when it is not given)."""
    return ColorizeParams(
        chroma_size=options.chroma_size,
        paper_mask=options.paper_mask,
        render=options.render or RENDER_MODES[0],
        reference_palette=(
            DEFAULT_REFERENCE_PALETTE
            if options.reference_palette is None
            else options.reference_palette
        ),
    )


def _workers_for(
    settings: Settings, options: ProcessOptions, identity: ModelIdentity, only: ClaimFilter
) -> tuple[WorkerConfig, ColorizeRunnerFactory]:
    """The worker pool's settings and the factory of its colorize runners."""
    config = WorkerConfig(
        database_url=settings.database_url,
        only=only,
        lease_seconds=options.lease_seconds,
        follow=options.follow,
        poll_seconds=options.poll_seconds,
        limit=options.limit,
        json_lines=options.json_lines,
    )
    factory = ColorizeRunnerFactory(
        store=str(settings.store),
        model=identity.name,
        device=options.device,
        expected_weights_sha256=identity.weights_sha256,
        pixel_limit=settings.pixel_limit,
        memory_limit_bytes=options.worker_memory_mb * 1024 * 1024 or None,
    )
    return config, factory


def _work(
    config: WorkerConfig,
    factory: ColorizeRunnerFactory,
    workers: int,
    observer: RunObserver,
    refill: Callable[[], None] | None = None,
) -> tuple[WorkerSummary, list[str]]:
    if not config.follow and _nothing_to_do(config):
        return WorkerSummary(worker="-"), []  # do not load the model for nothing
    if workers == 1:

        def finished(report: JobReport) -> None:
            observer.job_finished(report, here=True)
            observer.tick()

        runner, stopped_by = _load_interruptibly(factory)
        if runner is None:
            return WorkerSummary(worker="-", interrupted_by=stopped_by), []
        observer.tick()
        return run_worker(config, runner, on_finished=finished, on_idle=refill), []
    if config.limit is not None:  # share the limit: the processes together finish at most it
        config = replace(config, limit=max(1, config.limit // workers))

    def tick() -> None:
        observer.tick()
        if refill is not None:
            refill()

    def finished_there(report: JobReport) -> None:
        observer.job_finished(report, here=False)

    pool = run_worker_processes(config, factory, workers, tick=tick, on_finished=finished_there)
    errors = list(pool.errors)
    stopped = pool.total.interrupted_by is not None
    for index, code in enumerate(pool.exit_codes):
        if stopped and code in (130, 143, -2, -15):
            continue  # stopped by the signal while loading its model
        if code not in (0, None) and not pool.errors:
            errors.append(f"worker process {index} exited with status {code}")
    return pool.total, errors


class _Throttled:
    """Call ``action`` at most once every ``seconds`` (the first call runs it)."""

    def __init__(self, action: Callable[[], None], seconds: float) -> None:
        self.action = action
        self.seconds = seconds
        self.last: float | None = None

    def __call__(self) -> None:
        now = time.monotonic()
        if self.last is None or now - self.last >= self.seconds:
            self.last = now
            self.action()


def _load_interruptibly(factory: ColorizeRunnerFactory) -> tuple[ColorizeRunner | None, str]:
    """Load the model; (None, the signal's name) when SIGINT/SIGTERM arrives meanwhile
    (nothing was claimed yet)."""
    stopped_by = [""]

    def stop(signum: int, _frame: FrameType | None) -> None:
        stopped_by[0] = signal.Signals(signum).name
        raise WorkerInterrupted(stopped_by[0])

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return factory(), ""
    except WorkerInterrupted:
        return None, stopped_by[0]
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _nothing_to_do(config: WorkerConfig) -> bool:
    engine = create_catalog_engine(config.database_url)
    try:
        seen = outlook(engine, config.only)
    finally:
        engine.dispose()
    return seen.claimable == 0 and seen.waiting == 0
