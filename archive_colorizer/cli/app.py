"""The `archcolor` Typer application: global options, command registration, top-level errors.

Exit codes (names in cli/context.py): 0 success; 1 an error (one line on stderr, the traceback
only with ``--debug``), unexpected ones included; 2 usage error; 3 the command finished but
something was rejected or failed (see each command); 130/143 a worker stopped by SIGINT/SIGTERM.
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import os
import sys
import threading
import traceback
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer
from typer.core import TyperGroup

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
from archive_colorizer.cli.context import EXIT_ERROR, EXIT_OK, EXIT_SIGNALLED
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


class _Failed(Exception):
    """An exception that escaped a command, with the --debug the command ran under."""

    def __init__(self, error: Exception, debug: bool) -> None:
        super().__init__(str(error))
        self.error = error
        self.debug = debug


class _ArchcolorGroup(TyperGroup):
    """The root command: hands an exception that escapes a command to `run` with the parsed
    ``--debug`` (click's own exits and usage errors pass through untouched)."""

    def invoke(self, ctx: Any) -> Any:  # click's Context (typer vendors click privately)
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort, typer.TyperException, EOFError):
            raise  # click's own: exits, usage errors (printed, exit 2), aborts
        except Exception as error:
            if isinstance(error, OSError) and error.errno == errno.EPIPE:
                raise  # the reader of stdout went away: click exits quietly
            settings = ctx.obj
            raise _Failed(error, isinstance(settings, Settings) and settings.debug) from error


app = typer.Typer(
    cls=_ArchcolorGroup,
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
    except _Failed as failed:
        return _report(failed.error, failed.debug)
    except KeyboardInterrupt:
        typer.echo("interrupted", err=True)
        return EXIT_SIGNALLED["SIGINT"]
    except Exception as error:  # raised while parsing, before a command ran
        return _report(error, debug=False)
    return EXIT_OK


def _report(error: Exception, debug: bool) -> int:
    """One line on stderr for an exception that escaped a command (its traceback first with
    --debug); archcolor's own errors and database errors say what to do, anything else is a bug
    and says how to see where it happened."""
    if debug:
        traceback.print_exception(error)
    problem = api.as_error(error)
    if problem is not None:
        typer.echo(f"error: {problem}", err=True)
        return problem.exit_code
    detail = str(error).strip().splitlines()
    typer.echo(
        f"error: unexpected {type(error).__name__}"
        + (f": {detail[0]}" if detail else "")
        + ("" if debug else " (run with --debug for the traceback)"),
        err=True,
    )
    return EXIT_ERROR


def main() -> None:
    """Console-script entry point."""
    code = run()
    if "torch" in sys.modules and _only_daemon_threads_left():
        _exit_without_teardown(code)
    sys.exit(code)


def _only_daemon_threads_left() -> bool:
    return all(t.daemon for t in threading.enumerate() if t is not threading.main_thread())


def _exit_without_teardown(code: int) -> NoReturn:
    """Exit with ``code`` after the atexit functions (temporary folders, executor threads,
    logging) and flushing the standard streams, but without the interpreter's teardown of every
    module and object: with torch loaded that teardown takes ~0.5 s, a quarter of a one-page
    `colorize`'s start-up. Only once the command returned and no other thread still works;
    commands close what they open (files, catalogs) themselves."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe or stream
            stream.flush()
    os._exit(code)
