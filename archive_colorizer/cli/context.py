"""Helpers shared by CLI commands: settings from the context, JSON and rich output."""

from __future__ import annotations

import json
import sys
from typing import Any

import typer
from rich.console import Console

from archive_colorizer.config import Settings


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
