"""Curators' colour hints: import a hints file into the catalog, list, export and clear them.

The file format is documented in ``docs/hints.md``: one JSON document per volume, pages named
by ``file`` (+ ``page``) or ``scan`` id, each with points and short strokes in the master's
*displayed* pixel coordinates (after its TIFF Orientation) and a colour as sRGB ``color``
``"#rrggbb"`` or CIE ``lab`` ``[L, a, b]``.

Import validates the whole file against the catalog before it writes anything (a malformed
file, an unknown page, a point outside its page, a bad colour: one HintsError line, nothing
recorded). For each page whose canonical hints differ from the scan's current set, a new
current :class:`~archive_colorizer.catalog.schema.HintSet` is added and the old one is ended
(kept as history), with a ``hint-import`` event; a page whose hints are unchanged is left alone,
so importing the same file again is a no-op. Clearing ends the current sets (``hint-clear``
events) and keeps them as history.

The canonical form of one hint (what is stored and hashed) is a dict with exactly one of
``point: [x, y]`` / ``stroke: [[x, y], ...]``, ``radius`` (displayed pixels), exactly one of
``color: "#rrggbb"`` (lower case) / ``lab: [L, a, b]`` and optionally ``note``; numbers that are
whole are stored as integers. A set's sha256 is that of its canonical JSON (sorted keys, no
spaces, UTF-8), so it names the hints and nothing else (not the author or the note).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from archive_colorizer.catalog import repository
from archive_colorizer.catalog.engine import writer
from archive_colorizer.catalog.schema import HintSet, Scan, ScanState, Volume, utcnow
from archive_colorizer.errors import (
    ConfigurationError,
    HintsError,
    NotFoundError,
    PathNotFoundError,
    PermanentJobError,
)
from archive_colorizer.imaging.color import srgb_codes_to_lab
from archive_colorizer.imaging.hints import Hint, HintMaps, rasterise_hints
from archive_colorizer.provenance import EventType, Outcome

__all__ = [
    "FORMAT",
    "ClearSummary",
    "HintSetInfo",
    "ImportSummary",
    "PageHintSet",
    "PageHints",
    "ParsedHints",
    "canonical_sha256",
    "clear_hints",
    "current_hint_sha256s",
    "current_hints",
    "displayed_size",
    "export_hints",
    "hint_maps",
    "hints_for_job",
    "hints_for_master",
    "import_hints",
    "list_hints",
    "parse_hints",
    "raster_hints",
]

#: the value of the document's ``format`` key this version reads and writes
FORMAT = "archcolor-hints/1"
#: the most hints one page may carry, and the most vertices one stroke may have
MAX_HINTS_PER_PAGE = 10_000
MAX_STROKE_POINTS = 256
#: largest radius (displayed pixels) of a point or stroke
MAX_RADIUS = 10_000
MAX_NOTE = 2_000
MAX_AUTHOR = 255

_DOCUMENT_KEYS = {"format", "volume", "author", "note", "pages"}
_PAGE_KEYS = {"file", "page", "scan", "author", "note", "hints"}
_HINT_KEYS = {"point", "stroke", "radius", "color", "lab", "note"}
_HEX = re.compile(r"#[0-9a-fA-F]{6}")


# ---------------------------------------------------------------- the format (no database)


@dataclass(frozen=True)
class PageHints:
    """One page entry of a hints file, validated for form (not yet against the catalog)."""

    where: str  # "pages[3]", for messages
    file: str | None
    page: int
    scan: int | None
    author: str | None
    note: str | None
    hints: list[dict[str, Any]]

    @property
    def sha256(self) -> str:
        return canonical_sha256(self.hints)


@dataclass(frozen=True)
class ParsedHints:
    """A whole hints file, validated for form."""

    volume: str | None
    author: str | None
    note: str | None
    pages: list[PageHints]


def canonical_sha256(hints: Sequence[dict[str, Any]]) -> str:
    """sha256 of the canonical JSON of canonical hints (sorted keys, no spaces, UTF-8)."""
    text = json.dumps(list(hints), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _fail(name: str, where: str, problem: str) -> HintsError:
    return HintsError(f"{name}: {where}: {problem} (see docs/hints.md)")


def _number(value: Any) -> float | None:
    """A finite JSON number as float (not a bool), else None."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _tidy(value: float) -> int | float:
    """Whole numbers as int, so 12 and 12.0 hash alike."""
    return int(value) if value.is_integer() else value


