"""Masters are never written over and outputs never land where masters live.

The one place that decides whether an output path is allowed, for `export --out`, `--store`
(process) and `colorize -o`:

* **inside an ingested folder** — the output path (resolved, links followed) lies in, or is, or
  contains a folder that `ingest` walked (any ``scans.root`` in the catalog). Writing there could
  replace a master whose name happens to match an output name, and the next ingest of that folder
  would catalogue the outputs as masters. Refused.
* **onto a master's bytes** — an existing file whose sha256 is a catalogued file's (a master, a
  copy of one, a hard link to one). Refused.

Both raise :class:`~archive_colorizer.errors.ProtectedPathError` with one line naming the path,
the folder or master it collides with, and what to do.

The other direction, what `ingest` must not catalogue, is :func:`own_output_reason`: archcolor's
own export manifests, bag tag files and files carrying archcolor's XMP provenance (derivatives
and access copies), each with a reason the ingest summary counts.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from archive_colorizer.catalog.schema import Scan, Volume
from archive_colorizer.errors import ArchcolorError, ProtectedPathError
from archive_colorizer.imaging.metadata import has_archcolor_xmp

__all__ = [
    "EXPORT_TAG_FILES",
    "IngestedRoot",
    "check_output_file",
    "check_output_folder",
    "check_output_path_if_catalogued",
    "check_store",
    "ingested_roots",
    "is_archcolor_manifest",
    "master_with_sha256",
    "own_output_reason",
]

#: files an export writes at the top of its folder (manifests; BagIt tag files with --bagit)
EXPORT_TAG_FILES = (
    "manifest.json",
    "manifest.csv",
    "manifest-sha256.txt",
    "bagit.txt",
    "bag-info.txt",
    "tagmanifest-sha256.txt",
)
#: how archcolor's export manifest.json begins (json.dumps with sort_keys and indent=2)
_MANIFEST_HEAD = b'{\n  "archcolor": '


@dataclass(frozen=True)
class IngestedRoot:
    """A folder `ingest` walked, as recorded in ``scans.root``, and a volume found there."""

    root: Path
    real: Path  # with links resolved
    volume: str


def ingested_roots(session: Session) -> list[IngestedRoot]:
    """Every distinct ingest root in the catalog (superseded and rejected rows too: the folder
    still holds masters), with one volume name found there."""
    rows = session.execute(
        select(Scan.root, Volume.name).join(Volume, Scan.volume_id == Volume.id).distinct()
    ).all()
    found: dict[str, IngestedRoot] = {}
    for root, volume in sorted(rows):
        if root and root not in found:
            found[root] = IngestedRoot(Path(root), Path(os.path.realpath(root)), volume)
    return list(found.values())


def _overlap(path: Path, roots: Sequence[IngestedRoot], what: str) -> None:
    real = Path(os.path.realpath(path))
    for root in roots:
        if real.is_relative_to(root.real):
            where = "is" if real == root.real else "lies inside"
            raise ProtectedPathError(
                f"{what} {path} {where} the ingested folder {root.root} (volume {root.volume!r}) "
                "where masters live: outputs there could replace a master and would be "
                "catalogued as masters by the next ingest; choose a folder outside it"
            )
        if root.real.is_relative_to(real):
            raise ProtectedPathError(
                f"{what} {path} contains the ingested folder {root.root} (volume "
                f"{root.volume!r}) where masters live: outputs there could replace a master; "
                "choose a folder that does not contain scanned masters"
            )


def check_output_folder(session: Session, folder: Path, *, what: str) -> None:
    """ProtectedPathError if ``folder`` is, lies inside or contains an ingested folder."""
    _overlap(folder, ingested_roots(session), what)


def master_with_sha256(session: Session, sha256: str) -> Scan | None:
    """A catalogued file (any state) whose bytes have this sha256, if any."""
    return session.scalars(select(Scan).where(Scan.sha256 == sha256).limit(1)).first()


def check_output_file(session: Session, path: Path, sha256: str, *, what: str) -> None:
    """ProtectedPathError if the existing file ``path`` (of ``sha256``) has a master's bytes."""
    scan = master_with_sha256(session, sha256)
    if scan is not None:
        raise ProtectedPathError(
            f"{what} {path} holds the bytes of the catalogued master {scan.volume.name}/"
            f"{scan.path} (sha256 {sha256[:12]}…); not replaced — masters are never "
            "overwritten; move it away or choose another output path"
        )


