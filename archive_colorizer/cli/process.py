"""`archcolor process --pending`, `archcolor jobs`, `archcolor retry`, `archcolor worker health`.

Exit codes of `process`: 0 every selected page has its derivative; 3 some jobs are dead (see
`archcolor jobs --state dead`); 130 / 143 stopped by SIGINT / SIGTERM (the job in hand was
released back to the queue); 1 an error before any work started.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

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

from archive_colorizer.cli.context import (
    EXIT_ERROR,
    EXIT_INCOMPLETE,
    EXIT_SIGNALLED,
    emit_json,
    settings_of,
    stderr_console,
    stdout_console,
)
from archive_colorizer.cli.options import (
    ChromaSizeOption,
    JsonOption,
    PaperMaskOption,
    ReferenceGlobalOption,
    ReferencePaletteOption,
    ReferencePriorOption,
    RenderOption,
)
from archive_colorizer.config import (
    DEFAULT_CHROMA_SIZE,
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_WORKER_MEMORY_MB,
    ENV_WORKER_MEMORY_MB,
    JOB_STATES,
)
from archive_colorizer.errors import JobError
from archive_colorizer.services import api

if TYPE_CHECKING:
    from archive_colorizer.services.enqueue import EnqueueSummary
    from archive_colorizer.services.jobs import Progress as RunProgress
    from archive_colorizer.services.process import ProcessRun
    from archive_colorizer.services.worker import JobReport


class _Feedback:
    """What a `process` run shows (a RunObserver). Progress on stderr: a rich progress bar on
    a terminal (pages done/total, MP/s, ETA, failures); without a terminal (cron, logs,
    containers) one plain line per finished page (``lines``); nothing when neither (``--json``
    on a terminal). With ``json_out`` one JSON line per job finished in this process."""

    def __init__(self, json_out: bool) -> None:
        err = stderr_console()
        self.err = err
        self.json_out = json_out
        self.bar = err.is_terminal and not json_out
        self.lines = not err.is_terminal
        self.started = time.monotonic()
        self.read_progress: Callable[[], RunProgress] | None = None
        self.progress: Progress | None = None
        self.task: Any = None
        self.finished_pages = 0  # done or dead in this run
        self.pixels = 0  # of the pages done in this run

    def enqueued(self, queued: EnqueueSummary, model: str, swept: int) -> None:
        if queued.scans == 0:
            where = "the catalog has" if queued.volume is None else f"volume {queued.volume!r} has"
            self.err.print(
                f"{where} no ingested pages to colorize: run `archcolor ingest FOLDER "
                f"--volume {queued.volume or 'NAME'}` first",
                highlight=False,
                soft_wrap=True,
            )
        if self.json_out:
            return
        self.err.print(
            f"{queued.scans} pages selected: {queued.queued} queued, {queued.requeued} "
            f"queued again ({queued.repaired} repaired), {queued.already_done} already "
            f"done, {queued.in_queue} already queued, {queued.dead} dead; model "
            f"{model}; {swept} stale temporary files removed",
            highlight=False,
            soft_wrap=True,
        )
        for problem in queued.problems[:20]:
            self.err.print(f"  repair: {problem}", highlight=False, soft_wrap=True)

    def running(self, read_progress: Callable[[], RunProgress]) -> None:
        self.read_progress = read_progress
        self.started = time.monotonic()
        if self.bar:
            self.progress = Progress(
                TextColumn("[bold]colorizing"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[rate]}"),
                TextColumn("{task.fields[failures]}"),
                TimeElapsedColumn(),
                TextColumn("ETA"),
                TimeRemainingColumn(),
                console=self.err,
                transient=False,
            )
            self.task = self.progress.add_task("pages", total=None, rate="", failures="")
            self.progress.start()

    def job_finished(self, report: JobReport, *, here: bool) -> None:
        if here and self.json_out:
            emit_json(report.as_json())
        self.finished(report)

    def tick(self) -> None:
        if self.progress is None or self.read_progress is None:
            return
        snapshot = self.read_progress()
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
        counts = self.read_progress().counts if self.read_progress is not None else {}
        elapsed = max(1e-6, time.monotonic() - self.started)
        left = sum(counts.get(state, 0) for state in ("pending", "running", "failed"))
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


_PendingOption = Annotated[
    bool,
    typer.Option("--pending", help="Colorize every ingested page without a derivative."),
]
_ModelOption = Annotated[
    str | None, typer.Option("--model", help="Model name (default: models/DEFAULT).")
]
_WorkersOption = Annotated[
    int, typer.Option("--workers", min=1, help="Worker processes on this machine.")
]
_LimitOption = Annotated[
    int | None,
    typer.Option("--limit", min=1, help="Queue and colorize at most this many pages."),
]
_DeviceOption = Annotated[str, typer.Option("--device", help="auto, cpu, cuda, cuda:N or mps.")]
_FollowOption = Annotated[
    bool,
    typer.Option("--follow", help="Keep polling for new jobs forever (deployments)."),
]
_RepairOption = Annotated[
    bool,
    typer.Option("--repair", help="Redo pages whose derivative is missing or fails its checksum."),
]
_ForceOption = Annotated[
    bool,
    typer.Option("--force", help="Make new derivatives even for done pages (keeps old)."),
]
_LeaseSecondsOption = Annotated[
    float,
    typer.Option(
        "--lease-seconds",
        min=0.5,
        help="Seconds without a heartbeat after which another worker takes a job over.",
    ),
]
_MaxAttemptsOption = Annotated[
    int, typer.Option("--max-attempts", min=1, help="Attempts before a job is dead.")
]
_PollSecondsOption = Annotated[
    float,
    typer.Option("--poll-seconds", min=0.05, help="Idle polling interval in seconds."),
]
_JsonOutOption = Annotated[
    bool,
    typer.Option(
        "--json",
        help="One JSON line per finished job on stdout, then one summary object "
        "(queued, done, failed, dead, megapixels, seconds, megapixels_per_second).",
    ),
]
_WorkerMemoryMbOption = Annotated[
    int,
    typer.Option(
        "--worker-memory-mb",
        envvar=ENV_WORKER_MEMORY_MB,
        min=0,
        help="Hard memory cap per worker process while it colorizes a page (MiB; "
        "0: none). A page needing more ends as a dead job.",
    ),
]
_ReferenceOption = Annotated[
    Path | None,
    typer.Option(
        "--reference",
        metavar="IMAGE",
        help="Colour reference image for every page of the run (overrides volumes' "
        "defaults, see `archcolor reference set`).",
        show_default=False,
    ),
]


def process_command(
    ctx: typer.Context,
    pending: _PendingOption = False,
    volume: Annotated[str | None, typer.Option("--volume", help="Only this volume.")] = None,
    model: _ModelOption = None,
    workers: _WorkersOption = 1,
    limit: _LimitOption = None,
    device: _DeviceOption = "auto",
    chroma_size: ChromaSizeOption = DEFAULT_CHROMA_SIZE,
    paper_mask: PaperMaskOption = True,
    render: RenderOption = None,
    follow: _FollowOption = False,
    repair: _RepairOption = False,
    force: _ForceOption = False,
    lease_seconds: _LeaseSecondsOption = 60.0,
    max_attempts: _MaxAttemptsOption = DEFAULT_MAX_ATTEMPTS,
    poll_seconds: _PollSecondsOption = 2.0,
    json_out: _JsonOutOption = False,
    worker_memory_mb: _WorkerMemoryMbOption = DEFAULT_WORKER_MEMORY_MB,
    reference: _ReferenceOption = None,
    reference_palette: ReferencePaletteOption = None,
    reference_prior: ReferencePriorOption = None,
    reference_global: ReferenceGlobalOption = None,
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
    options = api.ProcessOptions(
        model=model,
        volume=volume,
        workers=workers,
        limit=limit,
        device=device,
        chroma_size=chroma_size,
        paper_mask=paper_mask,
        render=render,
        follow=follow,
        repair=repair,
        force=force,
        lease_seconds=lease_seconds,
        max_attempts=max_attempts,
        poll_seconds=poll_seconds,
        json_lines=json_out,
        worker_memory_mb=worker_memory_mb,
        reference=reference,
        reference_palette=reference_palette,
        reference_prior=reference_prior,
        reference_global=reference_global,
    )
    run = api.run_process(settings_of(ctx), options, _Feedback(json_out))
    _finish(run, json_out)


def jobs_command(
    ctx: typer.Context,
    state: Annotated[
        str | None,
        typer.Option("--state", help=f"Only jobs in this state: {', '.join(JOB_STATES)}."),
    ] = None,
    volume: Annotated[str | None, typer.Option("--volume", help="Only this volume.")] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most N rows.")] = None,
    json_out: JsonOption = False,
) -> None:
    """List colorization jobs: state, attempts, worker, lease and last error."""
    if state is not None and state not in JOB_STATES:
        raise typer.BadParameter(f"must be one of {', '.join(JOB_STATES)}", param_hint="--state")
    rows = api.list_jobs(settings_of(ctx), state=state, volume=volume, limit=limit)
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
    ids = api.retry_jobs(settings_of(ctx), job_id=job_id, dead=dead)
    if json_out:
        emit_json({"requeued": ids})
    else:
        typer.echo(f"{len(ids)} jobs queued again" + (f": {ids}" if ids else ""))


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
    checks = api.health(settings_of(ctx), model, load_model=not quick)
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
        raise typer.Exit(EXIT_ERROR)


def register(app: typer.Typer) -> None:
    """Add `process`, `jobs`, `retry` and the `worker` group to ``app``."""

    app.command("process")(process_command)
    app.command("jobs")(jobs_command)
    app.command("retry")(retry_command)

    worker_app = typer.Typer(help="Worker operations (deployments).", no_args_is_help=True)

    worker_app.command("health")(health_command)

    app.add_typer(worker_app, name="worker")


def _finish(run: ProcessRun, json_out: bool) -> None:
    err = stderr_console()
    summary, counts, seconds = run.summary, run.counts, run.seconds
    figures = run.as_json()
    if json_out:
        emit_json(figures)
    line = (
        f"this run: {run.queued} queued, {summary.done} done, {summary.failed} failed (will "
        f"retry), {summary.dead} dead, {summary.released} released, {summary.lost} lost, "
        f"{summary.reaped} expired leases reaped; {figures['megapixels']:.2f} MP in "
        f"{seconds:.1f} s ({figures['megapixels_per_second']:.2f} MP/s); queue: "
        f"{counts['pending']} pending, {counts['running']} running, {counts['failed']} failed, "
        f"{counts['done']} done, {counts['dead']} dead"
    )
    if summary.interrupted_by:
        line += f"; stopped by {summary.interrupted_by}"
    err.print(line, highlight=False, soft_wrap=True)
    for error in run.errors:
        err.print(f"error: {error}", highlight=False, soft_wrap=True)
    if summary.interrupted_by:
        raise typer.Exit(EXIT_SIGNALLED.get(summary.interrupted_by, EXIT_ERROR))
    if run.errors:
        raise JobError("; ".join(run.errors))
    if counts["dead"]:
        raise typer.Exit(EXIT_INCOMPLETE)