def _xy(name: str, where: str, value: Any) -> list[int | float]:
    if not isinstance(value, list) or len(value) != 2:
        raise _fail(name, where, f"a position must be [x, y], got {json.dumps(value)}")
    x, y = (_number(v) for v in value)
    if x is None or y is None:
        raise _fail(name, where, f"a position must be two numbers [x, y], got {json.dumps(value)}")
    return [_tidy(x), _tidy(y)]


def _text(name: str, where: str, value: Any, key: str, limit: int) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > limit:
        raise _fail(name, where, f"{key!r} must be a string of at most {limit} characters")
    return value


def _unknown(name: str, where: str, data: dict[str, Any], known: set[str]) -> None:
    extra = sorted(set(data) - known)
    if extra:
        raise _fail(
            name,
            where,
            f"unknown key {extra[0]!r} (known keys: {', '.join(sorted(known))})",
        )


def _hint(name: str, where: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise _fail(name, where, "a hint must be an object with 'point' or 'stroke'")
    _unknown(name, where, data, _HINT_KEYS)
    hint: dict[str, Any] = {}
    if ("point" in data) == ("stroke" in data):
        raise _fail(name, where, "a hint needs exactly one of 'point' [x, y] or 'stroke'")
    if "point" in data:
        hint["point"] = _xy(name, where, data["point"])
    else:
        stroke = data["stroke"]
        if not isinstance(stroke, list) or not 2 <= len(stroke) <= MAX_STROKE_POINTS:
            raise _fail(
                name,
                where,
                f"'stroke' must be a list of 2 to {MAX_STROKE_POINTS} positions [[x, y], ...]",
            )
        hint["stroke"] = [_xy(name, where, point) for point in stroke]
    radius = _number(data.get("radius", 0))
    if radius is None or not 0 <= radius <= MAX_RADIUS:
        raise _fail(
            name, where, f"'radius' must be a number of pixels in 0..{MAX_RADIUS}, got "
            f"{json.dumps(data.get('radius'))}"
        )  # fmt: skip
    hint["radius"] = _tidy(radius)
    if ("color" in data) == ("lab" in data):
        raise _fail(
            name, where, "a hint needs exactly one of 'color' \"#rrggbb\" or 'lab' [L, a, b]"
        )
    if "color" in data:
        color = data["color"]
        if not isinstance(color, str) or not _HEX.fullmatch(color):
            raise _fail(
                name, where, f"malformed colour {json.dumps(color)}: 'color' must be sRGB hex "
                "\"#rrggbb\" (or give 'lab': [L, a, b])"
            )  # fmt: skip
        hint["color"] = color.lower()
    else:
        lab = data["lab"]
        values = [_number(v) for v in lab] if isinstance(lab, list) and len(lab) == 3 else None
        if (
            values is None
            or any(v is None for v in values)
            or not 0 <= (values[0] or 0.0) <= 100
            or not all(-128 <= (v or 0.0) <= 127 for v in values[1:])
        ):
            raise _fail(
                name, where, f"malformed colour {json.dumps(lab)}: 'lab' must be [L, a, b] "
                "with L in 0..100 and a, b in -128..127"
            )  # fmt: skip
        hint["lab"] = [_tidy(float(v or 0.0)) for v in values]
    note = _text(name, where, data.get("note"), "note", MAX_NOTE)
    if note:
        hint["note"] = note
    return hint


def _page(name: str, where: str, data: Any) -> PageHints:
    if not isinstance(data, dict):
        raise _fail(name, where, "a page must be an object with 'file' or 'scan' and 'hints'")
    _unknown(name, where, data, _PAGE_KEYS)
    file, scan = data.get("file"), data.get("scan")
    if file is None and scan is None:
        raise _fail(name, where, "a page needs 'file' (and 'page') or 'scan' to say which page")
    if file is not None and (not isinstance(file, str) or not file):
        raise _fail(name, where, "'file' must be the master's path within its volume")
    if scan is not None and (isinstance(scan, bool) or not isinstance(scan, int) or scan < 1):
        raise _fail(name, where, f"'scan' must be a scan id (a positive integer), got {scan!r}")
    page = data.get("page", 0)
    if isinstance(page, bool) or not isinstance(page, int) or page < 0:
        raise _fail(name, where, f"'page' must be a page index (0, 1, ...), got {page!r}")
    if scan is not None and file is None and "page" in data:
        raise _fail(name, where, "'page' goes with 'file'; a 'scan' id already names one page")
    hints = data.get("hints")
    if not isinstance(hints, list) or not hints:
        raise _fail(
            name, where, "'hints' must be a non-empty list (use `archcolor hints clear` to "
            "withdraw a page's hints)"
        )  # fmt: skip
    if len(hints) > MAX_HINTS_PER_PAGE:
        raise _fail(name, where, f"{len(hints)} hints; at most {MAX_HINTS_PER_PAGE} per page")
    return PageHints(
        where=where,
        file=file.replace("\\", "/") if isinstance(file, str) else None,
        page=page,
        scan=scan,
        author=_text(name, where, data.get("author"), "author", MAX_AUTHOR),
        note=_text(name, where, data.get("note"), "note", MAX_NOTE),
        hints=[_hint(name, f"{where}.hints[{i}]", hint) for i, hint in enumerate(hints)],
    )


def parse_hints(data: Any, name: str = "hints") -> ParsedHints:
    """Validate the form of a decoded hints document; HintsError names the first problem."""
    if not isinstance(data, dict):
        raise _fail(name, "top level", "the document must be a JSON object")
    _unknown(name, "top level", data, _DOCUMENT_KEYS)
    if data.get("format") != FORMAT:
        raise _fail(
            name, "top level", f"'format' must be {FORMAT!r}, got {json.dumps(data.get('format'))}"
        )
    volume = data.get("volume")
    if volume is not None and (not isinstance(volume, str) or not volume):
        raise _fail(name, "top level", "'volume' must be the volume's name")
    pages = data.get("pages")
    if not isinstance(pages, list) or not pages:
        raise _fail(name, "top level", "'pages' must be a non-empty list")
    parsed = [_page(name, f"pages[{i}]", page) for i, page in enumerate(pages)]
    if volume is None:
        nameless = next((page for page in parsed if page.scan is None), None)
        if nameless is not None:
            raise _fail(name, nameless.where, "a page named by 'file' needs the top-level 'volume'")
    return ParsedHints(
        volume=volume,
        author=_text(name, "top level", data.get("author"), "author", MAX_AUTHOR),
        note=_text(name, "top level", data.get("note"), "note", MAX_NOTE),
        pages=parsed,
    )


def _read(path: Path) -> ParsedHints:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise PathNotFoundError(f"{path}: no such hints file") from None
    except IsADirectoryError:
        raise HintsError(f"{path}: is a folder; give the hints file (JSON)") from None
    except OSError as error:
        raise HintsError(f"{path}: cannot read it ({error.strerror or error})") from None
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise HintsError(f"{path.name}: not UTF-8 text; a hints file is JSON") from None
    except json.JSONDecodeError as error:
        raise HintsError(
            f"{path.name}: not valid JSON (line {error.lineno} column {error.colno}: "
            f"{error.msg}); see docs/hints.md"
        ) from None
    return parse_hints(data, path.name)


def _lab(hint: dict[str, Any]) -> tuple[float, float, float]:
    if "lab" in hint:
        lightness, a, b = (float(v) for v in hint["lab"])
        return lightness, a, b
    code = hint["color"]
    rgb = [int(code[i : i + 2], 16) for i in (1, 3, 5)]
    planes = srgb_codes_to_lab([[rgb]], 8)
    return float(planes[0][0, 0]), float(planes[1][0, 0]), float(planes[2][0, 0])


def raster_hints(hints: Sequence[dict[str, Any]]) -> list[Hint]:
    """Canonical hints as :class:`~archive_colorizer.imaging.hints.Hint` (colour in Lab)."""
    result = []
    for hint in hints:
        points = [hint["point"]] if "point" in hint else hint["stroke"]
        result.append(
            Hint(
                points=tuple((float(x), float(y)) for x, y in points),
                radius=float(hint["radius"]),
                lab=_lab(hint),
            )
        )
    return result


def hint_maps(scan: Scan, hint_set: HintSet, working: tuple[int, int]) -> HintMaps:
    """The scan's hint set rasterised at the working size ``(w, h)`` of its displayed page."""
    return rasterise_hints(raster_hints(hint_set.hints), displayed_size(scan), working)


# ---------------------------------------------------------------- the catalog


def displayed_size(scan: Scan) -> tuple[int, int]:
    """``(width, height)`` of a scan as displayed: swapped for TIFF Orientation 5-8."""
    width, height = int(scan.width or 0), int(scan.height or 0)
    if (scan.orientation or 1) >= 5:
        return height, width
    return width, height


def _login() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _resolve(session: Session, name: str, parsed: ParsedHints, page: PageHints) -> Scan:
    if page.scan is not None:
        scan = session.get(Scan, page.scan)
        if scan is None:
            raise _fail(name, page.where, f"unknown page: no scan with id {page.scan}")
        volume = scan.volume.name
        if parsed.volume is not None and volume != parsed.volume:
            raise _fail(
                name, page.where,
                f"scan {page.scan} belongs to volume {volume!r}, not {parsed.volume!r}",
            )  # fmt: skip
        if page.file is not None and (scan.path != page.file or scan.page_index != page.page):
            raise _fail(
                name, page.where, f"scan {page.scan} is {scan.path} page {scan.page_index}, "
                f"not {page.file} page {page.page}"
            )  # fmt: skip
    else:
        volume_row = repository.volume_named(session, parsed.volume or "")
        if volume_row is None:
            raise _fail(
                name, "top level", f"unknown volume {parsed.volume!r}; ingest it first "
                "(`archcolor ingest`) or correct 'volume'"
            )  # fmt: skip
        rows = repository.current_files(session, volume_row).get(page.file or "")
        if not rows:
            raise _fail(
                name, page.where,
                f"unknown page: volume {volume_row.name!r} has no file {page.file!r}",
            )  # fmt: skip
        match = [row for row in rows if row.page_index == page.page]
        if not match:
            raise _fail(
                name, page.where, f"unknown page: {page.file} has {len(rows)} page(s) "
                f"(0..{len(rows) - 1}), not page {page.page}"
            )  # fmt: skip
        scan = match[0]
    label = f"{scan.path} page {scan.page_index}"
    if scan.state == ScanState.SUPERSEDED:
        raise _fail(
            name, page.where, f"scan {scan.id} ({label}) is an old version (the file changed "
            f"since; its current scan is {scan.superseded_by_id}): check the hints against the "
            "new file and name that"
        )  # fmt: skip
    if scan.state == ScanState.REJECTED:
        raise _fail(name, page.where, f"{label} was rejected at ingest ({scan.reason})")
    return scan


def _check_inside(name: str, page: PageHints, scan: Scan) -> None:
    _check_points(name, page, f"{scan.path} page {scan.page_index}", displayed_size(scan))


def _check_points(name: str, page: PageHints, label: str, size: tuple[int, int]) -> None:
    width, height = size
    for index, hint in enumerate(page.hints):
        points = [hint["point"]] if "point" in hint else hint["stroke"]
        for x, y in points:
            if not (0 <= x <= width - 1 and 0 <= y <= height - 1):
                raise _fail(
                    name, f"{page.where}.hints[{index}]",
                    f"point ({x}, {y}) is outside {label}, which is "
                    f"{width}x{height} px as displayed (x in 0..{width - 1}, y in "
                    f"0..{height - 1}, after its Orientation)",
                )  # fmt: skip


def current_hints(session: Session, scan_id: int) -> HintSet | None:
    """The scan's current hint set, if any."""
    return session.scalars(
        select(HintSet).where(HintSet.scan_id == scan_id, HintSet.is_current.is_(True))
    ).one_or_none()


def current_hint_sha256s(session: Session, scan_ids: Sequence[int] | None = None) -> dict[int, str]:
    """``{scan id: sha256 of its current hint set}`` (of ``scan_ids``, or of every scan)."""
    query = select(HintSet.scan_id, HintSet.sha256).where(HintSet.is_current.is_(True))
    if scan_ids is None:
        return {int(scan_id): str(digest) for scan_id, digest in session.execute(query)}
    result: dict[int, str] = {}
    ids = list(scan_ids)
    for start in range(0, len(ids), 500):
        chunk = query.where(HintSet.scan_id.in_(ids[start : start + 500]))
        result.update({int(scan_id): str(digest) for scan_id, digest in session.execute(chunk)})
    return result


@dataclass(frozen=True)
class PageHintSet:
    """One page's hints as the colorize pipeline takes them: the canonical hints, their sha256
    (what the job's parameters name) and where they came from."""

    hints: tuple[dict[str, Any], ...]
    sha256: str
    author: str | None = None
    source: str | None = None
    #: the catalog's hint set row (None: from a file, `archcolor colorize --hints`)
    set_id: int | None = None

    @property
    def count(self) -> int:
        return len(self.hints)

    def maps(self, page_size: tuple[int, int], working: tuple[int, int]) -> HintMaps:
        """The hints rasterised at ``working`` ``(w, h)`` for a page displayed ``page_size``."""
        return rasterise_hints(raster_hints(self.hints), page_size, working)

    def describe(self) -> dict[str, Any]:
        """What provenance records of them: sha256, count, author, source (file), set id."""
        facts: dict[str, Any] = {"sha256": self.sha256, "count": self.count}
        if self.author is not None:
            facts["author"] = self.author
        if self.source is not None:
            facts["source"] = self.source
        if self.set_id is not None:
            facts["set_id"] = self.set_id
        return facts

    @classmethod
    def of(cls, row: HintSet) -> PageHintSet:
        return cls(
            hints=tuple(row.hints),
            sha256=row.sha256,
            author=row.author,
            source=row.source,
            set_id=row.id,
        )


def hints_for_job(engine: Engine, scan_id: int, sha256: str) -> PageHintSet:
    """The hint set of scan ``scan_id`` whose sha256 a job names: the current one, else the
    latest earlier set with that sha256 (PermanentJobError when the catalog has none)."""
    with Session(engine) as session:
        row = session.scalars(
            select(HintSet)
            .where(HintSet.scan_id == scan_id, HintSet.sha256 == sha256)
            .order_by(HintSet.is_current.desc(), HintSet.id.desc())
            .limit(1)
        ).one_or_none()
        if row is None:
            raise PermanentJobError(
                f"scan {scan_id}: the catalog holds no hint set with sha256 {sha256} that the "
                "job names; run `archcolor process --pending` to queue the page with its "
                "current hints (`archcolor hints list --scan " + str(scan_id) + "`)"
            )
        hint_set = PageHintSet.of(row)
    if canonical_sha256(hint_set.hints) != sha256:
        raise PermanentJobError(
            f"scan {scan_id}: the hint set {hint_set.set_id} stored with sha256 {sha256} now "
            "hashes differently (the catalog row was edited); import the hints again"
        )
    return hint_set


def hints_for_master(
    path: Path, master_name: str, page_index: int, size: tuple[int, int]
) -> PageHintSet:
    """The hints a hints file (docs/hints.md) gives for page ``page_index`` of a master named
    ``master_name`` displayed ``size`` ``(w, h)``, outside the catalog (`colorize --hints`):
    its one page whose ``file`` has that name and whose ``page`` is ``page_index``, checked
    like an import (HintsError, one line)."""
    parsed = _read(path)
    name = path.name
    matches = [
        page
        for page in parsed.pages
        if page.file is not None
        and page.file.rsplit("/", 1)[-1] == master_name
        and page.page == page_index
    ]
    if not matches:
        raise HintsError(
            f"{name}: no page for {master_name} page {page_index}: give a page with "
            f'"file": "{master_name}" and "page": {page_index} (see docs/hints.md)'
        )
    if len(matches) > 1:
        raise _fail(
            name, matches[1].where, f"{master_name} page {page_index} is already given at "
            f"{matches[0].where}; give each page once"
        )  # fmt: skip
    page = matches[0]
    _check_points(name, page, f"{master_name} page {page_index}", size)
    return PageHintSet(
        hints=tuple(page.hints),
        sha256=page.sha256,
        author=page.author or parsed.author,
        source=name,
    )


@dataclass
class ImportSummary:
    """What one import did: pages in the file, new sets recorded, pages left unchanged."""

    file: str
    pages: int = 0
    imported: int = 0
    unchanged: int = 0
    hints: int = 0
    scans: list[int] = field(default_factory=list)  # scans that got a new set

    def as_dict(self) -> dict[str, Any]:
        return {
            "file": self.file,
            "pages": self.pages,
            "imported": self.imported,
            "unchanged": self.unchanged,
            "hints": self.hints,
            "scans": list(self.scans),
        }


def import_hints(engine: Engine, path: Path, *, author: str | None = None) -> ImportSummary:
    """Record the hints of the file at ``path`` (see the module docstring); all or nothing."""
    parsed = _read(path)
    name = path.name
    summary = ImportSummary(file=str(path), pages=len(parsed.pages))
    with Session(writer(engine), expire_on_commit=False) as session:
        resolved: list[tuple[PageHints, Scan]] = []
        seen: dict[int, str] = {}
        for page in parsed.pages:
            scan = _resolve(session, name, parsed, page)
            if scan.id in seen:
                raise _fail(
                    name, page.where, f"{scan.path} page {scan.page_index} (scan {scan.id}) is "
                    f"already given at {seen[scan.id]}; give each page once"
                )  # fmt: skip
            seen[scan.id] = page.where
            _check_inside(name, page, scan)
            resolved.append((page, scan))
        now = utcnow()
        for page, scan in resolved:
            digest = page.sha256
            current = current_hints(session, scan.id)
            if current is not None and current.sha256 == digest:
                summary.unchanged += 1
                continue
            if current is not None:
                current.is_current = False
                current.ended_at = now
                session.flush()  # end it before the new current row (partial unique index)
            who = page.author or parsed.author or author or _login()
            row = HintSet(
                scan_id=scan.id,
                sha256=digest,
                hints=page.hints,
                hint_count=len(page.hints),
                author=who,
                note=page.note or parsed.note,
                source=name,
                is_current=True,
                created_at=now,
            )
            session.add(row)
            session.flush()
            replaced = f", replacing hint set {current.id}" if current is not None else ""
            repository.add_event(
                scan,
                EventType.HINT_IMPORT,
                Outcome.SUCCESS,
                f"hint set {row.id}: {len(page.hints)} hint(s), sha256 {digest}, chosen by "
                f"{who}, imported from {name}{replaced}",
                session=session,
            )
            summary.imported += 1
            summary.hints += len(page.hints)
            summary.scans.append(scan.id)
        session.commit()
    return summary


@dataclass(frozen=True)
class HintSetInfo:
    """A current hint set as `archcolor hints list` shows it."""

    id: int
    scan_id: int
    volume: str
    path: str
    page: int
    hints: int
    sha256: str
    author: str
    note: str | None
    source: str | None
    created_at: str
    earlier_sets: int

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "scan": self.scan_id,
            "volume": self.volume,
            "file": self.path,
            "page": self.page,
            "hints": self.hints,
            "sha256": self.sha256,
            "author": self.author,
            "note": self.note,
            "source": self.source,
            "created_at": self.created_at,
            "earlier_sets": self.earlier_sets,
        }


