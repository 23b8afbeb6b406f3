"""`archcolor export`: deliver current derivatives as files, with checksums and packaging.

Selection: every *current* derivative of a *current* (ingested) scan, optionally of one volume
and one model, in volume, master path and page order. A page with current derivatives from
several models or parameter sets exports the newest (``--model`` chooses).

Output tree (under ``--out``, or ``--out/data`` for a bag), every component sanitised with
:func:`archive_colorizer.services.store.slug` and checked to resolve inside the folder (a
symbolic link that leads out is refused)::

    <volume>/<folders of the master…>/<stem>-p<page>.<tif|jpg|png|webp>
    iiif/<volume>/manifest.json                      (with --iiif-base-url)
    iiif/<volume>/access/<folders…>/<stem>-p<page>.jpg  (its web-sized JPEGs, when needed)

IIIF (:mod:`archive_colorizer.services.iiif`): ``--iiif-base-url`` is the URL at which ``--out``
itself is served; each canvas paints a web-sized JPEG (long side at most
:data:`~archive_colorizer.imaging.access_copy.WEB_LONG_SIDE` px: the exported JPEG itself when it
is that small, else an access copy made under ``iiif/<volume>/access/``) or, with ``--pyramid``,
the pyramidal TIFF through an image service; ``rendering`` links the exported file. The access
copies are listed in the manifests (and the bag) like every other file.

Formats: ``tiff`` copies the archival derivative byte for byte (same width, height, resolution,
sRGB ICC and XMP as the store's file; its sha256 is checked against the catalog on the way);
``tiff`` + ``--pyramid`` writes a pyramidal tiled TIFF (:mod:`archive_colorizer.imaging.pyramid`);
``jpeg``/``png``/``webp`` write access copies (:mod:`archive_colorizer.imaging.access_copy`).

Idempotence: a file whose bytes would not change is left alone (``unchanged``): a TIFF copy when
its sha256 equals the derivative's; a generated file when the previous ``manifest.json`` says it
was made from the same derivative sha256 with the same options and the file still has the
recorded sha256. Otherwise the file is made in a hidden temporary file and compared: identical →
``unchanged``, different → renamed over the old one atomically (``replaced``), new → ``written``.

Never over what it did not write: ``--out`` must not be, lie inside or contain a folder that was
ingested (:mod:`archive_colorizer.services.guard`; the whole export is refused before anything is
written). An existing file is replaced only when the previous ``manifest.json`` in ``--out``
lists it (archcolor wrote it there); any other existing file with different bytes — and any file
holding a catalogued master's bytes — is left untouched and reported as a problem (exit 3).
Existing manifest or bag tag files without archcolor's ``manifest.json`` refuse the export.

Manifests (in ``--out``; tag files of the bag): ``manifest-sha256.txt`` (sha256sum format, paths
relative to ``--out``; in a bag this is the payload manifest), ``manifest.csv`` and
``manifest.json`` (one record per page: master path and sha256, derivative path and sha256,
width, height, model, weights sha256, exported path, sha256, size and format). Pages exported
earlier into the same folder (another volume, say) stay listed while their files are intact.

Content Credentials (``ExportOptions.c2pa``, :mod:`archive_colorizer.provenance.c2pa`): every
exported page file is signed with the archive's certificate: the manifest (master as parent
ingredient, colorization action, model, parameters, hard binding) is embedded where the library
supports the format (TIFF, JPEG, PNG and WebP with c2pa-python 0.38), else — for pyramidal
TIFFs (the library would append an image-less IFD), or with ``c2pa_sidecar`` — written beside
the file as ``<name>.c2pa`` (listed in the manifests); each
page record in ``manifest.json`` says ``"c2pa": "embedded"`` or ``"sidecar"`` (with
``c2pa_manifest``, the sidecar's path). A signed TIFF is the derivative plus the manifest, so its
sha256 differs from the derivative's (with ``c2pa_sidecar`` it stays identical). The IIIF
access copies are signed the same way (master as parent ingredient, colorization, then
``c2pa.transcoded`` and ``c2pa.resized``) before they are hashed, so the manifests and the bag
list the signed bytes; a kept copy must still carry an intact manifest.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path, PurePosixPath
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from archive_colorizer import __version__
from archive_colorizer.catalog.repository import require_volume
from archive_colorizer.catalog.schema import Derivative, Job, Scan, ScanState, Volume
from archive_colorizer.config import EXPORT_FORMATS
from archive_colorizer.errors import (
    ArchcolorError,
    ConfigurationError,
    FixityError,
    NothingToExportError,
    OutputError,
)
from archive_colorizer.imaging.access_copy import (
    ACCESS_FORMATS,
    WEB_LONG_SIDE,
    write_access_copy,
)
from archive_colorizer.imaging.atomic import (
    fsync_directory,
    hidden_temporary,
    write_bytes_atomically,
)
from archive_colorizer.imaging.hashing import CHUNK_BYTES, sha256_file
from archive_colorizer.imaging.pyramid import PYRAMID_COMPRESSIONS, write_pyramid
from archive_colorizer.imaging.row_reducer import reduced_size
from archive_colorizer.provenance import c2pa as content_credentials
from archive_colorizer.services import bagit, iiif
from archive_colorizer.services.guard import (
    EXPORT_TAG_FILES,
    check_output_file,
    check_output_folder,
    is_archcolor_manifest,
)
from archive_colorizer.services.store import inside_store, slug

__all__ = [
    "CSV_COLUMNS",
    "EXPORT_FORMATS",
    "ExportItem",
    "ExportOptions",
    "ExportRecord",
    "ExportSummary",
    "export",
    "export_relpath",
    "inside_folder",
    "select_derivatives",
    "sweep_temporaries",
]

MANIFEST_JSON = "manifest.json"
#: the web-sized images IIIF canvases paint (without --pyramid): JPEG at this quality
IIIF_MEDIA_TYPE = "image/jpeg"
IIIF_ACCESS_QUALITY = 85
MANIFEST_CSV = "manifest.csv"
MANIFEST_SHA256 = "manifest-sha256.txt"
CSV_COLUMNS = (
    "volume",
    "master_path",
    "page",
    "master_sha256",
    "derivative_path",
    "derivative_sha256",
    "width",
    "height",
    "model",
    "weights_sha256",
    "format",
    "export_path",
    "export_sha256",
    "export_bytes",
    "export_width",
    "export_height",
)


@dataclass(frozen=True)
class ExportOptions:
    """What to export and how (the CLI's options)."""

    format: str
    out: Path
    volume: str | None = None
    model: str | None = None
    quality: int = 90
    max_size: int | None = None
    pyramid: bool = False
    pyramid_tile: int = 256
    pyramid_compression: str = "jpeg"
    bagit: bool = False
    iiif_base_url: str | None = None
    #: long side of the JPEGs the IIIF canvases paint (without --pyramid)
    iiif_access_size: int = WEB_LONG_SIDE
    #: sign every exported page file with C2PA Content Credentials (None: do not)
    c2pa: content_credentials.SigningCredentials | None = None
    #: put the C2PA manifest in a ``.c2pa`` sidecar even where it could be embedded
    c2pa_sidecar: bool = False

    def __post_init__(self) -> None:
        if self.format not in EXPORT_FORMATS:
            raise ConfigurationError(
                f"--format must be one of {', '.join(EXPORT_FORMATS)}, not {self.format!r}"
            )
        if not 1 <= self.quality <= 100:
            raise ConfigurationError(f"--quality must be 1..100, not {self.quality}")
        if self.max_size is not None and self.max_size < 1:
            raise ConfigurationError(
                f"--max-size must be a positive number of px, not {self.max_size}"
            )
        if self.pyramid and self.format != "tiff":
            raise ConfigurationError("--pyramid makes pyramidal TIFFs: use it with --format tiff")
        if self.max_size is not None and self.format == "tiff":
            raise ConfigurationError(
                "--max-size is for access copies (jpeg, png, webp); the TIFF is the archival "
                "derivative at the master's exact size"
            )
        if self.pyramid_compression not in PYRAMID_COMPRESSIONS:
            raise ConfigurationError(
                f"pyramid compression must be one of {', '.join(PYRAMID_COMPRESSIONS)}"
            )
        if self.iiif_access_size < 1:
            raise ConfigurationError(
                f"the IIIF image size must be a positive number of px, not {self.iiif_access_size}"
            )
        if self.c2pa_sidecar and self.c2pa is None:
            raise ConfigurationError("--c2pa-sidecar places C2PA manifests: use it with --c2pa")
        if self.iiif_base_url is not None and not self.iiif_base_url.startswith(
            ("http://", "https://")
        ):
            raise ConfigurationError(
                f"--iiif-base-url must be an http(s) URL, not {self.iiif_base_url!r}"
            )

    @property
    def kind(self) -> str:
        """The exported format as recorded in manifests: tiff, tiff-pyramid, jpeg, png, webp."""
        return "tiff-pyramid" if self.pyramid else self.format

    @property
    def suffix(self) -> str:
        return "tif" if self.format == "tiff" else ACCESS_FORMATS[self.format][0]

    @property
    def media_type(self) -> str:
        return "image/tiff" if self.format == "tiff" else ACCESS_FORMATS[self.format][1]

    def recipe(self) -> dict[str, Any]:
        """The options the exported bytes depend on (recorded to skip unchanged files)."""
        recipe = self._format_recipe()
        if self.c2pa is not None:
            recipe["c2pa"] = {**self.c2pa.recipe(), "sidecar": self.c2pa_sidecar}
        return recipe

    def _format_recipe(self) -> dict[str, Any]:
        if self.format == "tiff" and not self.pyramid:
            return {"format": "tiff"}
        if self.pyramid:
            return {
                "format": self.kind,
                "tile": self.pyramid_tile,
                "compression": self.pyramid_compression,
                "quality": self.quality,
            }
        recipe: dict[str, Any] = {"format": self.format, "max_size": self.max_size}
        if self.format in ("jpeg", "webp"):
            recipe["quality"] = self.quality
        return recipe


@dataclass(frozen=True)
class ExportItem:
    """One selected page: its scan, current derivative and model."""

    volume: str
    scan_id: int
    master_root: str
    master_path: str
    page_index: int
    master_sha256: str
    derivative_id: int
    derivative_path: str
    derivative_sha256: str
    width: int
    height: int
    model: str
    weights_sha256: str
    provenance: dict[str, Any]


@dataclass
class ExportRecord:
    """One exported page, as listed in the manifests."""

    volume: str
    master_path: str
    page: int
    master_sha256: str
    derivative_path: str
    derivative_sha256: str
    width: int
    height: int
    model: str
    weights_sha256: str
    format: str
    export_path: str
    export_sha256: str
    export_bytes: int
    export_width: int
    export_height: int
    recipe: dict[str, Any] = field(default_factory=dict)
    status: str = "written"  # written | replaced | unchanged (this run; not in manifests)
    #: C2PA manifest: "embedded", "sidecar" or None (not signed)
    c2pa: str | None = None
    #: the sidecar manifest store's path under --out (c2pa == "sidecar")
    c2pa_manifest: str | None = None

    def manifest_entry(self) -> dict[str, Any]:
        entry = asdict(self)
        entry.pop("status")
        for key in ("c2pa", "c2pa_manifest"):
            if entry[key] is None:
                entry.pop(key)
        return entry


@dataclass
class ExportSummary:
    """What an export run did."""

    out: Path
    format: str
    selected: int = 0
    written: int = 0
    replaced: int = 0
    unchanged: int = 0
    problems: list[str] = field(default_factory=list)
    records: list[ExportRecord] = field(default_factory=list)
    replaced_paths: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    iiif_manifests: list[str] = field(default_factory=list)
    bag: bool = False
    exported_bytes: int = 0
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        return {
            "out": str(self.out),
            "format": self.format,
            "selected": self.selected,
            "written": self.written,
            "replaced": self.replaced,
            "unchanged": self.unchanged,
            "problems": self.problems,
            "replaced_paths": self.replaced_paths,
            "notes": self.notes,
            "iiif_manifests": self.iiif_manifests,
            "bag": self.bag,
            "bytes": self.exported_bytes,
            "seconds": round(self.seconds, 3),
        }


# -- selection --------------------------------------------------------------------------------


def select_derivatives(
    session: Session, *, volume: str | None = None, model: str | None = None
) -> list[ExportItem]:
    """Current derivatives of current scans, in volume, master path and page order."""
    query = (
        select(Derivative, Job, Scan, Volume)
        .join(Job, Derivative.job_id == Job.id)
        .join(Scan, Derivative.scan_id == Scan.id)
        .join(Volume, Scan.volume_id == Volume.id)
        .where(Derivative.current.is_(True), Scan.state == ScanState.INGESTED)
        .order_by(Volume.name, Scan.path, Scan.page_index, Derivative.id)
    )
    if volume is not None:
        query = query.where(Scan.volume_id == require_volume(session, volume).id)
    if model is not None:
        query = query.where(Job.model_name == model)
    newest: dict[int, ExportItem] = {}
    for derivative, job, scan, vol in session.execute(query):
        newest[scan.id] = ExportItem(  # ordered by id: the newest derivative wins
            volume=vol.name,
            scan_id=scan.id,
            master_root=scan.root,
            master_path=scan.path,
            page_index=scan.page_index,
            master_sha256=str(scan.sha256),
            derivative_id=derivative.id,
            derivative_path=derivative.path,
            derivative_sha256=derivative.sha256,
            width=int(derivative.width),
            height=int(derivative.height),
            model=job.model_name,
            weights_sha256=job.weights_sha256,
            provenance=dict(derivative.provenance or {}),
        )
    items = list(newest.values())
    items.sort(key=lambda i: (i.volume, i.master_path, i.page_index))
    return items


# -- paths ------------------------------------------------------------------------------------


def export_relpath(volume: str, master_path: str, page_index: int, suffix: str) -> PurePosixPath:
    """``<volume>/<folders…>/<stem>-p<page>.<suffix>``, every component sanitised."""
    master = PurePosixPath(master_path.replace("\\", "/"))
    folders = [slug(part) for part in master.parent.parts if part not in ("", "/", ".", "..")]
    stem = master.name.rsplit(".", 1)[0] if "." in master.name.lstrip(".") else master.name
    return PurePosixPath(slug(volume), *folders, f"{slug(stem)}-p{page_index + 1:04d}.{suffix}")


def inside_folder(root: Path, relpath: PurePosixPath | str) -> Path:
    """The absolute path of ``relpath`` under ``root``; OutputError if it would leave it."""
    base = Path(root).resolve()
    relative = PurePosixPath(relpath)
    if relative.is_absolute() or ".." in relative.parts or not relative.parts:
        raise OutputError(f"export path {str(relpath)!r} is not a plain path inside {base}")
    target = (base / Path(*relative.parts)).resolve()
    if not target.is_relative_to(base) or target == base:
        raise OutputError(
            f"export path {str(relpath)!r} resolves to {target}, outside the export folder "
            f"{base} (a symbolic link?); remove the link or export to another --out"
        )
    return target


# -- file writing -----------------------------------------------------------------------------


def _copy_hashing(source: Path, target: Path) -> tuple[str, int]:
    """Copy ``source`` to ``target`` (a new file) and return its (sha256, bytes)."""
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with open(source, "rb", buffering=0) as reader, open(target, "wb") as writer:
        while True:
            n = reader.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
            writer.write(view[:n])
            size += n
        writer.flush()
        os.fsync(writer.fileno())
    return digest.hexdigest(), size


@contextlib.contextmanager
def _scratch(target: Path) -> Iterator[Path]:
    """A hidden temporary path beside ``target``, removed unless renamed away."""
    path = hidden_temporary(target, ".export")
    try:
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _settle(made: Path, target: Path, digest: str, existing: str | None, ours: bool) -> str:
    """Put ``made`` (sha256 ``digest``) at ``target``: unchanged / replaced / written.

    ``ours``: the previous manifest lists ``target``; an existing file that is not ours is never
    replaced (OutputError)."""
    if existing == digest:
        return "unchanged"
    if existing is not None and not ours:
        raise _not_ours(target)
    os.replace(made, target)
    fsync_directory(target.parent)
    return "written" if existing is None else "replaced"


def write_text_if_changed(target: Path, text: str) -> str:
    """Write ``text`` at ``target`` atomically unless identical; returns the status."""
    data = text.encode("utf-8")
    if target.is_file() and target.read_bytes() == data:
        return "unchanged"
    existed = target.exists()
    write_bytes_atomically(target, data)
    return "replaced" if existed else "written"


def _not_ours(target: Path) -> OutputError:
    return OutputError(
        f"{target}: already exists and was not written by archcolor into this folder (not in "
        "its manifest.json); not replaced — move it away or export to another --out"
    )


# -- the use case -----------------------------------------------------------------------------


def sweep_temporaries(folder: Path) -> list[Path]:
    """Remove hidden temporaries an interrupted export left under ``folder``; returns them.

    Only archcolor's own names are touched: ``.<name>.<random>.export`` / ``.partial`` files and
    ``.<name>.<random>.levels`` folders (pyramid scratch). One export per folder at a time.
    """
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    for directory, folders, names in os.walk(folder):
        for name in names:
            if name.startswith(".") and name.endswith((".export", ".partial")):
                path = Path(directory) / name
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                    removed.append(path)
        for name in list(folders):
            if name.startswith(".") and name.endswith(".levels"):
                path = Path(directory) / name
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
                folders.remove(name)
    return removed


def _previous_records(out: Path) -> dict[str, dict[str, Any]]:
    path = out / MANIFEST_JSON
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text("utf-8"))
        pages = document.get("pages", []) if isinstance(document, dict) else []
        return {
            str(p["export_path"]): p for p in pages if isinstance(p, dict) and "export_path" in p
        }
    except (ValueError, KeyError, TypeError):
        return {}


