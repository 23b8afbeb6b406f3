"""C2PA Content Credentials use cases: load the archive's signing credentials, make an
untrusted test chain, and verify the manifests of exported files against the catalog.

The manifests themselves are built, signed and read by :mod:`archive_colorizer.provenance.c2pa`
(signing happens inside :mod:`archive_colorizer.services.export`).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from archive_colorizer.catalog.schema import Scan, Volume
from archive_colorizer.config import ENV_C2PA_KEY_PASSWORD
from archive_colorizer.errors import CatalogError, PathNotFoundError, SigningCredentialsError
from archive_colorizer.provenance.c2pa import (
    SIDECAR_SUFFIX,
    CredentialsReport,
    SigningCredentials,
    TestChain,
    load_signing_credentials,
    make_test_chain,
    media_type_of,
    read_credentials,
)

__all__ = [
    "CredentialsSummary",
    "make_test_credentials",
    "signing_credentials",
    "verify_against_catalog",
    "verify_credentials",
]


def signing_credentials(
    cert: Path | None, key: Path | None, tsa_url: str | None = None
) -> SigningCredentials:
    """The checked signing credentials; the key's password comes from
    ``ARCHCOLOR_C2PA_KEY_PASSWORD`` (never a command-line option: it would show in ``ps``)."""
    return load_signing_credentials(
        cert, key, password=os.environ.get(ENV_C2PA_KEY_PASSWORD) or None, tsa_url=tsa_url
    )


def make_test_credentials(folder: Path) -> TestChain:
    """An UNTRUSTED test chain in ``folder`` (see :func:`provenance.c2pa.make_test_chain`)."""
    return make_test_chain(folder)


@dataclass
class CredentialsSummary:
    """What `verify --c2pa` found: one report per file, and whether the catalog was consulted.

    A file fails when its manifest is missing, invalid or unreadable, or (catalog consulted)
    when its parent ingredient's sha256 is no catalogued master's.
    """

    files: list[dict[str, Any]] = field(default_factory=list)
    catalog_checked: bool = False
    catalog_note: str | None = None

    @property
    def failures(self) -> int:
        return sum(1 for f in self.files if not f["ok"])

    def as_dict(self) -> dict[str, Any]:
        return {
            "files": self.files,
            "checked": len(self.files),
            "ok": len(self.files) - self.failures,
            "failed": self.failures,
            "catalog_checked": self.catalog_checked,
            "catalog_note": self.catalog_note,
        }


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        path = Path(path)
        if path.is_dir():
            for folder, folders, names in os.walk(path):
                folders[:] = sorted(f for f in folders if not f.startswith("."))
                for name in sorted(names):
                    candidate = Path(folder) / name
                    if not name.startswith(".") and media_type_of(candidate) is not None:
                        yield candidate
        elif path.exists():
            yield path
        else:
            raise PathNotFoundError(f"{path} does not exist; give exported files or folders")


def _masters(engine: Engine, digests: set[str]) -> dict[str, str]:
    """``volume/path`` of a catalogued master by sha256, for the digests given."""
    if not digests:
        return {}
    with Session(engine) as session:
        rows = session.execute(
            select(Scan.sha256, Volume.name, Scan.path)
            .join(Volume, Scan.volume_id == Volume.id)
            .where(Scan.sha256.in_(sorted(digests)))
        ).all()
    return {str(sha): f"{volume}/{path}" for sha, volume, path in rows}


def verify_credentials(
    paths: Iterable[Path],
    *,
    engine: Engine | None = None,
    trust_anchors: Path | None = None,
    on_file: Callable[[dict[str, Any]], None] | None = None,
) -> CredentialsSummary:
    """Read and validate the C2PA manifest of every file (folders are walked for TIFF, JPEG,
    PNG and WebP files; ``.c2pa`` sidecars are found beside their files).

    ``engine``: compare each parent ingredient's sha256 with the catalogued masters.
    ``trust_anchors``: a PEM file of CA certificates the signer must chain to.
    """
    anchors = None
    if trust_anchors is not None:
        try:
            anchors = Path(trust_anchors).read_bytes()
        except OSError as error:
            raise SigningCredentialsError(
                f"--c2pa-trust {trust_anchors} cannot be read ({error.strerror or error})"
            ) from error
        if b"-----BEGIN CERTIFICATE-----" not in anchors:
            raise SigningCredentialsError(
                f"--c2pa-trust {trust_anchors} holds no PEM certificate; give the CA "
                "certificate(s) the signers must chain to"
            )
    reports: list[CredentialsReport] = [
        read_credentials(path, trust_anchors=anchors)
        for path in _files(paths)
        if not path.name.endswith(SIDECAR_SUFFIX)
    ]
    summary = CredentialsSummary(catalog_checked=engine is not None)
    masters = (
        _masters(engine, {r.master_sha256 for r in reports if r.master_sha256})
        if engine is not None
        else {}
    )
    for report in reports:
        entry = report.as_dict()
        entry["catalog_master"] = masters.get(report.master_sha256 or "")
        ok = report.intact
        if ok and engine is not None and entry["catalog_master"] is None:
            ok = False
            entry["detail"] = (
                f"{report.detail}; but its master sha256 {report.master_sha256} is no "
                "catalogued master's"
            )
        entry["ok"] = ok
        summary.files.append(entry)
        if on_file is not None:
            on_file(entry)
    return summary


def _catalog_unreachable(database_url: str) -> str | None:
    """Why the catalog is not consulted (None: try it). A missing SQLite file is not created."""
    url = make_url(database_url)
    database = url.database or ""
    sqlite_file = url.get_backend_name() == "sqlite" and database not in ("", ":memory:")
    if sqlite_file and not Path(database).is_file():
        return f"no catalog at {database}: master sha256 not compared"
    return None


def verify_against_catalog(
    database_url: str,
    paths: Iterable[Path],
    *,
    trust_anchors: Path | None = None,
    on_file: Callable[[dict[str, Any]], None] | None = None,
) -> CredentialsSummary:
    """:func:`verify_credentials` with the catalog at ``database_url`` when it can be opened
    (read-only; a missing SQLite file is neither created nor an error: the summary's
    ``catalog_note`` says the masters' sha256 were not compared)."""
    from archive_colorizer.catalog.open import open_catalog

    note = _catalog_unreachable(database_url)
    if note is None:
        try:
            with open_catalog(database_url, read_only=True) as engine:
                return verify_credentials(
                    paths, engine=engine, trust_anchors=trust_anchors, on_file=on_file
                )
        except CatalogError as error:
            note = f"catalog not consulted ({error}): master sha256 not compared"
    summary = verify_credentials(paths, trust_anchors=trust_anchors, on_file=on_file)
    summary.catalog_note = note
    return summary
