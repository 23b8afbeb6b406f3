"""`archcolor reference set | clear | list`: a volume's default colour reference."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archive_colorizer.cli.context import emit_json, settings_of
from archive_colorizer.services import api

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]
VolumeArgument = Annotated[str, typer.Argument(metavar="VOLUME", help="The volume's name.")]

SET_HELP = """Make IMAGE (JPEG, PNG or TIFF) the default colour reference of VOLUME.

The network's global features come from IMAGE instead of each page (Iizuka et al. 2016, §5), so
the volume's pages share one colour mood. The reference is recorded by the sha256 of its file
(the path is where workers read it); the sha256 becomes part of each page's job, so the next
`archcolor process --pending` colours exactly this volume's pages again (the old derivatives
stay as history). A `reference-set` event is recorded on each of its scans. If the file changes
later, its pages' jobs fail with a message saying to run `reference set` again.
"""


def _echo_change(change: dict[str, object], json_out: bool) -> None:
    if json_out:
        emit_json(change)
    elif not change["changed"]:
        typer.echo(f"volume {change['volume']}: unchanged")
    elif change["sha256"] is None:
        typer.echo(
            f"volume {change['volume']}: colour reference removed ({change['scans']} scan(s); "
            "run `archcolor process --pending` to colour them again)"
        )
    else:
        typer.echo(
            f"volume {change['volume']}: colour reference {change['file_name']} "
            f"(sha256 {str(change['sha256'])[:12]}…) for {change['scans']} scan(s); run "
            "`archcolor process --pending` to colour them with it"
        )


def register(app: typer.Typer) -> None:
    """Add the `reference` command group to `app`."""
    reference_app = typer.Typer(
        help="A volume's default colour reference: set, clear, list.", no_args_is_help=True
    )

    @reference_app.command("set", help=SET_HELP)
    def set_command(
        ctx: typer.Context,
        volume: VolumeArgument,
        image: Annotated[Path, typer.Argument(metavar="IMAGE", help="The reference image.")],
        json_out: JsonOption = False,
    ) -> None:
        change = api.set_reference(settings_of(ctx), volume, image)
        _echo_change(change.as_dict(), json_out)

    @reference_app.command("clear")
    def clear_command(
        ctx: typer.Context, volume: VolumeArgument, json_out: JsonOption = False
    ) -> None:
        """Remove VOLUME's default colour reference (its pages go back to their own colours)."""
        change = api.clear_reference(settings_of(ctx), volume)
        _echo_change(change.as_dict(), json_out)

    @reference_app.command("list")
    def list_command(ctx: typer.Context, json_out: JsonOption = False) -> None:
        """List the registered colour references and the volumes using them."""
        rows = api.list_references(settings_of(ctx))
        if json_out:
            emit_json(rows)
            return
        for row in rows:
            volumes = ", ".join(row["volumes"]) or "no volume"
            typer.echo(
                f"{row['sha256'][:12]}…  {row['file_name']} ({row['width']}x{row['height']}) "
                f"{row['path']}: {volumes}"
            )
        if not rows:
            typer.echo("no colour references", err=True)

    app.add_typer(reference_app, name="reference")
