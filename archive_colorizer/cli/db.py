"""`archcolor db upgrade` and `archcolor db current`: the catalog's schema version."""

from __future__ import annotations

from typing import Annotated

import typer

from archive_colorizer.cli.context import emit_json, settings_of
from archive_colorizer.services import api

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON object.")]


def upgrade_command(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Migrate the catalog database to the newest schema (back it up first).

    Safe to repeat; safe to run while no other archcolor command uses the database.
    """
    settings = settings_of(ctx)
    before, after = api.db_upgrade(settings)
    if json_out:
        emit_json({"before": before, "after": after, "changed": before != after})
    elif before == after:
        typer.echo(f"{api.database_name(settings)}: already at schema {after} (head)")
    else:
        typer.echo(
            f"{api.database_name(settings)}: schema upgraded from "
            f"{before or 'empty'} to {after} (head)"
        )


def current_command(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Show the catalog database's schema revision and whether it is current."""
    settings = settings_of(ctx)
    status = api.db_status(settings)
    if json_out:
        emit_json({"current": status.current, "head": status.head, "up_to_date": status.up_to_date})
        return
    where = api.database_name(settings)
    if status.up_to_date:
        typer.echo(f"{where}: schema {status.current} (head)")
    elif status.current is None:
        typer.echo(
            f"{where}: empty (no schema yet; head is {status.head}); `archcolor db "
            "upgrade` creates it (so does the first `archcolor ingest`)"
        )
    else:
        typer.echo(
            f"{where}: schema {status.current}, head is {status.head}; run `archcolor db upgrade`"
        )


def register(app: typer.Typer) -> None:
    """Add the `db` command group to `app`."""
    db_app = typer.Typer(
        help="Catalog database schema: show its version, migrate it to this archcolor's.",
        no_args_is_help=True,
    )

    db_app.command("upgrade")(upgrade_command)
    db_app.command("current")(current_command)

    app.add_typer(db_app, name="db")
