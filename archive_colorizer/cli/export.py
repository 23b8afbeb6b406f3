"""`archcolor export` (derivatives as TIFF / JPEG / PNG / WebP with manifests, BagIt, IIIF) and
`archcolor report` (a self-contained HTML page to look at the results)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archive_colorizer.cli.context import EXIT_INCOMPLETE, emit_json, settings_of, stderr_console
from archive_colorizer.config import (
    DEFAULT_THUMBNAIL,
    ENV_C2PA_CERT,
    ENV_C2PA_KEY,
    ENV_C2PA_TSA,
    EXPORT_FORMATS,
)
from archive_colorizer.services import api

if TYPE_CHECKING:
    from archive_colorizer.services.export import ExportRecord


EXPORT_HELP = f"""Export the current derivatives (of --volume, of --model, or all) into --out.

--format tiff copies the archival derivative (the master's exact width and height, resolution,
sRGB ICC profile and XMP provenance) byte for byte; with --pyramid it writes a pyramidal tiled
TIFF (256 px tiles, JPEG at --quality; --pyramid-compression deflate is lossless) for IIIF
image servers (iipsrv, Cantaloupe). --format jpeg | png | webp writes access copies, --max-size
PX on the long side, with the sRGB profile and XMP. Files go to
OUT/<volume>/<master folders>/<master name>-p<page>.<ext> (names sanitised; nothing is written
outside OUT). Re-running skips identical files and replaces changed ones atomically.

OUT gets manifest-sha256.txt (sha256sum format), manifest.csv and manifest.json (master and
derivative paths and sha256, width, height, model, weights sha256, format). --bagit makes OUT a
BagIt 1.0 bag (payload in OUT/data). --iiif-base-url URL writes a IIIF Presentation 3.0
manifest per volume (iiif/<volume>/manifest.json, or data/iiif/… in a bag) for OUT served at URL
(URL is OUT itself: a file OUT/a/b.jpg is URL/a/b.jpg). Each canvas paints a web-sized JPEG (at
most 2400 px long side: the exported JPEG when that small, else a copy in
iiif/<volume>/access/) and links the exported file as `rendering`; with --pyramid it paints the
TIFF through an IIIF Image API 3 service at URL/iiif/3/<path under OUT, / as %2F>.

--c2pa signs every exported page file with C2PA Content Credentials (--c2pa-cert CHAIN.pem:
the signer's certificate then its CAs; --c2pa-key KEY.pem, its password in
ARCHCOLOR_C2PA_KEY_PASSWORD; optional --c2pa-tsa URL, the only network use): the master as parent
ingredient (file name, sha256), c2pa.opened → c2pa.color_adjustments (digital source type
trainedAlgorithmicMedia, archcolor and its version, model, weights sha256, parameters) and a hard
binding to the file's bytes, embedded in the TIFF/JPEG/PNG/WebP, or in a sidecar <file>.c2pa
where the library cannot embed (or with --c2pa-sidecar; manifest.json says which). A signed TIFF
is the derivative plus its manifest. `archcolor c2pa test-cert DIR` makes an untrusted test chain;
`archcolor verify --c2pa OUT` checks the result.

--json prints one object: selected, written, replaced, unchanged, problems, bytes, seconds, ….