def _selected_sets(session: Session, scan_id: int | None, volume: str | None) -> list[HintSet]:
    if scan_id is not None and volume is not None:
        raise ConfigurationError("give --scan or --volume, not both")
    query = (
        select(HintSet)
        .join(Scan, Scan.id == HintSet.scan_id)
        .where(HintSet.is_current.is_(True))
        .options(selectinload(HintSet.scan).selectinload(Scan.volume))
    )
    if scan_id is not None:
        repository.scan_with_events(session, scan_id)  # NotFoundError for an unknown id
        query = query.where(HintSet.scan_id == scan_id)
    if volume is not None:
        query = query.where(Scan.volume_id == repository.require_volume(session, volume).id)
    query = query.join(Volume, Volume.id == Scan.volume_id)
    return list(session.scalars(query.order_by(Volume.name, Scan.path, Scan.page_index)))


def list_hints(
    engine: Engine, *, scan_id: int | None = None, volume: str | None = None
) -> list[HintSetInfo]:
    """The current hint sets (of one scan, one volume, or all), by volume, file and page."""
    with Session(engine) as session:
        sets = _selected_sets(session, scan_id, volume)
        result = []
        for row in sets:
            earlier = session.scalars(
                select(HintSet.id).where(HintSet.scan_id == row.scan_id, HintSet.id != row.id)
            ).all()
            result.append(
                HintSetInfo(
                    id=row.id,
                    scan_id=row.scan_id,
                    volume=row.scan.volume.name,
                    path=row.scan.path,
                    page=row.scan.page_index,
                    hints=row.hint_count,
                    sha256=row.sha256,
                    author=row.author,
                    note=row.note,
                    source=row.source,
                    created_at=row.created_at.isoformat(),
                    earlier_sets=len(earlier),
                )
            )
        return result


