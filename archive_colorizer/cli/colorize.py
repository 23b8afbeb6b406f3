"""`archcolor colorize INPUT -o OUTPUT`: colorize one master page into a derivative TIFF."""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from archive_colorizer import __version__
from archive_colorizer.cli.context import emit_json, settings_of, stderr_console
from archive_colorizer.errors import (
    ConfigurationError,
    FixityError,
    InputError,
    OutputError,
    PathNotFoundError,
)

if TYPE_CHECKING:
    from archive_colorizer.imaging.hashing import FileSnapshot
    from archive_colorizer.imaging.tiff_facts import PageFacts

ENV_MODEL = "ARCHCOLOR_MODEL"
ENV_DEVICE = "ARCHCOLOR_DEVICE"
ENV_SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"

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


def _creation_time() -> datetime:
    """Now (UTC, seconds), or the time in SOURCE_DATE_EPOCH when set (reproducible files)."""
    epoch = os.environ.get(ENV_SOURCE_DATE_EPOCH, "").strip()
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), UTC)
        except (ValueError, OverflowError, OSError):
            raise ConfigurationError(
                f"{ENV_SOURCE_DATE_EPOCH}={epoch!r} is not a Unix time in whole seconds"
            ) from None
    return datetime.now(UTC).replace(microsecond=0)


#: what OUTPUT may be named: colorize writes TIFF derivatives only
TIFF_SUFFIXES = (".tif", ".tiff")


def _check_paths(source: Path, output: Path, overwrite: bool) -> None:
    if output.suffix.lower() not in TIFF_SUFFIXES:
        raise OutputError(
            f"{output}: colorize writes a TIFF derivative, so OUTPUT must end in .tif or .tiff; "
            "for JPEG, PNG or WebP copies of processed pages use "
            "`archcolor export --format jpeg|png|webp`"
        )
    if not source.exists():
        raise PathNotFoundError(f"{source}: no such file; check the path")
    if not source.is_file():
        raise InputError(f"{source}: not a file; give one TIFF master")
    if output.exists() and output.resolve() == source.resolve():
        raise InputError(f"{output}: OUTPUT is the master itself; masters are never overwritten")
    if output.exists() and os.path.samefile(source, output):
        raise InputError(f"{output}: OUTPUT is a link to the master; choose another path")
    if output.is_dir():
        raise OutputError(f"{output}: is a folder; give the derivative's file name")
    if not output.parent.is_dir():
        raise OutputError(f"{output.parent}: folder does not exist; create it first")
    if output.exists() and not overwrite:
        raise OutputError(f"{output}: already exists; pass --overwrite to replace it")


def _verify_source_unchanged(before: FileSnapshot, output: Path) -> None:
    """The master still holds the bytes whose sha256 the derivative's XMP names (see
    :func:`archive_colorizer.imaging.hashing.changes_since`)."""
    from archive_colorizer.imaging.hashing import changes_since

    try:
        digest, changed = changes_since(before)
    except FileNotFoundError:
        raise PathNotFoundError(
            f"{before.path}: disappeared while it was being colorized; {output} was not written"
        ) from None
    if digest != before.sha256 or changed:
        what = f"sha256 {digest}, {before.sha256} before" if digest != before.sha256 else ""
        what = what or f"{', '.join(changed)} changed, same sha256"
        raise FixityError(
            f"{before.path}: changed while it was being colorized ({what}); {output} was not "
            "written — run again once the file no longer changes"
        )


def _page_facts(source: Path, page: int, pixel_limit: int, page_limit: int) -> PageFacts:
    from archive_colorizer.imaging.tiff_facts import read_facts

    facts = read_facts(source, pixel_limit=pixel_limit, page_limit=page_limit)
    if not 0 <= page < len(facts.pages):
        raise InputError(
            f"{source}: has {len(facts.pages)} image page(s) (0..{len(facts.pages) - 1}); "
            f"--page {page} does not exist"
        )
    return facts.pages[page]


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


