"""`archcolor models [--json]`: the installed colorization models and which one is the default."""

from __future__ import annotations

from typing import Annotated

import typer
from rich import box
from rich.markup import escape
from rich.table import Table

from archive_colorizer.cli.context import EXIT_INCOMPLETE, emit_json, stdout_console
from archive_colorizer.config import ENV_MODELS_DIR
from archive_colorizer.services import api

HELP = f"""List the installed colorization models.

Models are folders NAME/ with card.json and weights.safetensors in the directories named by
{ENV_MODELS_DIR} (separated like PATH), else in the repository's models/ folder. The default
model (used when --model is not given) is named in a DEFAULT file there.

Each model's weights are hashed and checked against the sha256 in its card: status is "ok",
"MISMATCH" (the file was damaged or replaced: reinstall it) or "missing"; folders whose card.json
cannot be read are listed as "broken" with the reason.

--json prints one object: models_dirs, default, models (name, arch, config, parameters,
weights_bytes, weights_sha256, status, default, directory, training_data, metrics, created),
broken (directory, reason).

Exit status: 0 when every model verifies, 3 when a weights file is missing or does not match,
a card is broken, or the default model is not installed.
"""


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} B"


def models_command(
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    listing = api.list_models()
    default, rows, problems = listing["default"], listing["models"], listing["broken"]
    dirs = listing["models_dirs"]
    default_missing = default is not None and not any(row["default"] for row in rows)
    if json_out:
        emit_json(listing)
    else:
        console = stdout_console()
        for problem in problems:
            console.print(f"[red]broken[/]: {escape(problem['reason'])}")
        if not rows:
            console.print(f"No models installed in {', '.join(dirs)}.")
        else:
            # fits 80 columns; narrower, cells wrap onto more lines instead of being cut
            # with an ellipsis (iizuka-effl0.v1 and .v2 must stay distinguishable)
            table = Table(
                title=f"Models in {', '.join(dirs)}",
                box=box.SIMPLE_HEAD,
                show_edge=False,
                collapse_padding=True,
            )
            for column in ("", "name", "arch", "parameters", "weights", "sha256", "status"):
                table.add_column(column, overflow="fold")
            for row in rows:
                table.add_row(
                    "*" if row["default"] else "",
                    row["name"],
                    row["arch"],
                    f"{row['parameters']:,}",
                    _size(row["weights_bytes"]),
                    row["weights_sha256"][:12] + "…",
                    row["status"] if row["status"] == "ok" else f"[red]{row['status']}[/]",
                )
            console.print(table)
            if default is None:
                console.print("No default model: write a model name into models/DEFAULT.")
            elif default_missing:
                console.print(f"[red]The default model {escape(default)!r} is not installed.[/]")
            else:
                console.print(f"* default model: {default}")
    if problems or default_missing or any(row["status"] != "ok" for row in rows):
        raise typer.Exit(EXIT_INCOMPLETE)


def register(app: typer.Typer) -> None:
    """Add `models` to `app`."""

    app.command("models", help=HELP)(models_command)