def _export_one(
    item: ExportItem,
    options: ExportOptions,
    source: Path,
    target: Path,
    previous: dict[str, Any] | None,
    recipe: dict[str, Any],
    notes: list[str],
    session: Session,
) -> tuple[str, str, int, int, int, str | None]:
    """Export one page; returns (status, sha256, bytes, width, height, c2pa placement)."""
    existing = sha256_file(target)[0] if target.is_file() else None
    if target.exists() and existing is None:
        raise _not_ours(target)  # a folder or special file where the export goes
    ours = previous is not None
    if existing is not None and existing != item.derivative_sha256:
        check_output_file(session, target, existing, what="export file")
    if options.c2pa is not None:
        return _export_signed(item, options, source, target, existing, previous, recipe, notes)
    if options.format == "tiff" and not options.pyramid:
        if existing == item.derivative_sha256:
            return "unchanged", existing, target.stat().st_size, item.width, item.height, None
        with _scratch(target) as made:
            digest, size, width, height = _verified_file(
                item, options, source, made, notes, target.name
            )
            status = _settle(made, target, digest, existing, ours)
            return status, digest, size, width, height, None
    unchanged = _unchanged(item, target, existing, previous, recipe)
    if unchanged is not None:
        return unchanged
    _check_fixity(source, sha256_file(source)[0], item)
    with _scratch(target) as made:
        digest, size, width, height = _make_file(options, source, made, notes, target.name)
        return _settle(made, target, digest, existing, ours), digest, size, width, height, None