def register(app: typer.Typer) -> None:
    """Add `colorize` to `app`."""

    @app.command("colorize", help=HELP)
    def colorize_command(
        ctx: typer.Context,
        source: Annotated[
            Path, typer.Argument(metavar="INPUT", help="TIFF master.", show_default=False)
        ],
        output: Annotated[
            Path,
            typer.Option(
                "--output",
                "-o",
                help="Derivative TIFF to write (.tif or .tiff).",
                show_default=False,
            ),
        ],
        model: Annotated[
            str | None,
            typer.Option("--model", envvar=ENV_MODEL, help="Model name (default: installed)."),
        ] = None,
        page: Annotated[int, typer.Option("--page", min=0, help="Image page index.")] = 0,
        chroma_size: Annotated[
            int | None,
            typer.Option(
                "--chroma-size",
                min=0,
                help="Working resolution, long side in px (0 = full). [default: 1024]",
                show_default=False,
            ),
        ] = None,
        lowpass: Annotated[
            float | None,
            typer.Option(
                "--lowpass",
                min=0.0,
                help="Low-pass (Gaussian sigma, working px) against line/dot screens.",
                show_default=False,
            ),
        ] = None,
        tile_size: Annotated[
            int | None,
            typer.Option("--tile-size", min=1, help="Network tile (window) side in px."),
        ] = None,
        device: Annotated[
            str, typer.Option("--device", envvar=ENV_DEVICE, help="auto, cpu, cuda or cuda:N.")
        ] = "auto",
        compression: Annotated[
            str | None,
            typer.Option(
                "--compression",
                help="none, lzw, deflate or zstd. [default: deflate]",
                show_default=False,
            ),
        ] = None,
        paper_mask: Annotated[
            bool,
            typer.Option(
                "--paper-mask/--no-paper-mask",
                help="Keep blank paper and margins neutral (zero chroma).",
            ),
        ] = True,
        render: Annotated[
            str | None,
            typer.Option(
                "--render",
                help="wash or luminance: how colour meets the master's tones. "
                "[default: the model card's, else luminance]",
                show_default=False,
            ),
        ] = None,
        overwrite: Annotated[
            bool, typer.Option("--overwrite", help="Replace OUTPUT if it exists.")
        ] = False,
        json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    ) -> None:
        settings = settings_of(ctx)
        _check_paths(source, output, overwrite)
        from archive_colorizer.services.guard import check_output_path_if_catalogued

        unchecked = check_output_path_if_catalogued(settings.database_url, output, what="OUTPUT")
        if unchecked:
            stderr_console().print(f"warning: {unchecked}", markup=False, highlight=False)
        facts = _page_facts(source, page, settings.pixel_limit, settings.page_limit)

        from archive_colorizer.imaging.atomic import fsync_directory
        from archive_colorizer.imaging.hashing import snapshot
        from archive_colorizer.inference.registry import load_predictor
        from archive_colorizer.services.colorize import (
            ColorizeParams,
            colorize_master,
            resolve_rendering,
        )

        options: dict[str, Any] = {
            "chroma_size": chroma_size,
            "lowpass": lowpass,
            "compression": compression,
            "paper_mask": paper_mask,
            "render": render,  # checked here, before the model loads
        }
        params = ColorizeParams(**{k: v for k, v in options.items() if v is not None})
        predictor = load_predictor(model, device=device, tile_size=tile_size)
        params = resolve_rendering(params, render, getattr(predictor, "card", None))
        before = snapshot(source)
        source_sha256 = before.sha256
        provenance = {
            "source_name": source.name,
            "source_sha256": source_sha256,
            "model_name": predictor.model_name,
            "weights_sha256": predictor.weights_sha256,
            "parameters": {**params.as_dict(), **predictor.describe()},
            "archcolor_version": __version__,
            "datetime": _creation_time(),
        }
        started = time.perf_counter()
        staging = output.with_name(f".{output.name}.{os.getpid()}.colorizing")
        try:
            result = colorize_master(
                source,
                staging,
                predictor,
                params,
                page_index=page,
                provenance=provenance,
                ifd_offset=facts.ifd_offset,
                pixel_limit=settings.pixel_limit,
            )
            _verify_source_unchanged(before, output)  # before OUTPUT is replaced
            os.replace(staging, output)
        finally:
            staging.unlink(missing_ok=True)
        fsync_directory(output.parent)
        seconds = time.perf_counter() - started
        summary = {
            "input": str(source),
            "output": str(output),
            "page": page,
            "width": result.width,
            "height": result.height,
            "bits": result.bits,
            "bytes": result.bytes,
            "sha256": result.sha256,
            "seconds": round(seconds, 4),
            "megapixels_per_second": round(facts.width * facts.height / 1e6 / seconds, 4),
            "stage_seconds": {k: round(v, 4) for k, v in result.stage_seconds.items()},
            "model": predictor.model_name,
            "weights_sha256": predictor.weights_sha256,
            "device": str(predictor.device),
            "parameters": provenance["parameters"],
        }
        if json_out:
            emit_json(summary)
        else:
            _print_summary(summary)
