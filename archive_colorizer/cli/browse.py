"""`archcolor status`, `archcolor scans` and `archcolor show`: read the catalog."""

from __future__ import annotations

from typing import Annotated, Any

import typer
from rich.table import Table

from archive_colorizer.cli.context import emit_json, settings_of, stdout_console
from archive_colorizer.config import SCAN_STATE_CHOICES as STATE_CHOICES
from archive_colorizer.services import api

JsonOption = Annotated[bool, typer.Option("--json", help="Print one JSON document.")]


def _pixels(scan: dict[str, Any]) -> str:
    if scan["width"] is None:
        return ""
    return f"{scan['width']}x{scan['height']}"


def _format(scan: dict[str, Any]) -> str:
    if scan["bits_per_sample"] is None:
        return ""
    layout = "tiled" if scan["tiled"] else "striped"
    return (
        f"{scan['bits_per_sample']}-bit {scan['photometric']} x{scan['samples_per_pixel']} "
        f"{scan['compression']} {layout}"
    )


def _derivative_text(derivative: dict[str, Any]) -> str:
    prov = derivative["provenance"]
    activity = prov.get("activity", {})
    state = "current" if derivative["current"] else "superseded"
    return "\n".join(
        [
            f"derivative #{derivative['id']} ({state}, generation {derivative['generation']}): "
            f"{derivative['path']}",
            f"  {derivative['width']}x{derivative['height']}  {derivative['bytes']} bytes  "
            f"sha256 {derivative['sha256']}",
            f"  from master sha256 {prov.get('entity', {}).get('sha256', '')}",
            f"  model {derivative['model']} weights sha256 {derivative['weights_sha256']}",
            f"  by {prov.get('agent', {}).get('software', {}).get('name', '')} "
            f"{activity.get('startedAtTime', '')} .. {activity.get('endedAtTime', '')}",
            f"  parameters {activity.get('parameters', {})}",
        ]
    )


def status_command(ctx: typer.Context, json_out: JsonOption = False) -> None:
    """Catalog totals.

    scans: image pages catalogued; rejected: files rejected; superseded: older versions kept
    as history; files and bytes: current files and their size; volumes; events;
    jobs_pending/running/done/failed/dead: colorization jobs by state (failed: waiting for
    a retry); derivatives: current colorized files.
    """
    counts = api.catalog_status(settings_of(ctx))
    if json_out:
        emit_json(counts)
        return
    width = max(len(name) for name in counts)
    for name, value in counts.items():
        typer.echo(f"{name:<{width}}  {value}")


def scans_command(
    ctx: typer.Context,
    volume: Annotated[str | None, typer.Option("--volume", help="Only this volume.")] = None,
    state: Annotated[
        str,
        typer.Option(
            "--state",
            help=f"One of {', '.join(STATE_CHOICES)}; current = ingested and rejected.",
        ),
    ] = "current",
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="At most this many rows.")
    ] = None,
    json_out: JsonOption = False,
) -> None:
    """List scans (one per image page; rejected files have one row), by volume and path.

    --json prints one JSON array of objects with every catalogued fact.
    """
    if state not in STATE_CHOICES:
        raise typer.BadParameter(f"must be one of {', '.join(STATE_CHOICES)}", param_hint="--state")
    rows = api.list_scans(settings_of(ctx), volume=volume, state=state, limit=limit)
    if json_out:
        emit_json(rows)
        return
    table = Table("id", "volume", "path", "page", "v", "state", "pixels", "format", "reason")
    for row in rows:
        page = f"{row['page_index'] + 1}/{row['page_count']}" if row["page_count"] else ""
        table.add_row(
            str(row["id"]),
            row["volume"],
            row["path"],
            page,
            str(row["version"]),
            row["state"],
            _pixels(row),
            _format(row),
            row["reason"] or "",
        )
    console = stdout_console()
    if not console.is_terminal:
        console.width = max(console.width, 200)  # piped: do not squeeze the columns
    console.print(table)
    typer.echo(f"{len(rows)} scans")


def show_command(
    ctx: typer.Context,
    scan_id: Annotated[int, typer.Argument(help="Scan id (see `archcolor scans`).")],
    json_out: JsonOption = False,
) -> None:
    """Every fact and event of one scan, the versions of its file, its duplicates, its
    colorization jobs and derivatives (with full provenance in --json)."""
    facts, scan = api.show_scan(settings_of(ctx), scan_id)
    if json_out:
        emit_json(scan)
        return
    width = max(len(name) for name in facts)
    for name in facts:
        value = scan[name]
        typer.echo(f"{name:<{width}}  {'' if value is None else value}")
    typer.echo("events:")
    for event in scan["events"]:
        typer.echo(
            f"  {event['occurred_at']}  {event['type']}  {event['outcome']}: "
            f"{event['detail']}  ({event['agent']})"
        )
    if len(scan["versions"]) > 1:
        typer.echo(
            "versions: "
            + ", ".join(f"#{v['id']} v{v['version']} {v['state']}" for v in scan["versions"])
        )
    if scan["duplicates"]:
        typer.echo(
            "duplicates: "
            + ", ".join(f"#{d['id']} {d['volume']}/{d['path']}" for d in scan["duplicates"])
        )
    for job in scan["jobs"]:
        error = f": {job['last_error']}" if job["last_error"] else ""
        typer.echo(
            f"job #{job['id']}  {job['model']}  {job['state']}  attempts "
            f"{job['attempts']}/{job['max_attempts']}  generation {job['generation']}{error}"
        )
    for derivative in scan["derivatives"]:
        typer.echo(_derivative_text(derivative))


def register(app: typer.Typer) -> None:
    """Add `status`, `scans` and `show` to `app`."""

    app.command("status")(status_command)
    app.command("scans")(scans_command)
    app.command("show")(show_command)