def _unchanged(
    item: ExportItem,
    target: Path,
    existing: str | None,
    previous: dict[str, Any] | None,
    recipe: dict[str, Any],
    sidecar: Path | None = None,
) -> tuple[str, str, int, int, int, str | None] | None:
    """The "unchanged" result when ``target`` is the file the previous manifest lists for this
    derivative and recipe (signed with a ``sidecar``: that sidecar still there); else None."""
    if (
        existing is not None
        and previous is not None
        and previous.get("derivative_sha256") == item.derivative_sha256
        and previous.get("recipe") == recipe
        and previous.get("export_sha256") == existing
        and (sidecar is None or previous.get("c2pa") != "sidecar" or sidecar.is_file())
    ):
        return (
            "unchanged",
            existing,
            target.stat().st_size,
            int(previous.get("export_width", item.width)),
            int(previous.get("export_height", item.height)),
            None if sidecar is None else previous.get("c2pa"),
        )
    return None


def _check_fixity(source: Path, digest: str, item: ExportItem) -> None:
    """The derivative read from the store is the one the catalog names (FixityError)."""
    if digest != item.derivative_sha256:
        raise FixityError(
            f"{source}: sha256 {digest} does not match the catalog's "
            f"{item.derivative_sha256}; not exported — run `archcolor process --pending --repair`"
        )


