"""`archcolor process --pending`, `archcolor jobs`, `archcolor retry`, `archcolor worker health`.

Exit codes of `process`: 0 every selected page has its derivative; 3 some jobs are dead (see
`archcolor jobs --state dead`); 130 / 143 stopped by SIGINT / SIGTERM (the job in hand was
released back to the queue); 1 an error before any work started.
"""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable, Mapping
from types import FrameType
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.table import Table

from archive_colorizer.catalog.open import open_catalog
from archive_colorizer.catalog.schema import utcnow
from archive_colorizer.cli.context import emit_json, settings_of, stderr_console, stdout_console
from archive_colorizer.config import DEFAULT_WORKER_MEMORY_MB, ENV_WORKER_MEMORY_MB, Settings
from archive_colorizer.errors import JobError
from archive_colorizer.services import process as service
from archive_colorizer.services.colorize import (
    DEFAULT_CHROMA_SIZE,
    RENDERS,
    ColorizeParams,
    resolve_rendering,
)
from archive_colorizer.services.guard import check_store
from archive_colorizer.services.store import ensure_writable
from archive_colorizer.services.worker import (
    JobReport,
    WorkerConfig,
    WorkerInterrupted,
    WorkerSummary,
    run_worker,
    run_worker_processes,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
SIGNAL_EXIT = {"SIGINT": 130, "SIGTERM": 143}


class _Feedback:
    """Progress of a run on stderr: a rich progress bar on a terminal (pages done/total, MP/s,
    ETA, failures); without a terminal (cron, logs, containers) one plain line per finished
    page (``lines``); nothing when neither (``--json`` on a terminal)."""

    def __init__(self, engine: Any, only: Any, bar: bool, lines: bool = False) -> None:
        self.engine = engine
        self.only = only
        self.since = utcnow()
        self.started = time.monotonic()
        self.progress: Progress | None = None
        self.task: Any = None
        self.lines = lines
        self.finished_pages = 0  # done or dead in this run
        self.pixels = 0  # of the pages done in this run
        if bar:
            self.progress = Progress(
                TextColumn("[bold]colorizing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TextColumn("{task.fields[failures]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=stderr_console(),
                transient=False,
            )
            self.task = self.progress.add_task("pages", total=None, rate="", failures="")
            self.progress.start()

    def tick(self) -> None:
        if self.progress is None:
            return
        snapshot = service.progress(self.engine, self.only, self.since)
        counts = snapshot.counts
        elapsed = max(1e-6, time.monotonic() - self.started)
        megapixels = snapshot.pixels_done / 1e6 / elapsed
        failures = counts["dead"] + counts["failed"]  # dead, or waiting for a retry
        self.progress.update(
            self.task,
            completed=counts["done"] + counts["dead"],  # finished, one way or the other
            total=snapshot.total,
            rate=f"{megapixels:.2f} MP/s",
            failures=f"failures {failures}" if failures else "",
        )

    def finished(self, report: JobReport) -> None:
        """A job ended (in this process or a worker process): count it, log its line."""
        if report.status == "done":
            self.pixels += int(report.extra.get("pixels") or 0)
        if report.status in ("done", "dead"):
            self.finished_pages += 1
        if self.lines:
            sys.stderr.write(self._line(report) + "\n")
            sys.stderr.flush()

    def _line(self, report: JobReport) -> str:
        extra = report.extra
        page = (
            f"{extra['volume']}/{extra['path']} page {int(extra['page_index']) + 1}"
            if "path" in extra
            else f"scan {report.scan}"
        )
        megapixels = int(extra.get("pixels") or 0) / 1e6
        what = f"{report.status} {page} in {report.seconds:.1f} s"
        if report.status == "done" and report.seconds > 0:
            what += f" ({megapixels:.2f} MP, {megapixels / report.seconds:.2f} MP/s)"
        if report.error:
            what += f": {report.error.splitlines()[0][:200]}"
        counts = service.progress(self.engine, self.only, self.since).counts
        elapsed = max(1e-6, time.monotonic() - self.started)
        left = counts["pending"] + counts["running"] + counts["failed"]
        eta = "-"
        if self.finished_pages:
            eta = _clock(left * elapsed / self.finished_pages)
        return (
            f"archcolor process: {what}; {self.finished_pages} finished, {left} left, "
            f"run {self.pixels / 1e6 / elapsed:.2f} MP/s, ETA {eta}"
        )

    def close(self) -> None:
        if self.progress is not None:
            self.tick()
            self.progress.stop()


def _clock(seconds: float) -> str:
    """H:MM:SS."""
    whole = round(seconds)
    return f"{whole // 3600}:{whole // 60 % 60:02d}:{whole % 60:02d}"


def register(app: typer.Typer) -> None:
    """Add `process`, `jobs`, `retry` and the `worker` group to ``app``."""

    @app.command("process")
    def process_command(
        ctx: typer.Context,
        pending: Annotated[
            bool,
            typer.Option("--pending", help="Colorize every ingested page without a derivative."),
        ] = False,
        volume: Annotated[str | None, typer.Option("--volume", help="Only this volume.")] = None,
        model: Annotated[
            str | None, typer.Option("--model", help="Model name (default: models/DEFAULT).")
        ] = None,
        workers: Annotated[
            int, typer.Option("--workers", min=1, help="Worker processes on this machine.")
        ] = 1,
        limit: Annotated[
            int | None,
            typer.Option("--limit", min=1, help="Queue and colorize at most this many pages."),
        ] = None,
        device: Annotated[
            str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")
        ] = "auto",
        chroma_size: Annotated[
            int,
            typer.Option(
                "--chroma-size",
                min=0,
                help="Long side of the chroma working image in px; 0 = full.",
            ),
        ] = DEFAULT_CHROMA_SIZE,
        paper_mask: Annotated[
            bool,
            typer.Option(
                "--paper-mask/--no-paper-mask",
                help="Keep blank paper and margins neutral (zero chroma).",
            ),
        ] = True,
        render: Annotated[
            str | None,
            typer.Option(
                "--render",
                help=f"{' or '.join(RENDERS)}: how colour meets the master's tones. "
                "[default: the model card's, else luminance]",
                show_default=False,
            ),
        ] = None,
        follow: Annotated[
            bool,
            typer.Option("--follow", help="Keep polling for new jobs forever (deployments)."),
        ] = False,
        repair: Annotated[
            bool,
            typer.Option(
                "--repair", help="Redo pages whose derivative is missing or fails its checksum."
            ),
        ] = False,
        force: Annotated[
            bool,
            typer.Option("--force", help="Make new derivatives even for done pages (keeps old)."),
        ] = False,
        lease_seconds: Annotated[
            float,
            typer.Option(
                "--lease-seconds",
                min=0.5,
                help="Seconds without a heartbeat after which another worker takes a job over.",
            ),
        ] = 60.0,
        max_attempts: Annotated[
            int, typer.Option("--max-attempts", min=1, help="Attempts before a job is dead.")
        ] = service.DEFAULT_MAX_ATTEMPTS,
        poll_seconds: Annotated[
            float,
            typer.Option("--poll-seconds", min=0.05, help="Idle polling interval in seconds."),
        ] = 2.0,
        json_out: Annotated[
            bool,
            typer.Option(
                "--json",
                help="One JSON line per finished job on stdout, then one summary object "
                "(queued, done, failed, dead, megapixels, seconds, megapixels_per_second).",
            ),
        ] = False,
        worker_memory_mb: Annotated[
            int,
            typer.Option(
                "--worker-memory-mb",
                envvar=ENV_WORKER_MEMORY_MB,
                min=0,
                help="Hard memory cap per worker process while it colorizes a page (MiB; "
                "0: none). A page needing more ends as a dead job.",
            ),
        ] = DEFAULT_WORKER_MEMORY_MB,
    ) -> None:
        """Queue every ingested page without a derivative for this model and parameters, then
        colorize them with crash-safe workers until the queue is empty (--follow: forever).

        Any number of `process` commands may run at once, on one or many machines sharing one
        PostgreSQL catalog: each page is colorized exactly once. SIGINT/SIGTERM give the page in
        hand back to the queue and stop within seconds. Exit 0 all done; 3 some pages are dead
        (`archcolor jobs --state dead`); 130/143 stopped by a signal.

        Progress goes to stderr: a progress bar on a terminal, otherwise (cron, logs, containers)
        one line per finished page with its MP/s and the run's ETA.
        """
        if not pending:
            raise typer.BadParameter(
                "say which pages: --pending (every ingested page without a derivative)",
                param_hint="--pending",
            )
        settings = settings_of(ctx)
        # --render is checked before the model is looked up; the card decides when it is not given
        params = ColorizeParams(
            chroma_size=chroma_size, paper_mask=paper_mask, render=render or RENDERS[0]
        )
        identity = service.resolve_model(model)
        params = resolve_rendering(params, render, identity)
        err = stderr_console()
        with open_catalog(settings.database_url) as engine:
            check_store(engine, settings.store)  # never inside a folder of masters
            _check_before_work(settings)  # before it is created there
            queued = service.enqueue(
                engine,
                model=identity,
                params=params,
                volume=volume,
                force=force,
                repair=repair,
                store=settings.store,
                max_attempts=max_attempts,
                limit=limit,
            )
            if queued.scans == 0:
                where = "the catalog has" if volume is None else f"volume {volume!r} has"
                err.print(
                    f"{where} no ingested pages to colorize: run `archcolor ingest FOLDER "
                    f"--volume {volume or 'NAME'}` first",
                    highlight=False,
                    soft_wrap=True,
                )
            queued_total = [queued.queued + queued.requeued]
            only = service.claim_filter(engine, identity, volume)
            settings.store.mkdir(parents=True, exist_ok=True)
            swept = service.sweep_store(engine, settings.store)
            if not json_out:
                err.print(
                    f"{queued.scans} pages selected: {queued.queued} queued, {queued.requeued} "
                    f"queued again ({queued.repaired} repaired), {queued.already_done} already "
                    f"done, {queued.in_queue} already queued, {queued.dead} dead; model "
                    f"{identity.name}; {len(swept)} stale temporary files removed",
                    highlight=False,
                    soft_wrap=True,
                )
                for problem in queued.problems[:20]:
                    err.print(f"  repair: {problem}", highlight=False, soft_wrap=True)
            config = WorkerConfig(
                database_url=settings.database_url,
                only=only,
                lease_seconds=lease_seconds,
                follow=follow,
                poll_seconds=poll_seconds,
                limit=limit,
                json_lines=json_out,
            )
            factory = service.ColorizeRunnerFactory(
                store=str(settings.store),
                model=identity.name,
                device=device,
                expected_weights_sha256=identity.weights_sha256,
                pixel_limit=settings.pixel_limit,
                memory_limit_bytes=worker_memory_mb * 1024 * 1024 or None,
            )
            feedback = _Feedback(
                engine, only, bar=err.is_terminal and not json_out, lines=not err.is_terminal
            )

            def queue_new_pages() -> None:
                """--follow: queue pages ingested since this command started."""
                more = service.enqueue(
                    engine,
                    model=identity,
                    params=params,
                    volume=volume,
                    force=False,
                    repair=False,
                    store=settings.store,
                    max_attempts=max_attempts,
                    limit=None,
                )
                queued_total[0] += more.queued

            refill = _Throttled(queue_new_pages, poll_seconds * REFILL_POLLS) if follow else None
            try:
                summary, errors = _work(config, factory, workers, limit, json_out, feedback, refill)
            finally:
                feedback.close()
            counts = service.progress(engine, only, feedback.since).counts
            seconds = time.monotonic() - feedback.started
        _finish(summary, errors, counts, json_out, queued_total[0], seconds)

    @app.command("jobs")
    def jobs_command(
        ctx: typer.Context,
        state: Annotated[
            str | None,
            typer.Option(
                "--state", help=f"Only jobs in this state: {', '.join(service.JOB_STATES)}."
            ),
        ] = None,
        volume: Annotated[str | None, typer.Option("--volume", help="Only this volume.")] = None,
        limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N rows.")] = None,
        json_out: JsonOption = False,
    ) -> None:
        """List colorization jobs: state, attempts, worker, lease and last error."""
        if state is not None and state not in service.JOB_STATES:
            raise typer.BadParameter(
                f"must be one of {', '.join(service.JOB_STATES)}", param_hint="--state"
            )
        with open_catalog(settings_of(ctx).database_url, read_only=True) as engine:
            rows = service.list_jobs(engine, state=state, volume=volume, limit=limit)
        if json_out:
            emit_json(rows)
            return
        table = Table(
            "id", "scan", "volume", "path", "page", "model", "render", "state", "try", "error"
        )
        for row in rows:
            table.add_row(
                str(row["id"]),
                str(row["scan"]),
                row["volume"],
                row["path"],
                str(row["page_index"] + 1),
                row["model"],
                str(row["params"].get("render", "luminance")),
                row["state"],
                f"{row['attempts']}/{row['max_attempts']}",
                row["last_error"] or "",
            )
        console = stdout_console()
        if not console.is_terminal:
            console.width = max(console.width, 200)
        console.print(table)
        typer.echo(f"{len(rows)} jobs")

    @app.command("retry")
    def retry_command(
        ctx: typer.Context,
        job_id: Annotated[
            int | None, typer.Argument(help="Job id (see `archcolor jobs --state dead`).")
        ] = None,
        dead: Annotated[bool, typer.Option("--dead", help="Retry every dead job.")] = False,
        json_out: JsonOption = False,
    ) -> None:
        """Put a dead or failed job (or every dead job) back in the queue with fresh attempts."""
        if (job_id is None) == (not dead):
            raise typer.BadParameter("give either a JOB_ID or --dead", param_hint="JOB_ID")
        with open_catalog(settings_of(ctx).database_url) as engine:
            ids = service.retry_jobs(engine, job_id=job_id, dead=dead)
        if json_out:
            emit_json({"requeued": ids})
        else:
            typer.echo(f"{len(ids)} jobs queued again" + (f": {ids}" if ids else ""))

    worker_app = typer.Typer(help="Worker operations (deployments).", no_args_is_help=True)

    @worker_app.command("health")
    def health_command(
        ctx: typer.Context,
        model: Annotated[
            str | None, typer.Option("--model", help="Model name (default: models/DEFAULT).")
        ] = None,
        quick: Annotated[
            bool,
            typer.Option("--quick", help="Verify the weights' sha256 but do not load the network."),
        ] = False,
        json_out: JsonOption = False,
    ) -> None:
        """Exit 0 when this machine can work the queue: the database is reachable and at the
        schema head, the model's weights match their card (and load), the store is writable.
        Exit 1 otherwise. For liveness/readiness probes."""
        settings = settings_of(ctx)
        checks = service.health(settings.database_url, settings.store, model, load_model=not quick)
        ok = all(check.ok for check in checks)
        if json_out:
            emit_json(
                {
                    "ok": ok,
                    "checks": [
                        {"name": c.name, "ok": c.ok, "detail": c.detail, "seconds": c.seconds}
                        for c in checks
                    ],
                }
            )
        else:
            for check in checks:
                typer.echo(f"{'ok  ' if check.ok else 'FAIL'}  {check.name}: {check.detail}")
        if not ok:
            raise typer.Exit(1)

    app.add_typer(worker_app, name="worker")


def _check_before_work(settings: Settings) -> None:
    """Before anything is queued or claimed: the store is (or can become) a folder archcolor
    can write into. (``open_catalog`` checks that the database is writable.)"""
    ensure_writable(settings.store)


def _work(
    config: WorkerConfig,
    factory: service.ColorizeRunnerFactory,
    workers: int,
    limit: int | None,
    json_out: bool,
    feedback: _Feedback,
    refill: Callable[[], None] | None = None,
) -> tuple[WorkerSummary, list[str]]:
    if not config.follow and _nothing_to_do(config):
        return WorkerSummary(worker="-"), []  # do not load the model for nothing
    if workers == 1:

        def finished(report: JobReport) -> None:
            if json_out:
                emit_json(report.as_json())
            feedback.finished(report)
            feedback.tick()

        runner = _load_interruptibly(factory)
        if runner is None:
            return WorkerSummary(worker="-", interrupted_by=_stopped_by[0]), []
        feedback.tick()
        return run_worker(config, runner, on_finished=finished, on_idle=refill), []
    if limit is not None:  # share the limit: the processes together finish at most `limit`
        share = max(1, limit // workers)
        config = WorkerConfig(**{**config.__dict__, "limit": share})

    def tick() -> None:
        feedback.tick()
        if refill is not None:
            refill()

    pool = run_worker_processes(config, factory, workers, tick=tick, on_finished=feedback.finished)
    errors = list(pool.errors)
    stopped = pool.total.interrupted_by is not None
    for index, code in enumerate(pool.exit_codes):
        if stopped and code in (130, 143, -2, -15):
            continue  # stopped by the signal while loading its model
        if code not in (0, None) and not pool.errors:
            errors.append(f"worker process {index} exited with status {code}")
    return pool.total, errors


#: --follow: idle workers look for newly ingested pages to queue every this many polls
REFILL_POLLS = 15


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


_stopped_by: list[str] = [""]


def _load_interruptibly(
    factory: service.ColorizeRunnerFactory,
) -> service.ColorizeRunner | None:
    """Load the model; None when SIGINT/SIGTERM arrives meanwhile (nothing was claimed yet)."""

    def stop(signum: int, _frame: FrameType | None) -> None:
        _stopped_by[0] = signal.Signals(signum).name
        raise WorkerInterrupted(_stopped_by[0])

    previous = {signum: signal.signal(signum, stop) for signum in (signal.SIGINT, signal.SIGTERM)}
    try:
        return factory()
    except WorkerInterrupted:
        return None
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _nothing_to_do(config: WorkerConfig) -> bool:
    from archive_colorizer.catalog.engine import create_catalog_engine
    from archive_colorizer.catalog.queue import outlook

    engine = create_catalog_engine(config.database_url)
    try:
        seen = outlook(engine, config.only)
    finally:
        engine.dispose()
    return seen.claimable == 0 and seen.waiting == 0


def run_summary(summary: WorkerSummary, queued: int, seconds: float) -> dict[str, Any]:
    """The ``--json`` summary object that ends every `process` run."""
    megapixels = summary.pixels / 1e6
    return {
        "summary": True,
        "queued": queued,
        "done": summary.done,
        "failed": summary.failed,
        "dead": summary.dead,
        "released": summary.released,
        "megapixels": round(megapixels, 3),
        "seconds": round(seconds, 3),
        "megapixels_per_second": round(megapixels / seconds, 4) if seconds > 0 else 0.0,
        "stopped_by": summary.interrupted_by,
    }


def _finish(
    summary: WorkerSummary,
    errors: list[str],
    counts: Mapping[str, int],
    json_out: bool,
    queued: int,
    seconds: float,
) -> None:
    err = stderr_console()
    figures = run_summary(summary, queued, seconds)
    if json_out:
        emit_json(figures)
    line = (
        f"this run: {queued} queued, {summary.done} done, {summary.failed} failed (will retry), "
        f"{summary.dead} dead, {summary.released} released, {summary.lost} lost, "
        f"{summary.reaped} expired leases reaped; {figures['megapixels']:.2f} MP in "
        f"{seconds:.1f} s ({figures['megapixels_per_second']:.2f} MP/s); queue: "
        f"{counts['pending']} pending, {counts['running']} running, {counts['failed']} failed, "
        f"{counts['done']} done, {counts['dead']} dead"
    )
    if summary.interrupted_by:
        line += f"; stopped by {summary.interrupted_by}"
    err.print(line, highlight=False, soft_wrap=True)
    for error in errors:
        err.print(f"error: {error}", highlight=False, soft_wrap=True)
    if summary.interrupted_by:
        raise typer.Exit(SIGNAL_EXIT.get(summary.interrupted_by, 1))
    if errors:
        raise JobError("; ".join(errors))
    if counts["dead"]:
        raise typer.Exit(3)
