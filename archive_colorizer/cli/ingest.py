"""`archcolor ingest PATH... [--volume NAME] [--json]`: catalogue masters."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archive_colorizer.cli.context import (
    EXIT_INCOMPLETE,
    emit_json,
    file_progress,
    settings_of,
)
from archive_colorizer.services import api

if TYPE_CHECKING:
    from archive_colorizer.services.ingest import FileOutcome


HELP = """Catalogue the TIFF masters under PATH... (folders are walked recursively, sorted).

Each file is hashed (sha256, streamed) and identified by its content, never its extension; its
format facts are read from the tags and each image page becomes a scan. Re-running is safe:
unchanged files add nothing; a file whose bytes changed becomes a new version (the old one is
kept as history); the same content at two paths is catalogued and reported as a duplicate.
Unusable files (not a TIFF, truncated, corrupt, unreadable, symlink loops, over --pixel-limit)
are catalogued as rejected with a one-line reason; they never stop the run. archcolor's own
SQLite catalog and --store are skipped when they lie inside PATH, and so are its outputs
(export manifests, BagIt tag files, derivatives and access copies carrying archcolor's XMP):
named on stderr with the reason, counted as skipped_own, never catalogued.

Symbolic links are followed only while they stay inside the folder being ingested: a link whose
target leaves it is not followed (nothing is read through it) and is catalogued as rejected with
that reason; --follow-links follows such links too.

Volume: without --volume each PATH goes to a volume named after its folder (a file's parent
folder); paths are stored relative to that folder.

--json prints one object: ingested, unchanged, changed, duplicates, rejected, skipped_own
(files: each file counts in exactly one), links_refused (of the rejected), bytes (read this
run), files, pages, skipped_reduced, volumes.

Exit status: 0 when nothing was rejected in this run, 3 when a file was rejected (the others
were still catalogued; see `archcolor scans --state rejected`), 1 on an error such as a missing
PATH or an unreachable database.
"""


#: outcomes named on stderr as they happen
_NAMED = ("rejected", "duplicate", "skipped")  # FileStatus values


def _describe(outcome: FileOutcome) -> str:
    return f"{outcome.status}: {outcome.volume}/{outcome.path}: {outcome.reason}"


def ingest_command(
    ctx: typer.Context,
    paths: Annotated[
        list[Path], typer.Argument(help="Folders or files to ingest.", show_default=False)
    ],
    volume: Annotated[
        str | None,
        typer.Option("--volume", help="Catalogue everything into this volume."),
    ] = None,
    follow_links: Annotated[
        bool,
        typer.Option(
            "--follow-links",
            help="Also follow symbolic links that lead out of the folder being ingested.",
        ),
    ] = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    settings = settings_of(ctx)
    # missing paths fail here, before anything is written
    work = api.plan_ingest(settings, paths, volume, follow_links=follow_links)
    started = time.monotonic()
    show_progress = sys.stderr.isatty()
    if show_progress:
        with file_progress("ingest", total=work.bytes, files=work.files) as ticker:

            def advance(outcome: FileOutcome) -> None:
                ticker.file(outcome.size, _describe(outcome) if outcome.status in _NAMED else None)

            summary = api.ingest(settings, paths, work, advance)
    else:

        def report(outcome: FileOutcome) -> None:
            if outcome.status in _NAMED:
                typer.echo(_describe(outcome), err=True)

        summary = api.ingest(settings, paths, work, report)
    seconds = time.monotonic() - started
    if json_out:
        emit_json(summary.as_dict())
    else:
        rate = summary.bytes / 1e6 / seconds if seconds > 0 else 0.0
        typer.echo(
            f"{', '.join(summary.volumes) or 'nothing to ingest'}: "
            f"{summary.ingested} ingested, {summary.unchanged} unchanged, "
            f"{summary.changed} changed, {summary.duplicates} duplicates, "
            f"{summary.rejected} rejected"
            + (
                f", {summary.links_refused} of them links not followed"
                if summary.links_refused
                else ""
            )
            + (
                f", {summary.skipped_own} skipped (archcolor's own outputs)"
                if summary.skipped_own
                else ""
            )
            + f" ({summary.pages} pages catalogued); "
            f"{summary.bytes / 1e6:.1f} MB read in {seconds:.1f} s ({rate:.0f} MB/s)"
        )
        if summary.rejected:
            typer.echo("rejected files: `archcolor scans --state rejected`", err=True)
    if summary.rejected:
        raise typer.Exit(EXIT_INCOMPLETE)


def register(app: typer.Typer) -> None:
    """Add `ingest` to `app`."""

    app.command("ingest", help=HELP)(ingest_command)
