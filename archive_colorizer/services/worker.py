"""Queue workers: claim → run → publish → commit, with heartbeats, retries and clean stops.

A worker is one process (:func:`run_worker`); :func:`run_worker_processes` starts several
(``multiprocessing`` *spawn*, so each loads its model once and nothing is shared by fork).
What a job does is the *runner*'s business (:class:`Runner`): it gets the claimed job and a
:class:`WorkerContext`, does the work into hidden files, and returns a :class:`JobResult` that
can ``publish()`` them (atomic rename) and ``record()`` rows in the very transaction that marks
the job done. The loop guarantees:

* the lease is extended by a heartbeat thread every ``lease_seconds / 3``; right before
  publishing, the lease is extended once more, so a worker whose lease was taken over never
  publishes or registers anything;
* an exception is classified by :func:`is_permanent`: permanent → ``dead`` at once with the
  reason; otherwise ``failed`` and retried after a backoff, until ``max_attempts`` → ``dead``.
  One failing job never stops the worker;
* SIGINT/SIGTERM: the job in hand is interrupted (only inside the runner's
  ``ctx.interruptible()`` block, never in the middle of a database write), its files removed,
  the job released back to ``pending`` (the attempt not counted), and the worker returns its
  summary within a few seconds. A second signal while stopping is ignored;
* without ``follow`` the worker returns once nothing is claimable and nothing is running or
  waiting for a retry (for its filter); with ``follow`` it polls forever (until a signal).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from types import FrameType
from typing import Any, Protocol

from sqlalchemy import Engine
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from archive_colorizer.catalog import queue
from archive_colorizer.catalog.engine import catalog_error, create_catalog_engine, is_transient
from archive_colorizer.catalog.queue import ClaimedJob, ClaimFilter
from archive_colorizer.catalog.schema import JobState, utcnow
from archive_colorizer.errors import (
    ArchcolorError,
    FixityError,
    InputError,
    JobError,
    MasterError,
    PermanentJobError,
)

__all__ = [
    "JobReport",
    "JobResult",
    "Runner",
    "WorkerConfig",
    "WorkerContext",
    "WorkerInterrupted",
    "WorkerSummary",
    "is_permanent",
    "run_worker",
    "run_worker_processes",
]

#: how often an idle worker reaps expired leases and looks for work (seconds, at most)
DEFAULT_POLL_S = 2.0
#: consecutive failed attempts to reach the database before a worker gives up
MAX_OUTAGE_RETRIES = 8


def _log(message: str) -> None:
    import sys

    sys.stderr.write(f"archcolor worker: {message}\n")
    sys.stderr.flush()


class WorkerInterrupted(BaseException):
    """Raised inside ``ctx.interruptible()`` when SIGINT/SIGTERM arrives (not an Exception, so
    runners' ``except Exception`` blocks let it through)."""


class LeaseLostError(JobError):
    """This worker no longer holds the job's lease (it expired and another worker took it)."""


def is_permanent(error: BaseException) -> bool:
    """Whether retrying cannot help: an unusable or changed master, a PermanentJobError, or a
    database error that is not transient (read-only, missing table, constraint; see
    :func:`~archive_colorizer.catalog.engine.is_transient`).

    Everything else (device out of memory after the tile fallback, a lost database
    connection, a full disk, an unexpected bug) is retried with backoff until max attempts.
    """
    if isinstance(error, DBAPIError):
        return not is_transient(error)
    return isinstance(error, PermanentJobError | MasterError | FixityError | InputError)


class JobResult(Protocol):
    """What a runner made for a job, not yet visible to anyone."""

    #: fields added to the job's JSON report line (e.g. the derivative path)
    report: Mapping[str, Any]

    def publish(self) -> None:
        """Make the files final (atomic rename). Called only while the lease is held."""

    def record(self, session: Session, job: ClaimedJob) -> None:
        """Add rows (derivative, event) in the transaction that marks the job done."""

    def discard(self) -> None:
        """Remove unpublished files (the lease was lost)."""


class Runner(Protocol):
    """Does one job. Built once per worker process (e.g. loads the model once)."""

    def __call__(self, job: ClaimedJob, ctx: WorkerContext) -> JobResult: ...


@dataclass(frozen=True)
class WorkerConfig:
    """Everything a worker process needs (picklable: sent to spawned processes)."""

    database_url: str
    only: ClaimFilter = field(default_factory=ClaimFilter)
    lease_seconds: float = 60.0
    follow: bool = False
    poll_seconds: float = DEFAULT_POLL_S
    #: stop after finishing this many jobs (None: no limit)
    limit: int | None = None
    backoff_base: float = queue.BACKOFF_BASE_S
    #: print one JSON line per finished job on stdout (spawned workers print their own)
    json_lines: bool = False


@dataclass(frozen=True)
class JobReport:
    """One finished (or given back) job."""

    job: int
    scan: int
    status: str  # done | failed | dead | released | lost
    seconds: float
    attempt: int
    worker: str
    error: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        """One flat JSON object; ``derivative`` is always present (None unless done)."""
        data = asdict(self)
        data.update(data.pop("extra"))
        data.setdefault("derivative", None)
        return data


@dataclass
class WorkerSummary:
    """What one worker did."""

    worker: str
    done: int = 0
    failed: int = 0
    dead: int = 0
    released: int = 0
    lost: int = 0
    reaped: int = 0
    interrupted_by: str | None = None
    seconds: float = 0.0
    #: pixels of the pages done (the ``pixels`` field of done jobs' reports)
    pixels: int = 0

    def add(self, other: WorkerSummary) -> None:
        for name in ("done", "failed", "dead", "released", "lost", "reaped", "pixels"):
            setattr(self, name, getattr(self, name) + getattr(other, name))
        self.interrupted_by = self.interrupted_by or other.interrupted_by


class _Stop:
    """Stop flag set by signals; raises WorkerInterrupted inside interruptible blocks."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.signal_name: str | None = None
        self._interruptible = False

    def handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.event.is_set():
            return  # already stopping: let the cleanup finish
        self.signal_name = signal.Signals(signum).name
        self.event.set()
        if self._interruptible:
            self._interruptible = False
            raise WorkerInterrupted(self.signal_name)

    @contextlib.contextmanager
    def interruptible(self) -> Iterator[None]:
        if self.event.is_set():
            raise WorkerInterrupted(self.signal_name or "stop")
        self._interruptible = True
        try:
            yield
        finally:
            self._interruptible = False


class WorkerContext:
    """What a runner may use: the engine, the worker id, lease state, interruption."""

    def __init__(self, engine: Engine, worker_id: str, stop: _Stop) -> None:
        self.engine = engine
        self.worker_id = worker_id
        self.token = queue.worker_token(worker_id)
        self._stop = stop
        self.lease_lost = threading.Event()
        #: time.monotonic() by which the lease expires unless extended (kept by the heartbeat)
        self.lease_expires = 0.0

    def interruptible(self) -> contextlib.AbstractContextManager[None]:
        """Wrap long computations: a signal raises WorkerInterrupted inside the block."""
        return self._stop.interruptible()


class _Heartbeat:
    """A thread extending the lease of the job in hand every ``lease / 3`` seconds."""

    def __init__(self, engine: Engine, worker_id: str, lease_seconds: float) -> None:
        self._engine = engine
        self._worker_id = worker_id
        self._lease = lease_seconds
        self._job: ClaimedJob | None = None
        self._ctx: WorkerContext | None = None
        self._lock = threading.Lock()
        self._quit = threading.Event()
        self._thread = threading.Thread(target=self._run, name="archcolor-heartbeat", daemon=True)
        self._thread.start()

    def watch(self, job: ClaimedJob | None, ctx: WorkerContext | None = None) -> None:
        with self._lock:
            self._job, self._ctx = job, ctx

    def _run(self) -> None:
        interval = max(0.05, self._lease / 3)
        while not self._quit.wait(interval):
            with self._lock:
                job, ctx = self._job, self._ctx
            if job is None or ctx is None:
                continue
            try:
                beat = time.monotonic()
                if queue.heartbeat(self._engine, job.id, self._worker_id, self._lease):
                    ctx.lease_expires = beat + self._lease
                else:
                    ctx.lease_lost.set()
            except DBAPIError:
                continue  # the database is unreachable right now; the next beat tries again

    def close(self) -> None:
        self._quit.set()
        self._thread.join(timeout=5)


def _install_signal_handlers(stop: _Stop) -> dict[int, Any]:
    previous: dict[int, Any] = {}
    if threading.current_thread() is not threading.main_thread():
        return previous
    for signum in (signal.SIGINT, signal.SIGTERM):
        previous[signum] = signal.signal(signum, stop.handle)
    return previous


def _restore_signal_handlers(previous: dict[int, Any]) -> None:
    for signum, handler in previous.items():
        signal.signal(signum, handler)


def run_worker(
    config: WorkerConfig,
    runner: Runner,
    *,
    on_finished: Callable[[JobReport], None] | None = None,
    on_idle: Callable[[], None] | None = None,
    worker_id: str | None = None,
) -> WorkerSummary:
    """Work the queue in this process until it is empty (or forever with ``follow``).

    ``on_idle`` is called whenever a ``follow`` worker finds nothing to claim (e.g. to queue
    pages ingested since it started).
    """
    engine = create_catalog_engine(config.database_url, pre_ping=False)
    stop = _Stop()
    previous = _install_signal_handlers(stop)
    worker_id = worker_id or queue.new_worker_id()
    summary = WorkerSummary(worker=worker_id)
    heart = _Heartbeat(engine, worker_id, config.lease_seconds)
    started = time.monotonic()
    try:
        _loop(config, runner, engine, worker_id, stop, heart, summary, on_finished, on_idle)
    finally:
        heart.close()
        _restore_signal_handlers(previous)
        engine.dispose()
        summary.interrupted_by = stop.signal_name
        summary.seconds = round(time.monotonic() - started, 3)
    return summary


def _loop(
    config: WorkerConfig,
    runner: Runner,
    engine: Engine,
    worker_id: str,
    stop: _Stop,
    heart: _Heartbeat,
    summary: WorkerSummary,
    on_finished: Callable[[JobReport], None] | None,
    on_idle: Callable[[], None] | None = None,
) -> None:
    finished = 0
    last_reap = 0.0
    outage = 0
    prefetched: ClaimedJob | None = None  # claimed in the commit that finished the last job
    try:
        while not stop.event.is_set():
            if config.limit is not None and finished >= config.limit:
                return
            try:
                if time.monotonic() - last_reap >= config.poll_seconds:
                    summary.reaped += len(queue.reap_expired(engine))
                    last_reap = time.monotonic()
                job, prefetched = prefetched, None
                if job is None:
                    job = queue.claim(engine, worker_id, config.lease_seconds, only=config.only)
                if job is None:
                    seen = queue.outlook(engine, config.only)
            except DBAPIError as error:
                if not is_transient(error):  # e.g. read-only: waiting cannot help
                    raise catalog_error(engine.url, error) from error
                # the database went away (restart, fail-over, network): wait and try again;
                # the pool has discarded the broken connection
                outage += 1
                if outage > MAX_OUTAGE_RETRIES:
                    raise
                _log(f"catalog database unavailable ({_describe(error)}); retry {outage}")
                stop.event.wait(min(60.0, config.poll_seconds * 2**outage))
                continue
            outage = 0
            if job is None:
                if seen.claimable:
                    continue  # lost a race for the last candidates: look again
                if seen.waiting == 0 and not config.follow:
                    return
                if config.follow and on_idle is not None:
                    on_idle()
                wait = config.poll_seconds
                if seen.next_change is not None:
                    until = (seen.next_change - utcnow()) / timedelta(seconds=1)
                    wait = min(wait, max(0.02, until + 0.01))
                stop.event.wait(wait)
                last_reap = 0.0  # reap (expired leases) before the next claim
                continue
            want_next = config.limit is None or finished + 1 < config.limit
            try:
                report, prefetched = _execute(
                    config, runner, engine, worker_id, stop, heart, job, want_next
                )
            except DBAPIError as error:
                if not is_transient(error):
                    raise catalog_error(engine.url, error) from error
                # could not record the outcome: the lease expires, another worker redoes it
                _log(f"job {job.id}: catalog database error ({_describe(error)}); left to expire")
                continue
            finished += report.status != "released"
            setattr(summary, report.status, getattr(summary, report.status) + 1)
            if report.status == "done":
                summary.pixels += int(report.extra.get("pixels") or 0)
            if on_finished is not None:
                on_finished(report)
    finally:
        if prefetched is not None:  # stopping with a job claimed but not started: give it back
            with contextlib.suppress(DBAPIError):
                queue.release(engine, prefetched.id, worker_id)


def _execute(
    config: WorkerConfig,
    runner: Runner,
    engine: Engine,
    worker_id: str,
    stop: _Stop,
    heart: _Heartbeat,
    job: ClaimedJob,
    want_next: bool = False,
) -> tuple[JobReport, ClaimedJob | None]:
    """Run one job to its end; with ``want_next``, claim the next one in the commit that
    marks this one done. Returns the report and that next job (or None)."""
    ctx = WorkerContext(engine, worker_id, stop)
    started = time.monotonic()
    ctx.lease_expires = started + config.lease_seconds - 0.05  # claimed just now
    heart.watch(job, ctx)

    def report(status: str, error: str | None = None, **extra: Any) -> JobReport:
        return JobReport(
            job=job.id,
            scan=job.scan_id,
            status=status,
            seconds=round(time.monotonic() - started, 3),
            attempt=job.attempts,
            worker=worker_id,
            error=error,
            extra=extra,
        )

    def failed(error: Exception) -> JobReport:
        """Record the failure (retry later, or dead when permanent / out of attempts)."""
        message = _describe(error)
        state = queue.fail(
            engine,
            job.id,
            worker_id,
            message,
            permanent=is_permanent(error),
            backoff_base=config.backoff_base,
        )
        return report(str(state) if state is not None else "lost", message)

    try:
        try:
            result = runner(job, ctx)
        except WorkerInterrupted:
            queue.release(engine, job.id, worker_id)
            return report("released", f"interrupted by {stop.signal_name}; job released"), None
        except Exception as error:
            return failed(error), None
        # publish and register only while holding the lease with at least half of it left
        # (extended now if needed), so it cannot expire between the checks and the commit
        fresh = ctx.lease_expires - time.monotonic() > config.lease_seconds / 2
        if ctx.lease_lost.is_set() or (
            not fresh and not queue.heartbeat(engine, job.id, worker_id, config.lease_seconds)
        ):
            result.discard()
            return report("lost", "lease lost before publishing; another worker has the job"), None
        next_job: ClaimedJob | None = None
        try:
            result.publish()
            with Session(queue.writer(engine)) as session, session.begin():
                if not queue.mark_done(session, job.id, worker_id):
                    raise LeaseLostError(f"job {job.id}: lease lost while registering")
                result.record(session, job)
                if want_next and not stop.event.is_set():
                    next_job = queue.claim_in(
                        session, worker_id, config.lease_seconds, only=config.only
                    )
        except LeaseLostError as error:
            return report("lost", str(error)), None
        except Exception as error:
            result.discard()
            return failed(error), None
        return report(str(JobState.DONE), **dict(result.report)), next_job
    finally:
        heart.watch(None)


def _describe(error: BaseException) -> str:
    if isinstance(error, DBAPIError):
        cause = getattr(error, "orig", None) or error
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
        return f"database error ({type(cause).__name__}): {first}"
    text = str(error).strip() or type(error).__name__
    name = type(error).__name__
    return text if text.startswith(name) else f"{name}: {text}"


# --- several worker processes ---------------------------------------------------------------


RunnerFactory = Callable[[], Runner]


def _child(
    config: WorkerConfig, factory: RunnerFactory, results: Any, index: int
) -> None:  # pragma: no cover - runs in spawned processes (covered by the multi-process tests)
    import json
    import os
    import sys

    def emit(report: JobReport) -> None:
        if config.json_lines:
            sys.stdout.write(json.dumps(report.as_json(), sort_keys=True, default=str) + "\n")
            sys.stdout.flush()
        results.put({"index": index, "report": report})  # for the parent's progress

    def leave_now(signum: int, _frame: FrameType | None) -> None:
        os._exit(128 + signum)  # still loading the model: nothing claimed, nothing to give back

    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, leave_now)
    try:
        runner = factory()
    except Exception as error:
        results.put({"index": index, "error": _describe(error)})
        sys.exit(1)
    try:
        summary = run_worker(config, runner, on_finished=emit)
    except ArchcolorError as error:  # e.g. the catalog became read-only: one line, not a trace
        results.put({"index": index, "error": str(error)})
        sys.exit(1)
    results.put({"index": index, "summary": asdict(summary)})


@dataclass
class PoolSummary:
    """What a pool of worker processes did."""

    total: WorkerSummary
    exit_codes: list[int | None]
    errors: list[str]


def run_worker_processes(
    config: WorkerConfig,
    factory: RunnerFactory,
    processes: int,
    *,
    tick: Callable[[], None] | None = None,
    tick_seconds: float = 0.5,
    on_finished: Callable[[JobReport], None] | None = None,
) -> PoolSummary:
    """Run ``processes`` workers as spawned processes; SIGINT/SIGTERM are passed on to them.

    ``factory`` must be picklable (a module-level function or a dataclass instance) and is
    called once in each process. ``tick`` is called every ``tick_seconds`` while they run
    (progress display), ``on_finished`` in this process with each job a worker finished (at
    most ``tick_seconds`` later). Returns when every process has exited.
    """
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    children = [
        context.Process(
            target=_child, args=(config, factory, results, index), name=f"archcolor-worker-{index}"
        )
        for index in range(processes)
    ]
    stop = _Stop()
    previous = _install_signal_handlers(stop)
    forwarded = False
    messages: list[dict[str, Any]] = []

    def drain(wait: float) -> None:
        """Hand finished jobs to ``on_finished``; keep the workers' last words for later."""
        while True:
            try:
                message = results.get(timeout=wait) if wait else results.get_nowait()
            except Exception:  # queue.Empty, or the queue closed by a dying worker
                return
            if "report" in message:
                if on_finished is not None:
                    on_finished(message["report"])
            else:
                messages.append(message)

    try:
        for child in children:
            child.start()
        while any(child.is_alive() for child in children):
            if stop.event.is_set() and not forwarded:
                for child in children:
                    if child.pid is not None and child.is_alive():
                        with contextlib.suppress(ProcessLookupError):
                            import os

                            os.kill(child.pid, signal.SIGTERM)
                forwarded = True
            if tick is not None:
                tick()
            stop.event.wait(tick_seconds)
            drain(0)
            for child in children:
                child.join(timeout=0)
    finally:
        _restore_signal_handlers(previous)
    drain(0.2)
    total = WorkerSummary(worker=f"{processes} processes")
    errors: list[str] = []
    for message in messages:
        if "summary" in message:
            total.add(WorkerSummary(**message["summary"]))
        else:
            errors.append(f"worker {message['index']}: {message['error']}")
    total.interrupted_by = total.interrupted_by or stop.signal_name
    results.close()
    if tick is not None:
        tick()
    return PoolSummary(total=total, exit_codes=[c.exitcode for c in children], errors=errors)