def _verified_file(
    item: ExportItem, options: ExportOptions, source: Path, made: Path, notes: list[str], name: str
) -> tuple[str, int, int, int]:
    """Check ``source`` against the catalog and write its exported form at ``made`` (a TIFF:
    copied and checked in one read); returns (sha256, bytes, w, h)."""
    if options.format == "tiff" and not options.pyramid:
        digest, size = _copy_hashing(source, made)
        _check_fixity(source, digest, item)
        return digest, size, item.width, item.height
    _check_fixity(source, sha256_file(source)[0], item)
    return _make_file(options, source, made, notes, name)


def _make_file(
    options: ExportOptions, source: Path, made: Path, notes: list[str], name: str
) -> tuple[str, int, int, int]:
    """Write the exported form of ``source`` at ``made``; returns (sha256, bytes, w, h)."""
    if options.pyramid:
        pyramid = write_pyramid(
            source,
            made,
            tile=options.pyramid_tile,
            compression=options.pyramid_compression,
            quality=options.quality,
        )
        digest, size, width, height = (
            pyramid.sha256,
            pyramid.bytes,
            pyramid.width,
            pyramid.height,
        )
    else:
        copy = write_access_copy(
            source,
            made,
            format=options.format,
            quality=options.quality,
            max_size=options.max_size,
        )
        notes.extend(f"{name}: {note}" for note in copy.notes)
        digest, size, width, height = copy.sha256, copy.bytes, copy.width, copy.height
    return digest, size, width, height