Exit status: 0 all selected pages exported; {EXIT_INCOMPLETE} some derivatives were missing or
changed in the store (named on stderr; the rest was exported); 1 an error, including nothing to
export (no derivatives for the selection: run `archcolor process --pending` first).
Formats: {", ".join(EXPORT_FORMATS)}.
"""

REPORT_HELP = """Write an HTML report to --out (default archcolor-report/index.html) and its
pictures to a folder beside it named after it (index_files/): per page the master and the
colorized derivative side by side (thumbnails of --thumbnail px, 640 by default, each linking to
a full-size view of at most 2400 px on the long side) with model, rendering and provenance;
counts; rejected files with their reasons and dead jobs with their errors (when there are any).
Everything is in that folder and linked relatively: it opens offline in any browser and can be
copied or zipped as one.
"""


_ModelOption = Annotated[
    str | None, typer.Option("--model", help="Only derivatives of this model.")
]
_QualityOption = Annotated[
    int, typer.Option("--quality", min=1, max=100, help="JPEG/WebP quality.")
]
_MaxSizeOption = Annotated[
    int | None,
    typer.Option("--max-size", min=1, help="Access copies: long side at most PX."),
]
_PyramidOption = Annotated[
    bool, typer.Option("--pyramid", help="Pyramidal tiled TIFF for IIIF servers.")
]
_PyramidCompressionOption = Annotated[
    str, typer.Option("--pyramid-compression", help="jpeg or deflate.")
]
_IiifBaseUrlOption = Annotated[
    str | None,
    typer.Option("--iiif-base-url", help="Write IIIF manifests for OUT served at this URL."),
]
_C2paOption = Annotated[
    bool, typer.Option("--c2pa", help="Sign each file with C2PA Content Credentials.")
]
_C2paCertOption = Annotated[
    Path | None,
    typer.Option("--c2pa-cert", envvar=ENV_C2PA_CERT, help="PEM chain, signer first."),
]
_C2paKeyOption = Annotated[
    Path | None,
    typer.Option("--c2pa-key", envvar=ENV_C2PA_KEY, help="PEM private key of the signer."),
]
_C2paTsaOption = Annotated[
    str | None,
    typer.Option("--c2pa-tsa", envvar=ENV_C2PA_TSA, help="RFC 3161 time-stamp URL."),
]
_C2paSidecarOption = Annotated[
    bool, typer.Option("--c2pa-sidecar", help="C2PA manifests in <file>.c2pa sidecars.")
]


def export_command(
    ctx: typer.Context,
    format: Annotated[str, typer.Option("--format", help="tiff, jpeg, png or webp.")] = "tiff",
    out: Annotated[Path, typer.Option("--out", help="Folder to export into.")] = Path(
        "archcolor-export"
    ),
    volume: Annotated[str | None, typer.Option("--volume", help="Only this volume.")] = None,
    model: _ModelOption = None,
    quality: _QualityOption = 90,
    max_size: _MaxSizeOption = None,
    pyramid: _PyramidOption = False,
    pyramid_compression: _PyramidCompressionOption = "jpeg",
    tile: Annotated[int, typer.Option("--tile", help="Pyramid tile size: 256 or 512.")] = 256,
    bagit: Annotated[bool, typer.Option("--bagit", help="Make OUT a BagIt 1.0 bag.")] = False,
    iiif_base_url: _IiifBaseUrlOption = None,
    c2pa: _C2paOption = False,
    c2pa_cert: _C2paCertOption = None,
    c2pa_key: _C2paKeyOption = None,
    c2pa_tsa: _C2paTsaOption = None,
    c2pa_sidecar: _C2paSidecarOption = False,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    if tile not in (256, 512):
        raise typer.BadParameter("the tile size is 256 or 512", param_hint="--tile")
    settings = settings_of(ctx)
    options = api.ExportOptions(
        format=format,
        out=out,
        volume=volume,
        model=model,
        quality=quality,
        max_size=max_size,
        pyramid=pyramid,
        pyramid_tile=tile,
        pyramid_compression=pyramid_compression,
        bagit=bagit,
        iiif_base_url=iiif_base_url,
        c2pa=api.signing_credentials(c2pa_cert, c2pa_key, c2pa_tsa) if c2pa else None,
        c2pa_sidecar=c2pa_sidecar,
    )
    err = stderr_console()

    def progress(record: ExportRecord | None, problem: str | None) -> None:
        if problem is not None:
            err.print(f"problem: {problem}", highlight=False, soft_wrap=True)
        elif record is not None and record.status == "replaced" and not json_out:
            err.print(f"replaced: {record.export_path}", highlight=False, soft_wrap=True)

    summary = api.export(settings, options, on_page=progress)
    if json_out:
        emit_json(summary.as_dict())
    else:
        rate = summary.exported_bytes / 1e6 / max(summary.seconds, 1e-9)
        err.print(
            f"{summary.selected} pages selected: {summary.written} written, "
            f"{summary.replaced} replaced, {summary.unchanged} unchanged, "
            f"{len(summary.problems)} problems; {summary.exported_bytes / 1e6:.1f} MB in "
            f"{summary.seconds:.1f} s ({rate:.1f} MB/s) → {summary.out}"
            + (" (BagIt bag)" if summary.bag else ""),
            highlight=False,
            soft_wrap=True,
        )
        for note in summary.notes:
            err.print(f"note: {note}", highlight=False, soft_wrap=True)
        for manifest in summary.iiif_manifests:
            err.print(f"IIIF manifest: {summary.out / manifest}", highlight=False)
    if summary.problems:
        raise typer.Exit(EXIT_INCOMPLETE)


def report_command(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option("--out", help="HTML file to write (pictures go beside it).")
    ] = Path("archcolor-report/index.html"),
    volume: Annotated[str | None, typer.Option("--volume", help="Only this volume.")] = None,
    thumbnail: Annotated[
        int, typer.Option("--thumbnail", min=32, max=2048, help="Thumbnail long side, px.")
    ] = DEFAULT_THUMBNAIL,
    json_out: Annotated[bool, typer.Option("--json", help="Machine-readable output.")] = False,
) -> None:
    settings = settings_of(ctx)
    summary = api.write_report(settings, out, volume=volume, thumbnail=thumbnail)
    if json_out:
        emit_json(summary)
    else:
        stderr_console().print(
            f"report of {summary['pages']} pages ({summary['colorized']} colorized, "
            f"{summary['colourless']} of them without visible colour, "
            f"{summary['rejected']} rejected, {summary['jobs_dead']} dead jobs) → {out} "
            f"(pictures in {summary['pictures']})",
            highlight=False,
            soft_wrap=True,
        )


def register(app: typer.Typer) -> None:
    """Add `export` and `report` to ``app``."""

    app.command("export", help=EXPORT_HELP)(export_command)
    app.command("report", help=REPORT_HELP)(report_command)
