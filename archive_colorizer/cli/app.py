"""The `archcolor` Typer application: global options, command registration, top-level errors.

Exit codes: 0 success; 1 an error (one line on stderr, traceback only with ``--debug``);
2 usage error; 3 the command finished but something was rejected or failed (see each command).
"""

from __future__ import annotations

import sys
import traceback
from pathlib import Path
from typing import Annotated

import typer

from archive_colorizer import __version__
from archive_colorizer.cli import (
    browse,
    c2pa,
    colorize,
    db,
    demo,
    export,
    hints,
    ingest,
    models,
    process,
    reference,
    simulate,
    train,
    verify,
)
from archive_colorizer.config import (
    DEFAULT_DATABASE_URL,
    DEFAULT_PAGE_LIMIT,
    DEFAULT_PIXEL_LIMIT,
    DEFAULT_STORE,
    ENV_DATABASE_URL,
    ENV_PAGE_LIMIT,
    ENV_PIXEL_LIMIT,
    ENV_STORE,
    Settings,
)
from archive_colorizer.services import api

app = typer.Typer(
    name="archcolor",
    help="Catalogue, colorize and export scanned archival gravures (TIFF masters).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"archcolor {__version__}")
        raise typer.Exit()


@app.callback()
def global_options(
    ctx: typer.Context,
    db_url: Annotated[
        str,
        typer.Option(
            "--db", envvar=ENV_DATABASE_URL, help="Catalog database URL (SQLite or PostgreSQL)."
        ),
    ] = DEFAULT_DATABASE_URL,
    store: Annotated[
        Path,
        typer.Option("--store", envvar=ENV_STORE, help="Directory where derivatives are written."),
    ] = Path(DEFAULT_STORE),
    pixel_limit: Annotated[
        int,
        typer.Option(
            "--pixel-limit",
            envvar=ENV_PIXEL_LIMIT,
            min=1,
            help="Reject pages declaring more pixels than this (decompression-bomb guard).",
        ),
    ] = DEFAULT_PIXEL_LIMIT,
    page_limit: Annotated[
        int,
        typer.Option(
            "--page-limit",
            envvar=ENV_PAGE_LIMIT,
            min=1,
            help="Reject files holding more image pages than this.",
        ),
    ] = DEFAULT_PAGE_LIMIT,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks on errors.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Catalogue, colorize and export scanned archival gravures (TIFF masters)."""
    ctx.obj = Settings(
        database_url=db_url,
        store=store,
        pixel_limit=pixel_limit,
        page_limit=page_limit,
        debug=debug,
    )


for module in (
    db,
    ingest,
    browse,
    verify,
    models,
    colorize,
    process,
    export,
    c2pa,
    hints,
    reference,
    simulate,
    train,
    demo,
):
    module.register(app)


def run(argv: list[str] | None = None) -> int:
    """Run the CLI with ``argv`` and return the exit status (what `main` and tests use)."""
    args = list(sys.argv[1:] if argv is None else argv)
    try:
        app(args=args, prog_name="archcolor")
    except SystemExit as exit_:  # typer/click finish every run this way in standalone mode
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except Exception as error:
        # archcolor's own errors, and database errors that escaped a command, are one line
        problem = api.as_error(error)
        if problem is None:
            raise
        if "--debug" in args:
            traceback.print_exc()
        typer.echo(f"error: {problem}", err=True)
        return problem.exit_code
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return 130
    return 0


def main() -> None:
    """Console-script entry point."""
    sys.exit(run())
