"""`archcolor simulate`: render a photo as a simulated engraving (training/evaluation aid)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archive_colorizer.cli.context import emit_json
from archive_colorizer.services import api


def simulate_command(
    source: Annotated[Path, typer.Argument(help="Input image (JPEG, PNG, TIFF; 8/16-bit).")],
    target: Annotated[Path, typer.Argument(help="Output image; format from its suffix.")],
    style: Annotated[
        str,
        typer.Option(
            "--style",
            help="gravure | color-gravure (the 2018 report's filter, exact input size), "
            "hatching | halftone (engraving-like, randomised by --seed).",
        ),
    ] = "gravure",
    seed: Annotated[int, typer.Option("--seed", help="Random seed (hatching, halftone).")] = 0,
    json_output: Annotated[bool, typer.Option("--json", help="Print a JSON summary.")] = False,
) -> None:
    """Render IN as a simulated engraving in OUT (same width and height; IN is only read)."""
    result = api.simulate_file(source, target, style, seed)
    if json_output:
        emit_json(result)
    else:
        typer.echo(
            f"{target}: {result['style']} {result['width']}x{result['height']} "
            f"({result['mode']}, seed {seed})"
        )


def register(app: typer.Typer) -> None:
    """Add this module's commands to `app`."""

    app.command("simulate")(simulate_command)
