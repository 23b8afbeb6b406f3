"""`archcolor verify [--volume V] [--decode] [--json]`: fixity (and decodability) of masters."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from archive_colorizer.cli.c2pa import TrustOption, verify_paths
from archive_colorizer.cli.context import (
    EXIT_INCOMPLETE,
    emit_json,
    file_progress,
    settings_of,
)
from archive_colorizer.config import (
    DEFAULT_DECODE_MEMORY_LIMIT_BYTES as DEFAULT_MEMORY_LIMIT_BYTES,
)
from archive_colorizer.config import DEFAULT_DECODE_TIMEOUT_S as DEFAULT_TIMEOUT_S
from archive_colorizer.services import api

if TYPE_CHECKING:
    from archive_colorizer.services.verify import VerifyOutcome

#: FixityStatus.OK
_OK = "ok"


HELP = """Re-hash every catalogued master (of --volume, or all) and compare with its sha256.

Each scan gets a fixity-check event. --decode also decodes every page in a child process with a
time and memory limit (--decode-timeout, --decode-memory-mb) and records a validation event.
Masters are only read. A changed file stays catalogued as it was: run `archcolor ingest` to
record the new version.

--json prints one object: files, pages, ok, missing, unreadable, changed, undecodable, bytes.

Exit status: 0 when every file is intact, 3 when any is missing, unreadable, changed or
undecodable (each is named on stderr), 1 on an error.

--c2pa PATH...: instead, verify the C2PA Content Credentials of exported files (see
`archcolor c2pa verify --help`; --c2pa-trust CA.pem checks the signer against a trust anchor).
"""


def _describe(outcome: VerifyOutcome) -> str:
    return f"{outcome.status}: {outcome.volume}/{outcome.path}: {outcome.detail}"


_DecodeOption = Annotated[
    bool, typer.Option("--decode", help="Also decode every page (child process).")
]
_DecodeTimeoutOption = Annotated[
    float,
    typer.Option("--decode-timeout", min=1.0, help="Seconds allowed to decode one page."),
]
_DecodeMemoryMbOption = Annotated[
    int,
    typer.Option(
        "--decode-memory-mb", min=256, help="Address-space limit of the decoding process."
    ),
]
_C2paOption = Annotated[
    bool, typer.Option("--c2pa", help="Verify the C2PA manifests of PATH... instead.")
]
_PathsOption = Annotated[
    list[Path] | None, typer.Argument(help="With --c2pa: exported files or folders.")
]


def verify_command(
    ctx: typer.Context,
    volume: Annotated[str | None, typer.Option("--volume", help="Only this volume.")] = None,
    decode: _DecodeOption = False,
    decode_timeout: _DecodeTimeoutOption = DEFAULT_TIMEOUT_S,
    decode_memory_mb: _DecodeMemoryMbOption = DEFAULT_MEMORY_LIMIT_BYTES // (1024 * 1024),
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
    c2pa: _C2paOption = False,
    c2pa_trust: TrustOption = None,
    paths: _PathsOption = None,
) -> None:
    settings = settings_of(ctx)
    if c2pa:
        verify_paths(settings, list(paths or []), c2pa_trust, json_out)
        return
    if paths:
        raise typer.BadParameter("PATH... is for --c2pa (masters come from the catalog)")
    limits = api.DecodeLimits(
        timeout_s=decode_timeout, memory_limit_bytes=decode_memory_mb * 1024 * 1024
    )

    def report(outcome: VerifyOutcome) -> None:
        if outcome.status != _OK:
            typer.echo(
                f"{outcome.status}: {outcome.volume}/{outcome.path}: {outcome.detail}", err=True
            )

    if sys.stderr.isatty():
        with file_progress("verify") as ticker:

            def advance(outcome: VerifyOutcome) -> None:
                ticker.file(outcome.size, _describe(outcome) if outcome.status != _OK else None)

            summary = api.verify(
                settings,
                volume=volume,
                decode=decode,
                limits=limits,
                on_file=advance,
                on_start=ticker.start,
            )
    else:
        summary = api.verify(settings, volume=volume, decode=decode, limits=limits, on_file=report)
    if json_out:
        emit_json(summary.as_dict())
    else:
        typer.echo(
            f"{summary.files} files ({summary.pages} pages) checked: {summary.ok} ok, "
            f"{summary.missing} missing, {summary.unreadable} unreadable, "
            f"{summary.changed} changed"
            + (f", {summary.undecodable} undecodable" if decode else "")
            + f"; {summary.bytes / 1e6:.1f} MB re-hashed"
        )
    if summary.failures:
        raise typer.Exit(EXIT_INCOMPLETE)


def register(app: typer.Typer) -> None:
    """Add `verify` to `app`."""

    app.command("verify", help=HELP)(verify_command)