def export_hints(engine: Engine, *, volume: str | None = None) -> dict[str, Any]:
    """The current hints of ``volume`` as a hints document (importing it again is a no-op).

    Without ``volume`` the catalog must hold hints in exactly one volume.
    """
    with Session(engine) as session:
        if volume is None:
            names = sorted({row.scan.volume.name for row in _selected_sets(session, None, None)})
            if not names:
                raise NotFoundError("the catalog holds no colour hints; import some first")
            if len(names) > 1:
                raise ConfigurationError(
                    f"hints are catalogued for {len(names)} volumes ({', '.join(names[:5])}); "
                    "export one with --volume"
                )
            volume = names[0]
        sets = _selected_sets(session, None, volume)
        if not sets:
            raise NotFoundError(f"volume {volume!r} has no current colour hints")
        pages = []
        for row in sets:
            page: dict[str, Any] = {
                "file": row.scan.path,
                "page": row.scan.page_index,
                "author": row.author,
            }
            if row.note:
                page["note"] = row.note
            page["hints"] = row.hints
            pages.append(page)
        return {"format": FORMAT, "volume": volume, "pages": pages}


@dataclass
class ClearSummary:
    """What one clear did."""

    cleared: int = 0
    scans: list[int] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return {"cleared": self.cleared, "scans": list(self.scans)}


def clear_hints(
    engine: Engine,
    *,
    scan_id: int | None = None,
    volume: str | None = None,
    author: str | None = None,
) -> ClearSummary:
    """End the current hint sets of one scan or one volume (kept as history, with an event)."""
    if scan_id is None and volume is None:
        raise ConfigurationError("say which hints to clear: --scan ID or --volume NAME")
    summary = ClearSummary()
    who = author or _login()
    with Session(writer(engine), expire_on_commit=False) as session:
        now = utcnow()
        for row in _selected_sets(session, scan_id, volume):
            row.is_current = False
            row.ended_at = now
            repository.add_event(
                row.scan,
                EventType.HINT_CLEAR,
                Outcome.SUCCESS,
                f"hint set {row.id} ({row.hint_count} hint(s), sha256 {row.sha256}) withdrawn "
                f"by {who}; kept as history",
                session=session,
            )
            summary.cleared += 1
            summary.scans.append(row.scan_id)
        session.commit()
    return summary
