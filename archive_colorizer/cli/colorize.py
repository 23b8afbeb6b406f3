"""`archcolor colorize INPUT -o OUTPUT`: colorize one master page into a derivative TIFF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from archive_colorizer.cli.context import emit_json, settings_of, stderr_console
from archive_colorizer.cli.options import (
    ChromaSizeOption,
    PaperMaskOption,
    ReferenceGlobalOption,
    ReferencePaletteOption,
    ReferencePriorOption,
    RenderOption,
)
from archive_colorizer.config import DEFAULT_CHROMA_SIZE, ENV_SOURCE_DATE_EPOCH
from archive_colorizer.services import api

ENV_MODEL = "ARCHCOLOR_MODEL"
ENV_DEVICE = "ARCHCOLOR_DEVICE"

HELP = f"""Colorize one page of the TIFF master INPUT into the derivative TIFF OUTPUT.

No catalog is needed. The master is opened read-only and never written. The derivative has the
page's exact width and height (as displayed, i.e. after its Orientation tag), its resolution,
its own tones at full resolution, 8-bit RGB from 8-bit (or bilevel) masters and 16-bit RGB from
16-bit ones, an sRGB ICC profile and XMP provenance (source sha256, model, weights sha256,
parameters). It is written to a temporary file beside OUTPUT and renamed into place.

--render says how the colour meets the master's tones: `luminance` keeps the master's L* and
swaps in the colour (for continuous-tone masters: photographs, paintings, mezzotints); `wash`
lays the colour over the master as a transparent watercolour wash, master x wash, so ink stays
ink and the paper inside the picture takes colour (for engravings, line drawings and bilevel
scans, whose white paper has no room for colour at its own lightness). Default: the mode the
model's card names, else `luminance`. With --paper-mask (default) the page around the printed
image (margins, blank paper around the plate, captions) keeps its own tone in both modes.

The network predicts chroma at a working resolution of --chroma-size pixels on the long side
(0 = full resolution) and runs on tiles of --tile-size pixels (default: the whole working image
up to 2048 px, larger ones in 1024 px tiles); the result does not depend on the tile size.

--model defaults to {ENV_MODEL} or the installed default (see `archcolor models`); --device to
{ENV_DEVICE} or auto (CUDA when available; half precision is used only on CUDA).

--reference IMAGE (a JPEG, PNG or TIFF: a coloured copy of the plate, an approved page, a
painting) gives the network's global prior from that image instead of the page (Iizuka et al.
2016, §5), so pages given the same reference share one colour mood; --reference-palette S (0..1,
default 0) also moves the page's colour towards the reference's palette. The reference's sha256
and file name are recorded in the derivative's XMP.

Same master, model and options give the same pixels. The derivative's DateTime (TIFF tag and
xmp:CreateDate) is the current time, or {ENV_SOURCE_DATE_EPOCH} (Unix seconds) when that is set, so
that two runs are byte-identical.

--json prints one object: input, output, page, width, height, bits, bytes, sha256, seconds,
megapixels_per_second, stage_seconds, model, weights_sha256, device, parameters.

When a catalog exists (--db), OUTPUT may not lie in a folder that was ingested, nor replace a
file holding a catalogued master's bytes.

OUTPUT must end in .tif or .tiff; JPEG, PNG and WebP copies of processed pages come from
`archcolor export --format jpeg|png|webp`.