def _export_signed(
    item: ExportItem,
    options: ExportOptions,
    source: Path,
    target: Path,
    existing: str | None,
    previous: dict[str, Any] | None,
    recipe: dict[str, Any],
    notes: list[str],
) -> tuple[str, str, int, int, int, str | None]:
    """Export one page signed with C2PA Content Credentials (embedded, else a sidecar)."""
    credentials = options.c2pa
    assert credentials is not None
    sidecar = target.with_name(target.name + content_credentials.SIDECAR_SUFFIX)
    unchanged = _unchanged(item, target, existing, previous, recipe, sidecar)
    if unchanged is not None:
        return unchanged
    ours = previous is not None
    with _scratch(target) as made, _scratch(target) as signed:
        digest, size, width, height = _verified_file(
            item, options, source, made, notes, target.name
        )
        embed = _c2pa_embeds(options, target.name, sidecar.name, notes)
        definition = _c2pa_definition(
            item,
            target.name,
            options.media_type,
            None if options.format == "tiff" else options._format_recipe(),
            (width, height),
        )
        manifest = content_credentials.sign_file(
            made, signed, definition, credentials, options.media_type, sidecar=not embed
        )
        digest, size = sha256_file(signed)
        status = _settle(signed, target, digest, existing, ours)
        if not embed:
            write_bytes_atomically(sidecar, manifest)
    return status, digest, size, width, height, "embedded" if embed else "sidecar"


def _c2pa_embeds(options: ExportOptions, name: str, sidecar: str, notes: list[str]) -> bool:
    """Whether the C2PA manifest goes into the file (else into the sidecar, with a note why
    when no --c2pa-sidecar asked for it)."""
    embed = (
        not options.c2pa_sidecar
        and not options.pyramid
        and content_credentials.can_embed(options.media_type)
    )
    if options.pyramid and not options.c2pa_sidecar:
        notes.append(
            f"{name}: C2PA manifest in the sidecar {sidecar} (embedding it would "
            "append an image-less IFD to the pyramid that image servers do not expect)"
        )
    elif not embed and not options.c2pa_sidecar:
        notes.append(
            f"{name}: the C2PA library cannot embed a manifest in "
            f"{options.media_type}; it is in the sidecar {sidecar}"
        )
    return embed


def _c2pa_definition(
    item: ExportItem,
    title: str,
    media_type: str,
    transcoded: dict[str, Any] | None,
    size: tuple[int, int],
) -> dict[str, Any]:
    """The C2PA manifest definition of the file ``title`` (``media_type``, ``size`` (w, h))
    made from ``item``'s derivative; ``transcoded``: its format options (None: the TIFF)."""
    parameters = (item.provenance.get("activity") or {}).get("parameters") or {}
    return content_credentials.manifest_definition(
        title=title,
        media_type=media_type,
        master={
            "sha256": item.master_sha256,
            "title": PurePosixPath(item.master_path).name,
            "path": item.master_path,
            "volume": item.volume,
            "page": item.page_index + 1,
        },
        derivative={
            "sha256": item.derivative_sha256,
            "width": item.width,
            "height": item.height,
        },
        model_name=item.model,
        weights_sha256=item.weights_sha256,
        parameters=parameters,
        transcoded=transcoded,
        resized=size if size != (item.width, item.height) else None,
    )


def export(
    engine: Engine,
    store: Path,
    options: ExportOptions,
    *,
    on_page: Callable[[ExportRecord | None, str | None], None] | None = None,
) -> ExportSummary:
    """Export the selected derivatives into ``options.out`` (see the module docstring).

    Raises NothingToExportError when the selection is empty. A page whose derivative is missing
    or changed in the store is listed in ``summary.problems`` and skipped; the others go on.
    ``on_page(record, problem)`` is called after each page.
    """
    import time

    started = time.perf_counter()
    with Session(engine) as session:
        items = select_derivatives(session, volume=options.volume, model=options.model)
    if not items:
        raise _nothing_to_export(options)
    out = Path(options.out)
    _prepare_folder(engine, out)
    payload_rel = PurePosixPath("data") if options.bagit else PurePosixPath()
    payload = out / "data" if options.bagit else out
    payload.mkdir(exist_ok=True)
    sweep_temporaries(out)
    summary = ExportSummary(out=out, format=options.kind, selected=len(items), bag=options.bagit)
    previous = _previous_records(out)
    recipe = options.recipe()
    used: set[PurePosixPath] = set()
    exported: dict[str, ExportItem] = {}  # by export path: what the IIIF copies are made from
    with Session(engine) as session:  # read-only: is an existing file a master?
        for item in items:
            export_path = (payload_rel / _unused_relpath(item, options, used)).as_posix()
            try:
                record = _export_page(
                    item, options, store, export_path, previous, recipe, summary.notes, session
                )
            except (ArchcolorError, OSError) as error:
                problem = (
                    str(error) if isinstance(error, ArchcolorError) else f"{export_path}: {error}"
                )
                summary.problems.append(problem)
                if on_page is not None:
                    on_page(None, problem)
                continue
            _count(summary, record)
            exported[export_path] = item
            if on_page is not None:
                on_page(record, None)
    extra_files = _write_iiif(out, store, payload_rel, options, summary, exported)
    _write_manifests(out, summary, previous, extra_files, options)
    summary.seconds = time.perf_counter() - started
    return summary


def _nothing_to_export(options: ExportOptions) -> NothingToExportError:
    scope = " and ".join(
        part
        for part in (
            f"volume {options.volume!r}" if options.volume else "",
            f"model {options.model!r}" if options.model else "",
        )
        if part
    )
    return NothingToExportError(
        "nothing to export: no current derivatives"
        + (f" for {scope}" if scope else " in the catalog")
        + "; run `archcolor process --pending` first (`archcolor jobs` shows the queue)"
    )


