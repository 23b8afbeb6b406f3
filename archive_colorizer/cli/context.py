"""Helpers shared by CLI commands: settings from the context, JSON and rich output."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

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
