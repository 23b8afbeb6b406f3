"""`archcolor hints import | list | export | clear`: curators' colour hints (docs/hints.md)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from archive_colorizer.cli.context import emit_json, settings_of
from archive_colorizer.services import api

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
AuthorOption = Annotated[
    str | None,
    typer.Option(
        "--author",
        help="Who chose the colours, when the file does not say (default: your login name).",
    ),
]
ScanOption = Annotated[int | None, typer.Option("--scan", help="Only this scan id.")]
VolumeOption = Annotated[str | None, typer.Option("--volume", help="Only this volume.")]

IMPORT_HELP = """Record the colour hints of FILE (a hints JSON file, see docs/hints.md).

The whole file is checked against the catalog first: a malformed file, an unknown page, a point
outside its page or a bad colour is named on one line and nothing is recorded. Each page whose
hints differ from its current ones gets a new current hint set (the old one is kept as
history); importing the same file again changes nothing.
"""


def import_command(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The hints JSON file.")],
    author: AuthorOption = None,
    json_out: JsonOption = False,
) -> None:
    settings = settings_of(ctx)
    summary = api.import_hints(settings, file, author=author)
    if json_out:
        emit_json(summary.as_dict())
    else:
        typer.echo(
            f"{file}: {summary.pages} page(s): {summary.imported} new hint set(s) "
            f"({summary.hints} hints), {summary.unchanged} unchanged"
        )


def list_command(
    ctx: typer.Context,
    scan: ScanOption = None,
    volume: VolumeOption = None,
    json_out: JsonOption = False,
) -> None:
    """List the current hint sets (of one scan, one volume, or all)."""
    settings = settings_of(ctx)
    rows = api.list_hints(settings, scan_id=scan, volume=volume)
    if json_out:
        emit_json([row.as_dict() for row in rows])
        return
    for row in rows:
        typer.echo(
            f"scan {row.scan_id}  {row.volume}/{row.path} page {row.page}: {row.hints} "
            f"hint(s) by {row.author}, {row.created_at[:19]}Z, sha256 {row.sha256[:12]}"
            + (f" ({row.earlier_sets} earlier)" if row.earlier_sets else "")
        )
    if not rows:
        typer.echo("no current colour hints", err=True)


def export_command(
    ctx: typer.Context,
    volume: VolumeOption = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="Write here (default: stdout).")
    ] = None,
) -> None:
    """Write a volume's current hints as a hints file (importing it again is a no-op)."""
    settings = settings_of(ctx)
    document = api.export_hints(settings, volume=volume)
    text = json.dumps(document, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        typer.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        typer.echo(f"{output}: hints of {len(document['pages'])} page(s)", err=True)


def clear_command(
    ctx: typer.Context,
    scan: ScanOption = None,
    volume: VolumeOption = None,
    author: AuthorOption = None,
    json_out: JsonOption = False,
) -> None:
    """Withdraw the current hints of a scan or a volume (kept as history, with an event)."""
    settings = settings_of(ctx)
    summary = api.clear_hints(settings, scan_id=scan, volume=volume, author=author)
    if json_out:
        emit_json(summary.as_dict())
    else:
        typer.echo(f"{summary.cleared} hint set(s) cleared")


def register(app: typer.Typer) -> None:
    """Add the `hints` command group to `app`."""
    hints_app = typer.Typer(
        help="Curators' colour hints per page: import, list, export, clear (docs/hints.md).",
        no_args_is_help=True,
    )

    hints_app.command("import", help=IMPORT_HELP)(import_command)
    hints_app.command("list")(list_command)
    hints_app.command("export")(export_command)
    hints_app.command("clear")(clear_command)

    app.add_typer(hints_app, name="hints")