def check_store(engine: Engine, store: Path) -> None:
    """ProtectedPathError if the derivative store is, lies inside or contains an ingested
    folder (`process`, before any job is queued or claimed)."""
    with Session(engine) as session:
        check_output_folder(session, store, what="the store (--store)")


def check_output_path_if_catalogued(database_url: str, path: Path, *, what: str) -> str | None:
    """For commands that work without a catalog (`colorize`): check ``path`` against the
    catalog's ingested folders and masters. Returns None when the check was made, or when there
    is no catalog to check against (no SQLite file yet, no archcolor tables); otherwise one line
    saying why the check could not be made (an unreachable server, a bad URL), for the caller to
    show: the output is then written unchecked, never silently. Never creates a database."""
    from archive_colorizer.catalog.engine import create_catalog_engine, display_url, parse_url

    try:
        url = parse_url(database_url)
    except ArchcolorError as error:
        return f"{what} was not checked against the catalog's masters: {error}"
    if url.get_backend_name() == "sqlite" and (
        not url.database or url.database == ":memory:" or not os.path.isfile(url.database)
    ):
        return None
    unchecked = f"{what} was not checked against the masters catalogued in {display_url(url)}"
    try:
        engine = create_catalog_engine(url)
    except ArchcolorError as error:
        return f"{unchecked}: {error}"
    try:
        with Session(engine) as session:
            roots = ingested_roots(session)
            _overlap(path, roots, what)
            if path.is_file():
                from archive_colorizer.imaging.hashing import sha256_file

                check_output_file(session, path, sha256_file(path)[0], what=what)
    except ProtectedPathError:
        raise
    except SQLAlchemyError as error:
        if _no_catalog_tables(error):
            return None
        return f"{unchecked}: {_first_line(error)}"
    except ArchcolorError as error:
        return f"{unchecked}: {error}"
    finally:
        engine.dispose()
    return None


def _no_catalog_tables(error: SQLAlchemyError) -> bool:
    """Whether ``error`` says the archcolor tables do not exist (nothing catalogued there)."""
    text = str(getattr(error, "orig", error)).lower()
    return "no such table" in text or ("relation" in text and "does not exist" in text)


def _first_line(error: BaseException) -> str:
    return (str(getattr(error, "orig", error)).strip().splitlines() or [type(error).__name__])[0]


# -- what ingest leaves out -------------------------------------------------------------------


def is_archcolor_manifest(path: Path) -> bool:
    """Whether ``path`` is a manifest.json written by `archcolor export`."""
    with suppress(OSError), open(path, "rb") as stream:
        return stream.read(len(_MANIFEST_HEAD)) == _MANIFEST_HEAD
    return False


def own_output_reason(path: Path, size: int) -> str | None:
    """Why ``path`` is one of archcolor's own outputs and must not be catalogued, or None.

    * a tag file (manifests, BagIt files) beside an archcolor export manifest.json;
    * an IIIF manifest under ``iiif/`` of such an export folder;
    * a file carrying archcolor's XMP provenance (derivatives, pyramids, access copies).
    """
    name = path.name
    folder = path.parent
    if name in EXPORT_TAG_FILES and is_archcolor_manifest(folder / "manifest.json"):
        return f"archcolor export file ({name} of the export in {folder.name or folder})"
    if name == "manifest.json":
        for parent in list(path.parents)[1:4]:  # <out>[/data]/iiif/<volume>/manifest.json
            if parent.name == "iiif" and (
                is_archcolor_manifest(parent.parent / "manifest.json")
                or is_archcolor_manifest(parent.parent.parent / "manifest.json")
            ):
                return "archcolor export file (IIIF manifest)"
    if size and has_archcolor_xmp(path):
        return "archcolor output (carries archcolor's XMP provenance: a derivative, not a master)"
    return None