def _prepare_folder(engine: Engine, out: Path) -> None:
    """Check that ``out`` may take an export (no master, no foreign tag files) and create it."""
    with Session(engine) as session:
        check_output_folder(session, out, what="export folder --out")
    foreign = [name for name in EXPORT_TAG_FILES if (out / name).exists()]
    if foreign and not is_archcolor_manifest(out / MANIFEST_JSON):
        raise OutputError(
            f"{out} holds {', '.join(foreign)} not written by an archcolor export; they would be "
            "replaced — export to another --out or move them away"
        )
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise OutputError(
            f"{out}: cannot create the export folder ({error.strerror or error})"
        ) from error


def _unused_relpath(
    item: ExportItem, options: ExportOptions, used: set[PurePosixPath]
) -> PurePosixPath:
    """The page's path in the export, kept apart from the ``used`` ones (then added to them)."""
    relative = export_relpath(item.volume, item.master_path, item.page_index, options.suffix)
    if relative in used:  # two names sanitised alike: keep both, apart
        relative = relative.with_name(f"{relative.stem}-s{item.scan_id}{relative.suffix}")
    used.add(relative)
    return relative


def _export_page(
    item: ExportItem,
    options: ExportOptions,
    store: Path,
    export_path: str,
    previous: dict[str, dict[str, Any]],
    recipe: dict[str, Any],
    notes: list[str],
    session: Session,
) -> ExportRecord:
    """Export ``item``'s derivative from ``store`` to ``export_path`` under ``options.out``."""
    source = inside_store(store, item.derivative_path)
    if not source.is_file():
        raise FixityError(
            f"derivative {item.derivative_path} of {item.volume}/"
            f"{item.master_path} page {item.page_index + 1} is missing from the "
            f"store {store}; run `archcolor process --pending --repair`"
        )
    out = Path(options.out)
    target = inside_folder(out, export_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    target = inside_folder(out, export_path)  # the folders just made may not lead out
    status, digest, size, width, height, signed = _export_one(
        item, options, source, target, previous.get(export_path), recipe, notes, session
    )
    return ExportRecord(
        volume=item.volume,
        master_path=str(PurePosixPath(item.master_root) / item.master_path),
        page=item.page_index + 1,
        master_sha256=item.master_sha256,
        derivative_path=item.derivative_path,
        derivative_sha256=item.derivative_sha256,
        width=item.width,
        height=item.height,
        model=item.model,
        weights_sha256=item.weights_sha256,
        format=options.kind,
        export_path=export_path,
        export_sha256=digest,
        export_bytes=size,
        export_width=width,
        export_height=height,
        recipe=recipe,
        status=status,
        c2pa=signed,
        c2pa_manifest=(
            export_path + content_credentials.SIDECAR_SUFFIX if signed == "sidecar" else None
        ),
    )


def _count(summary: ExportSummary, record: ExportRecord) -> None:
    """Add an exported page to the summary."""
    summary.records.append(record)
    setattr(summary, record.status, getattr(summary, record.status) + 1)
    if record.status != "unchanged":
        summary.exported_bytes += record.export_bytes
    if record.status == "replaced":
        summary.replaced_paths.append(record.export_path)


def _previous_files(out: Path) -> dict[str, str]:
    """sha256 by path of every file the previous manifest.json in ``out`` lists."""
    path = out / MANIFEST_JSON
    if not path.is_file():
        return {}
    try:
        document = json.loads(path.read_text("utf-8"))
        files = document.get("files", []) if isinstance(document, dict) else []
        return {str(f["path"]): str(f["sha256"]) for f in files if isinstance(f, dict)}
    except (ValueError, KeyError, TypeError):
        return {}


_RENDERING_LABELS = {
    "tiff": "archival TIFF: the master's size, sRGB, XMP provenance",
    "tiff-pyramid": "pyramidal TIFF: the master's size, sRGB",
}


@dataclass
class _IiifRun:
    """What the IIIF step works with: the export's folders and options, the catalogued item of
    each exported page (by export path), the previous manifest's files, and what it wrote
    (sha256 and bytes by path) and found wrong so far."""

    out: Path
    store: Path
    payload_rel: PurePosixPath
    options: ExportOptions
    items: dict[str, ExportItem]
    previous: dict[str, str]
    problems: list[str]
    written: dict[str, tuple[str, int]] = field(default_factory=dict)


def _access_copy_kept(run: _IiifRun, kept: Path, relative: str, size: tuple[int, int]) -> bool:
    """Whether ``kept`` is still the copy the previous manifest lists, at ``size``, and (with
    --c2pa) carries an intact C2PA manifest."""
    from PIL import Image

    if relative not in run.previous or not kept.is_file():
        return False
    if sha256_file(kept)[0] != run.previous[relative]:
        return False
    try:
        with Image.open(kept) as image:
            if image.size != size:
                return False
    except (OSError, ValueError):
        return False
    return run.options.c2pa is None or content_credentials.read_credentials(kept).intact


def _iiif_sidecar(options: ExportOptions) -> bool:
    """Whether a signed IIIF access copy's C2PA manifest goes into a ``.c2pa`` sidecar."""
    return options.c2pa_sidecar or not content_credentials.can_embed(IIIF_MEDIA_TYPE)


def _iiif_access_copy(run: _IiifRun, record: ExportRecord, relative: str) -> tuple[int, int]:
    """Make (or keep) the web-sized JPEG a canvas paints — with --c2pa signed like the page's
    own file (then hashed) — and add it (and a sidecar) to ``run.written``; returns (w, h).

    Kept without reading the derivative when the page itself was unchanged (same derivative,
    same options) and the copy is still the one the previous manifest lists, at the size asked.
    """
    options = run.options
    width, height = reduced_size(record.width, record.height, options.iiif_access_size)
    target = inside_folder(run.out, relative)
    sidecar = None
    if options.c2pa is not None and _iiif_sidecar(options):
        sidecar = content_credentials.sidecar_path(target)
    if record.status == "unchanged" and _access_copy_kept(run, target, relative, (width, height)):
        run.written[relative] = sha256_file(target)
        if sidecar is not None and sidecar.is_file():
            run.written[relative + content_credentials.SIDECAR_SUFFIX] = sha256_file(sidecar)
        return width, height
    source = inside_store(run.store, record.derivative_path)
    digest_source, _size = sha256_file(source)
    if digest_source != record.derivative_sha256:
        raise FixityError(
            f"{source}: sha256 {digest_source} does not match the catalog's "
            f"{record.derivative_sha256}; no IIIF image made — run "
            "`archcolor process --pending --repair`"
        )
    target.parent.mkdir(parents=True, exist_ok=True)
    target = inside_folder(run.out, relative)  # the folders just made may not lead out
    existing = sha256_file(target)[0] if target.is_file() else None
    if target.exists() and existing is None:
        raise _not_ours(target)
    with _scratch(target) as made, _scratch(target) as signed:
        copy = write_access_copy(
            source,
            made,
            format="jpeg",
            quality=IIIF_ACCESS_QUALITY,
            max_size=options.iiif_access_size,
        )
        final, manifest = made, b""
        if options.c2pa is not None:
            final = signed
            manifest = _sign_access_copy(
                run, record, (made, signed), target.name, (copy.width, copy.height)
            )
        digest, size = sha256_file(final)  # signed: the bytes delivered
        _settle(final, target, digest, existing, relative in run.previous)
        if sidecar is not None:
            write_bytes_atomically(sidecar, manifest)
            run.written[relative + content_credentials.SIDECAR_SUFFIX] = sha256_file(sidecar)
    run.written[relative] = (digest, size)
    return copy.width, copy.height


def _sign_access_copy(
    run: _IiifRun,
    record: ExportRecord,
    files: tuple[Path, Path],
    title: str,
    size: tuple[int, int],
) -> bytes:
    """Sign the IIIF access copy ``title`` (of ``size``) from ``files`` (made, signed): master
    as parent ingredient, colorization, transcoded and resized actions, as for the page's own
    file; returns the manifest store's bytes."""
    credentials = run.options.c2pa
    assert credentials is not None
    item = run.items[record.export_path]
    transcoded = {
        "format": "jpeg",
        "quality": IIIF_ACCESS_QUALITY,
        "max_size": run.options.iiif_access_size,
    }
    definition = _c2pa_definition(item, title, IIIF_MEDIA_TYPE, transcoded, size)
    return content_credentials.sign_file(
        *files,
        definition,
        credentials,
        IIIF_MEDIA_TYPE,
        sidecar=_iiif_sidecar(run.options),
    )


def _iiif_page(run: _IiifRun, r: ExportRecord, iiif_folder: PurePosixPath) -> iiif.IiifPage | None:
    """The canvas of one exported page (None: its access copy failed, listed in problems)."""
    options = run.options
    exported = iiif.IiifLink(
        path=r.export_path,
        media_type=options.media_type,
        width=r.export_width,
        height=r.export_height,
        label=_RENDERING_LABELS.get(
            options.kind,
            f"{options.format.upper()} access copy, {r.export_width} x {r.export_height}",
        ),
    )
    web_sized = max(r.export_width, r.export_height) <= options.iiif_access_size
    image, rendering = exported, None
    if not options.pyramid and not (options.format == "jpeg" and web_sized):
        inner = PurePosixPath(r.export_path).relative_to(run.payload_rel / iiif_folder.name)
        relative = (iiif_folder / "access" / inner.with_suffix(".jpg")).as_posix()
        try:
            width, height = _iiif_access_copy(run, r, relative)
        except (ArchcolorError, OSError) as error:
            run.problems.append(
                f"{relative}: {error}" if isinstance(error, OSError) else str(error)
            )
            return None
        image = iiif.IiifLink(relative, IIIF_MEDIA_TYPE, width, height)
        rendering = exported
    elif options.pyramid:
        rendering = exported
    return iiif.IiifPage(
        label=f"{PurePosixPath(r.master_path).name} p{r.page}",
        width=r.width,
        height=r.height,
        image=image,
        pyramid=options.pyramid,
        rendering=rendering,
        metadata={
            "master sha256": r.master_sha256,
            "model": r.model,
            "weights sha256": r.weights_sha256,
        },
    )


def _write_iiif(
    out: Path,
    store: Path,
    payload_rel: PurePosixPath,
    options: ExportOptions,
    summary: ExportSummary,
    items: dict[str, ExportItem],
) -> dict[str, tuple[str, int]]:
    """Write one IIIF manifest per volume (and the web-sized JPEGs its canvases paint, signed
    with --c2pa); returns the (sha256, bytes) of the files written, by path."""
    base_url = options.iiif_base_url
    if base_url is None or not summary.records:
        return {}
    run = _IiifRun(out, store, payload_rel, options, items, _previous_files(out), summary.problems)
    volumes: dict[str, list[ExportRecord]] = {}
    for record in summary.records:
        volumes.setdefault(record.volume, []).append(record)
    for volume, records in volumes.items():
        iiif_folder = payload_rel / "iiif" / slug(volume)
        pages = [page for r in records if (page := _iiif_page(run, r, iiif_folder)) is not None]
        relative = (iiif_folder / "manifest.json").as_posix()
        document = iiif.volume_manifest(base_url, volume, relative, pages, see_also=MANIFEST_JSON)
        target = inside_folder(out, relative)
        target.parent.mkdir(parents=True, exist_ok=True)
        write_text_if_changed(target, json.dumps(document, indent=2, ensure_ascii=False) + "\n")
        run.written[relative] = sha256_file(target)
        summary.iiif_manifests.append(relative)
    return run.written


def _kept(
    out: Path, previous: dict[str, dict[str, Any]], current: set[str], bag: bool
) -> Iterable[dict[str, Any]]:
    """Records of earlier exports into ``out`` whose files are still intact."""
    for path, entry in previous.items():
        if path in current or path.startswith("data/") != bag:
            continue
        try:
            target = inside_folder(out, path)
        except OutputError:
            continue
        if target.is_file() and sha256_file(target)[0] == entry.get("export_sha256"):
            yield entry


def _write_manifests(
    out: Path,
    summary: ExportSummary,
    previous: dict[str, dict[str, Any]],
    extra_files: dict[str, tuple[str, int]],
    options: ExportOptions,
) -> None:
    pages = _manifest_pages(out, summary, previous, options.bagit)
    files = _delivered_files(out, pages, extra_files, options.bagit)
    document = {
        "archcolor": __version__,
        "bag": options.bagit,
        "pages": pages,
        "files": [
            {"path": path, "sha256": digest, "bytes": size}
            for path, (digest, size) in sorted(files.items())
        ],
    }
    write_text_if_changed(
        out / MANIFEST_JSON, json.dumps(document, indent=2, sort_keys=True) + "\n"
    )
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for page in pages:
        writer.writerow([page[column] for column in CSV_COLUMNS])
    write_text_if_changed(out / MANIFEST_CSV, buffer.getvalue())
    if options.bagit:
        _write_bag_tags(out, files, pages, options.kind)
    else:
        write_text_if_changed(
            out / MANIFEST_SHA256,
            bagit.manifest_lines((path, digest) for path, (digest, _size) in files.items()),
        )


def _manifest_pages(
    out: Path, summary: ExportSummary, previous: dict[str, dict[str, Any]], bag: bool
) -> list[dict[str, Any]]:
    """The manifest's pages: this run's and the intact ones of earlier runs, in page order."""
    current = {r.export_path for r in summary.records}
    pages = [r.manifest_entry() for r in summary.records]
    pages.extend(_kept(out, previous, current, bag))
    pages.sort(
        key=lambda p: (
            str(p["volume"]),
            str(p["master_path"]),
            int(p["page"]),
            str(p["export_path"]),
        )
    )
    return pages


def _delivered_files(
    out: Path,
    pages: list[dict[str, Any]],
    extra_files: dict[str, tuple[str, int]],
    bag: bool,
) -> dict[str, tuple[str, int]]:
    """(sha256, bytes) by path of every delivered file: the pages' files and C2PA sidecars, and
    ``extra_files`` with the intact IIIF files of earlier runs (added to it)."""
    files: dict[str, tuple[str, int]] = {
        str(p["export_path"]): (str(p["export_sha256"]), int(p["export_bytes"])) for p in pages
    }
    for page in pages:  # C2PA sidecar manifest stores are delivered files too
        sidecar = page.get("c2pa_manifest")
        if sidecar and inside_folder(out, str(sidecar)).is_file():
            files[str(sidecar)] = sha256_file(inside_folder(out, str(sidecar)))
    # IIIF manifests and images of earlier runs (other volumes) stay listed while intact
    iiif_root = out / ("data/iiif" if bag else "iiif")
    if iiif_root.is_dir():
        earlier = _previous_files(out)
        for path in sorted(p for p in iiif_root.rglob("*") if p.is_file()):
            relative = path.relative_to(out).as_posix()
            if relative in extra_files or path.name.startswith("."):
                continue
            digest = sha256_file(path)
            if path.name == "manifest.json" or earlier.get(relative) == digest[0]:
                extra_files[relative] = digest
    files.update(extra_files)
    return files


def _write_bag_tags(
    out: Path, files: dict[str, tuple[str, int]], pages: list[dict[str, Any]], kind: str
) -> None:
    """The BagIt tag files of a bagged export (OutputError when data/ holds strangers)."""
    stray = _stray_payload(out, set(files))
    if stray:
        raise OutputError(
            f"{out / 'data'} holds files that are not part of this export, so the bag would "
            f"be invalid: {', '.join(stray[:5])}{' …' if len(stray) > 5 else ''}; move them "
            "away or export to an empty folder"
        )
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    moment = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    volumes = sorted({str(p["volume"]) for p in pages})
    bagit.write_bag_tags(
        out,
        files,
        bagging_date=moment.date().isoformat(),
        info={
            "External-Description": (
                f"archcolor export ({kind}) of colorized derivatives of "
                f"{len(pages)} page(s) in {len(volumes)} volume(s): {', '.join(volumes)}"
            ),
            "Archcolor-Pages": str(len(pages)),
            "Archcolor-Volumes": str(len(volumes)),
            "Archcolor-Format": kind,
        },
        extra_tag_files=(MANIFEST_CSV, MANIFEST_JSON),
    )


def _stray_payload(out: Path, listed: set[str]) -> list[str]:
    stray = []
    for folder, _dirs, names in os.walk(out / "data"):
        for name in names:
            relative = (Path(folder) / name).relative_to(out).as_posix()
            if relative not in listed:
                stray.append(relative)
    return sorted(stray)
