"""`archcolor c2pa test-cert DIR` and `archcolor c2pa verify PATH...` (also reached as
`archcolor verify --c2pa PATH...`): C2PA Content Credentials of exported files."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from archive_colorizer.cli.context import EXIT_INCOMPLETE, emit_json, settings_of
from archive_colorizer.config import ENV_C2PA_TRUST, Settings
from archive_colorizer.services import api

VERIFY_HELP = f"""Read and validate the C2PA Content Credentials of exported files (folders are
walked for .tif, .jpg, .png and .webp files; a .c2pa sidecar beside a file is used when it has no
embedded manifest). Per file: valid / invalid / missing, the signer, the master (parent
ingredient) and its sha256 — compared with the catalogued masters when the catalog (--db) can
be opened — and the actions (c2pa.opened → c2pa.color_adjustments with digital source type
trainedAlgorithmicMedia, …). Nothing is fetched from the network.

"valid" means the signature and the hard binding to the file's bytes check out; the signer is
only checked against a trust list with --c2pa-trust CA.pem (then "trusted", or invalid when it
does not chain to it).

Exit status: 0 every file intact (and its master catalogued); {EXIT_INCOMPLETE} any missing,
invalid or mismatching file (named on stderr); 1 an error.
"""

TEST_CERT_HELP = """Make an UNTRUSTED test certificate chain in DIR to try Content Credentials:
test-chain.pem (--c2pa-cert), test-key.pem (--c2pa-key), test-ca.pem (verify --c2pa-trust) and
README.txt. Every name says NOT TRUSTED and no validator trusts it: sign real deliveries with
the archive's own certificate and key. Existing files are never overwritten.
"""

TrustOption = Annotated[
    Path | None,
    typer.Option(
        "--c2pa-trust",
        envvar=ENV_C2PA_TRUST,
        help="PEM CA certificate(s) the signer must chain to.",
    ),
]


def _line(entry: dict[str, Any]) -> str:
    parts = [f"{entry['status']}: {entry['path']}"]
    if entry.get("signer"):
        parts.append(f"signer {entry['signer']!r} (issuer {entry.get('issuer')!r})")
    if entry.get("master_sha256"):
        catalogued = entry.get("catalog_master")
        parts.append(
            f"master {entry.get('master_title')} sha256 {entry['master_sha256']}"
            + (f" = catalogued {catalogued}" if catalogued else "")
        )
    if entry.get("actions"):
        parts.append("actions " + " → ".join(entry["actions"]))
    if entry.get("model"):
        parts.append(f"model {entry['model']}")
    if entry.get("sidecar"):
        parts.append(f"sidecar {entry['sidecar']}")
    if not entry["ok"] or entry["status"] not in ("valid", "trusted"):
        parts.append(entry.get("detail") or "")
    return "; ".join(p for p in parts if p)


def verify_paths(settings: Settings, paths: list[Path], trust: Path | None, json_out: bool) -> None:
    """Verify the manifests of ``paths``, print per file, exit 3 on any failure."""
    if not paths:
        raise typer.BadParameter("give the exported files or folders to verify", param_hint="PATH")

    def show(entry: dict[str, Any]) -> None:
        if not json_out:
            typer.echo(_line(entry), err=not entry["ok"])

    summary = api.verify_credentials(settings, paths, trust=trust, on_file=show)
    if json_out:
        emit_json(summary.as_dict())
    else:
        if summary.catalog_note:
            typer.echo(f"note: {summary.catalog_note}", err=True)
        done = summary.as_dict()
        typer.echo(f"{done['checked']} files checked: {done['ok']} ok, {done['failed']} failed")
    if summary.failures:
        raise typer.Exit(EXIT_INCOMPLETE)


def test_cert(
    folder: Annotated[Path, typer.Argument(help="Folder to write the test chain into.")],
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    chain = api.make_test_credentials(folder)
    if json_out:
        emit_json({k: str(v) for k, v in vars(chain).items()})
        return
    typer.echo(
        f"UNTRUSTED test chain (for trying C2PA only) in {folder}:\n"
        f"  --c2pa-cert {chain.chain}\n  --c2pa-key {chain.key}\n"
        f"  verify --c2pa-trust {chain.ca}"
    )


def verify_command(
    ctx: typer.Context,
    paths: Annotated[list[Path], typer.Argument(help="Exported files or folders.")],
    trust: TrustOption = None,
    json_out: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    verify_paths(settings_of(ctx), paths, trust, json_out)


def register(app: typer.Typer) -> None:
    """Add the `c2pa` command group to ``app``."""
    group = typer.Typer(
        name="c2pa",
        help="C2PA Content Credentials: a test chain, and verifying exported files.",
        no_args_is_help=True,
        rich_markup_mode=None,
    )

    group.command("test-cert", help=TEST_CERT_HELP)(test_cert)
    group.command("verify", help=VERIFY_HELP)(verify_command)

    app.add_typer(group)