Exit status: 0 on success, 1 on an error (missing or unusable INPUT, OUTPUT exists without
--overwrite, OUTPUT inside an ingested folder, unknown model, damaged weights, device
unavailable).
"""


def _warn(line: str) -> None:
    stderr_console().print(f"warning: {line}", markup=False, highlight=False)


def _print_summary(summary: dict[str, Any]) -> None:
    console = stderr_console()
    stages = ", ".join(
        f"{name} {seconds:.2f}s" for name, seconds in summary["stage_seconds"].items()
    )
    console.print(
        f"{summary['output']}: {summary['width']}x{summary['height']} {summary['bits']}-bit RGB, "
        f"{summary['bytes']:,} bytes, {summary['seconds']:.2f} s "
        f"({summary['megapixels_per_second']:.2f} MP/s), model {summary['model']} "
        f"on {summary['device']}",
        highlight=False,
        soft_wrap=True,
    )
    if stages:
        console.print(f"stages: {stages}", highlight=False, soft_wrap=True)


_SourceOption = Annotated[
    Path, typer.Argument(metavar="INPUT", help="TIFF master.", show_default=False)
]
_OutputOption = Annotated[
    Path,
    typer.Option(
        "--output",
        "-o",
        help="Derivative TIFF to write (.tif or .tiff).",
        show_default=False,
    ),
]
_ModelOption = Annotated[
    str | None,
    typer.Option("--model", envvar=ENV_MODEL, help="Model name (default: installed)."),
]
_LowpassOption = Annotated[
    float | None,
    typer.Option(
        "--lowpass",
        min=0.0,
        help="Low-pass (Gaussian sigma, working px) against line/dot screens.",
        show_default=False,
    ),
]
_BilevelLowpassOption = Annotated[
    float | None,
    typer.Option(
        "--bilevel-lowpass",
        min=0.0,
        help="Low-pass (Gaussian sigma, working px) used instead of --lowpass for bilevel "
        "(1-bit) masters, whose tone is all line and dot screen (default 2).",
        show_default=False,
    ),
]
_TileSizeOption = Annotated[
    int | None,
    typer.Option("--tile-size", min=1, help="Network tile (window) side in px."),
]
_DeviceOption = Annotated[
    str, typer.Option("--device", envvar=ENV_DEVICE, help="auto, cpu, cuda or cuda:N.")
]
_CompressionOption = Annotated[
    str | None,
    typer.Option(
        "--compression",
        help="none, lzw, deflate or zstd. [default: deflate]",
        show_default=False,
    ),
]
_ReferenceOption = Annotated[
    Path | None,
    typer.Option(
        "--reference",
        metavar="IMAGE",
        help="Colour reference image whose global features set the page's colour mood.",
        show_default=False,
    ),
]
_HintsOption = Annotated[
    Path | None,
    typer.Option(
        "--hints",
        metavar="FILE",
        help="Colour hints file (docs/hints.md) with a page for this master (by file "
        "name and --page); any model: the hints are spread over its prediction.",
        show_default=False,
    ),
]
_OverwriteOption = Annotated[bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")]


def colorize_command(
    ctx: typer.Context,
    source: _SourceOption,
    output: _OutputOption,
    model: _ModelOption = None,
    page: Annotated[int, typer.Option("--page", min=0, help="Image page index.")] = 0,
    chroma_size: ChromaSizeOption = DEFAULT_CHROMA_SIZE,
    lowpass: _LowpassOption = None,
    bilevel_lowpass: _BilevelLowpassOption = None,
    tile_size: _TileSizeOption = None,
    device: _DeviceOption = "auto",
    compression: _CompressionOption = None,
    paper_mask: PaperMaskOption = True,
    render: RenderOption = None,
    reference: _ReferenceOption = None,
    reference_palette: ReferencePaletteOption = None,
    reference_prior: ReferencePriorOption = None,
    reference_global: ReferenceGlobalOption = None,
    hints: _HintsOption = None,
    overwrite: _OverwriteOption = False,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    summary = api.colorize_file(
        settings_of(ctx),
        source,
        output,
        model=model,
        page=page,
        chroma_size=chroma_size,
        lowpass=lowpass,
        bilevel_lowpass=bilevel_lowpass,
        tile_size=tile_size,
        device=device,
        compression=compression,
        paper_mask=paper_mask,
        render=render,  # checked before the model loads
        overwrite=overwrite,
        on_warning=_warn,
        reference=reference,
        reference_palette=reference_palette,
        reference_prior=reference_prior,
        reference_global=reference_global,
        hints=hints,
    )
    if json_out:
        emit_json(summary)
    else:
        _print_summary(summary)


def register(app: typer.Typer) -> None:
    """Add `colorize` to `app`."""

    app.command("colorize", help=HELP)(colorize_command)
