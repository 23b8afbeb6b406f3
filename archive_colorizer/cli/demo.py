"""`archcolor demo-volume DIR [--pages N] [--seed S] [--json]`: write a synthetic scanned volume."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from archive_colorizer.cli.context import emit_json
from archive_colorizer.services import api

HELP = """Write a small synthetic scanned volume (engraving-like TIFF masters) under DIR/volume-01/.

The pages mix the layouts real volumes have (8/16-bit grey, 1-bit bilevel with CCITT G4, RGB,
tiled and striped, LZW/deflate/zstd), 1000-2000 pixels a side at 600 dpi, and are the same for
the same --seed. Prints the paths written (one per line), or with --json one object
{"volume": DIR/volume-01, "pages": [paths]}. Try: `archcolor demo-volume demo && archcolor ingest
demo`.
"""


def demo_volume_command(
    directory: Annotated[
        Path, typer.Argument(help="Folder to write the volume into.", show_default=False)
    ],
    pages: Annotated[int, typer.Option("--pages", min=1, max=500, help="Pages to write.")] = 6,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the synthetic content.")] = 0,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    paths = api.write_demo_volume(directory, pages=pages, seed=seed)
    if json_out:
        emit_json({"volume": str(directory / "volume-01"), "pages": [str(p) for p in paths]})
    else:
        for path in paths:
            typer.echo(str(path))


def register(app: typer.Typer) -> None:
    """Add `demo-volume` to `app`."""

    app.command("demo-volume", help=HELP)(demo_volume_command)
