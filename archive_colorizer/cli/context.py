"""Helpers shared by CLI commands: settings from the context, JSON and rich output."""

from __future__ import annotations

import contextlib
import json
import sys
from collections.abc import Iterator
from typing import Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from archive_colorizer.config import Settings

#: Exit statuses, one name per meaning (app.py's docstring lists them for the user).
EXIT_OK = 0
#: an error: one line on stderr (the traceback only with ``--debug``)
EXIT_ERROR = 1
#: the command line was wrong (click's own status)
EXIT_USAGE = 2
#: the command ran to its end, but some of what it was given was rejected, failed or did not verify
EXIT_INCOMPLETE = 3
#: a worker stopped by a signal exits 128 + the signal's number, as a shell would report it
EXIT_SIGNALLED = {"SIGINT": 130, "SIGTERM": 143}


def settings_of(ctx: typer.Context) -> Settings:
    """The Settings the global callback built for this invocation."""
    obj = ctx.find_root().obj
    if not isinstance(obj, Settings):  # pragma: no cover - the callback always sets it
        raise RuntimeError("archcolor settings were not initialised")
    return obj


def emit_json(payload: Any) -> None:
    """Print one JSON document (one line) on stdout."""
    sys.stdout.write(json.dumps(payload, sort_keys=True, default=str) + "\n")
    sys.stdout.flush()


def stderr_console() -> Console:
    """A rich console on stderr, for progress and human-readable summaries."""
    return Console(stderr=True)


def stdout_console() -> Console:
    """A rich console on stdout, for tables."""
    return Console()


class FileTicker:
    """Advances a :func:`file_progress` bar: files done and their bytes."""

    def __init__(self, progress: Progress, task: TaskID) -> None:
        self.progress = progress
        self.task = task
        self.done = 0

    def start(self, files: int, size: int) -> None:
        """The work is known: ``files`` files of ``size`` bytes in all."""
        self.progress.update(self.task, total=size, files=files)

    def file(self, size: int, line: str | None = None) -> None:
        """A file of ``size`` bytes is done; ``line`` is printed above the bar."""
        self.done += 1
        if line is not None:
            self.progress.console.print(line, markup=False, highlight=False)
        self.progress.update(self.task, advance=size, done=self.done)


@contextlib.contextmanager
def file_progress(label: str, *, total: int | None = None, files: int = 0) -> Iterator[FileTicker]:
    """A transient progress bar on stderr of files and bytes (ingest, verify)."""
    with Progress(
        TextColumn(f"[bold]{label}[/]"),
        BarColumn(),
        TextColumn("{task.fields[done]}/{task.fields[files]} files"),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=stderr_console(),
        transient=True,
    ) as progress:
        yield FileTicker(progress, progress.add_task(label, total=total, done=0, files=files))
