"""`archcolor report`: an HTML page, with its pictures beside it, for a curator to look at the
results.

``--out DIR/NAME.html`` writes the page and a folder ``DIR/NAME_files/`` (the name browsers give
a page's saved resources) with, per page, the master and its current derivative as JPEGs: a
thumbnail (``thumbnail`` px on the long side, 640 by default — enough to judge colour; loaded
lazily) linking to a full-size view (:data:`~archive_colorizer.imaging.access_copy.WEB_LONG_SIDE`
= 2400 px on the long side, never enlarged; about 1 MB). Every link is relative and nothing is
fetched from elsewhere, so the page and its folder open offline and can be copied, zipped or
archived together (the default ``--out`` is ``archcolor-report/index.html``: one folder). The
pictures folder is archcolor's own (it holds a ``.archcolor-report`` marker): pictures of an
earlier report that are no longer shown are removed, and a folder of that name that archcolor did
not make is refused, never touched.

The page shows counts (volumes, pages, colorized pages, colorized pages without visible colour,
rejected files, jobs by state — one line each), then per page the master and its current
derivative side by side with the model, the rendering (``luminance`` or ``wash``), the share of
chromatic pixels, weights sha256, parameters and when/where it was made; then rejected files with
their reasons and dead jobs with their errors (sections shown only when not empty). Pictures are
made by streaming the files (bounded memory) and area-reducing them; a file that cannot be read
gets a note instead of a picture. Every picture has an ``alt`` naming the volume, page, file and
what it shows ("master", "colorized by MODEL (RENDER)").

A page with a current colour hint set shows its hints drawn over the master's thumbnail (an SVG
layer in the master's displayed pixel coordinates: dots and strokes in their colour, ringed in
white), with its count and sha256 in the page's facts; a volume with a default colour reference
is listed under "Colour references" (file name and sha256).
"""

from __future__ import annotations

import html
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from archive_colorizer import __version__
from archive_colorizer.catalog.repository import require_volume
from archive_colorizer.catalog.schema import (
    ColourReference,
    Derivative,
    HintSet,
    Job,
    JobState,
    Scan,
    ScanState,
    Volume,
)
from archive_colorizer.config import DEFAULT_THUMBNAIL
from archive_colorizer.errors import ArchcolorError, OutputError
from archive_colorizer.imaging.access_copy import WEB_LONG_SIDE, output_bands, to_uint8
from archive_colorizer.imaging.atomic import write_bytes_atomically
from archive_colorizer.imaging.color import lab_to_srgb, srgb_codes_to_lab
from archive_colorizer.imaging.rgb_read import open_rgb
from archive_colorizer.imaging.row_reducer import RowAreaReducer, reduced_size
from archive_colorizer.imaging.tiff_read import open_master
from archive_colorizer.services.hints import displayed_size
from archive_colorizer.services.store import inside_store

__all__ = [
    "DEFAULT_THUMBNAIL",
    "chromatic_share",
    "derivative_pixels",
    "master_pixels",
    "reduce_pixels",
    "write_report",
]

#: thumbnail long side, px: large enough to judge colour
#: the chromatic share is measured at this long side, whatever the thumbnail size (ink and paper
#: are averaged there, as the eye does at a glance)
MEASURE_SIZE = 320
#: the marker of a pictures folder archcolor made
_MARKER = ".archcolor-report"


@dataclass
class _Page:
    scan: Scan
    volume: str
    derivative: Derivative | None
    job: Job | None
    hints: HintSet | None = None


def _jpeg(pixels: npt.NDArray[np.uint8]) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
    return buffer.getvalue()


def reduce_pixels(pixels: npt.NDArray[np.uint8], size: int) -> npt.NDArray[np.uint8]:
    """8-bit pixels ``(h, w)`` or ``(h, w, 3)`` area-reduced to ``size`` px on the long side."""
    height, width = pixels.shape[:2]
    new_width, new_height = reduced_size(width, height, size)
    if (new_width, new_height) == (width, height):
        return pixels
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    reducer = RowAreaReducer(width, height, new_width, new_height, channels=channels)
    reduced = reducer.add(pixels if pixels.ndim == 3 else pixels[..., None])
    out = np.clip(np.rint(reduced), 0, 255).astype(np.uint8)
    return out[..., 0] if pixels.ndim == 2 else out


def master_pixels(path: Path, page_index: int, size: int) -> npt.NDArray[np.uint8]:
    """The master page as 8-bit grey, long side at most ``size`` px (streamed)."""
    with open_master(path, page_index, workers=1) as master:
        width, height = reduced_size(master.width, master.height, size)
        reducer = RowAreaReducer(master.width, master.height, width, height, channels=1)
        rows = []
        for _y0, band in master.grey_bands(256):
            rows.append(reducer.add(band))
        grey = np.concatenate(rows)[..., 0]
        if master.bits == 16:
            grey = grey / 257.0
        return np.clip(np.rint(grey), 0, 255).astype(np.uint8)


def derivative_pixels(path: Path, size: int) -> npt.NDArray[np.uint8]:
    """The derivative as 8-bit sRGB, long side at most ``size`` px (streamed)."""
    with open_rgb(path, workers=1) as rgb:
        width, height = reduced_size(rgb.width, rgb.height, size)
        return np.concatenate([to_uint8(b) for b in output_bands(rgb, width, height)])


#: a pixel is chromatic above this CIE C* (as in `archcolor evaluate`)
CHROMATIC = 6.0
#: a colorized page with fewer chromatic pixels than this (at MEASURE_SIZE) shows no visible colour
VISIBLE_COLOUR = 0.01


def chromatic_share(pixels: npt.NDArray[np.uint8]) -> float:
    """The share of 8-bit sRGB pixels ``(..., 3)`` with C* above :data:`CHROMATIC` (the report
    measures the derivative at :data:`MEASURE_SIZE` px: ink and paper are averaged there, as the
    eye does at a glance)."""
    _lightness, a, b = srgb_codes_to_lab(pixels, 8)
    return float((np.hypot(a, b) > CHROMATIC).mean()) if pixels.size else 0.0


class _Pictures:
    """The report's pictures folder: writes each picture once, removes the rest at the end."""

    def __init__(self, page: Path, thumbnail: int, full: int) -> None:
        self.folder = page.parent / f"{page.stem}_files"
        self.thumbnail, self.full = thumbnail, full
        self.written: set[str] = set()
        foreign = self.folder.exists() and not (self.folder / _MARKER).is_file()
        if foreign and (not self.folder.is_dir() or any(self.folder.iterdir())):
            raise OutputError(
                f"{self.folder}: exists and was not made by `archcolor report` (no "
                f"{_MARKER} in it); the report's pictures go there — move it away or give "
                "--out another name"
            )
        self.folder.mkdir(parents=True, exist_ok=True)
        (self.folder / _MARKER).touch()

    def _write(self, name: str, pixels: npt.NDArray[np.uint8]) -> str:
        write_bytes_atomically(self.folder / name, _jpeg(pixels))
        self.written.add(name)
        return f"{self.folder.name}/{name}"

    def figure(self, stem: str, pixels: npt.NDArray[np.uint8], alt: str) -> str:
        """An ``<a>`` to the full-size view around the lazily loaded thumbnail."""
        full = reduce_pixels(pixels, self.full)
        small = reduce_pixels(full, self.thumbnail)
        src = self._write(f"{stem}.jpg", small)
        href = src if small.shape == full.shape else self._write(f"{stem}-full.jpg", full)
        height, width = small.shape[:2]
        return (
            f'<a href="{html.escape(href)}" title="full size ({full.shape[1]} x '
            f'{full.shape[0]} px)"><img src="{html.escape(src)}" width="{width}" '
            f'height="{height}" loading="lazy" alt="{html.escape(alt)}"></a>'
        )

    def sweep(self) -> None:
        """Remove the pictures of earlier reports that this one does not show."""
        for path in self.folder.iterdir():
            if path.suffix == ".jpg" and path.name not in self.written and path.is_file():
                path.unlink()


def _unavailable(error: Exception) -> str:
    return f'<div class="missing">picture unavailable: {html.escape(str(error))}</div>'


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;background:#fafafa}
h1{margin-bottom:.2rem} .meta{color:#666;font-size:.9rem}
table.counts td,table.counts th{padding:.2rem .8rem;text-align:left}
.page{display:grid;grid-template-columns:1fr 1fr;gap:1rem;align-items:start;
 background:#fff;border:1px solid #ddd;border-radius:6px;padding:1rem;margin:1rem 0}
.page figure{margin:0}
.page img{max-width:100%;height:auto;border:1px solid #ccc;display:block}
.hinted{position:relative;display:inline-block;max-width:100%}
.hinted svg{position:absolute;inset:0;width:100%;height:100%;pointer-events:none}
.page h3,.page>dl,.page>.missing{grid-column:1/-1;margin:0;font-size:1rem}
.page>dl{columns:2 24rem;font-size:.85rem} .page>dl dd{break-before:avoid}
.missing{color:#a33;font-style:italic}
dt{font-weight:600;break-after:avoid} dd{margin:0 0 .4rem 0;word-break:break-all}
table.list{border-collapse:collapse;width:100%} table.list td,table.list th{
 border:1px solid #ddd;padding:.3rem;font-size:.85rem;text-align:left;vertical-align:top}
code{font-size:.85em}
"""


def _provenance(page: _Page, share: float | None = None) -> str:
    derivative, job = page.derivative, page.job
    if derivative is None or job is None:
        return '<div class="missing">not colorized yet</div>'
    activity = dict(derivative.provenance.get("activity", {})) if derivative.provenance else {}
    parameters = dict(activity.get("parameters") or job.params or {})
    facts = {
        "model": job.model_name,
        "rendering": _rendering(parameters),
        "colour": "unknown (no picture)"
        if share is None
        else f"{share:.0%} of the page chromatic (C* > {CHROMATIC:g})"
        + (" — no visible colour" if share < VISIBLE_COLOUR else ""),
        "weights sha256": job.weights_sha256,
        "parameters": ", ".join(f"{k}={v}" for k, v in sorted(job.params.items())),
        "derivative": f"{derivative.path} ({derivative.width} x {derivative.height}, "
        f"{derivative.bytes:,} bytes, generation {derivative.generation})",
        "derivative sha256": derivative.sha256,
        "made": f"{activity.get('startedAtTime', '?')} → {activity.get('endedAtTime', '?')}",
        "worker / device": f"{activity.get('worker', '?')} / {activity.get('device', '?')}",
    }
    used = activity.get("hints")
    if isinstance(used, dict):
        facts["colour hints used"] = f"{used.get('count', '?')} (set sha256 {used.get('sha256')})"
    items = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in facts.items()
    )
    return f"<dl>{items}</dl>"


def _render(parameters: dict[str, Any]) -> str:
    """The rendering's name (``luminance`` for derivatives made before ``--render``)."""
    return str(parameters.get("render") or "luminance")


def _parameters(page: _Page) -> dict[str, Any]:
    derivative, job = page.derivative, page.job
    if derivative is None or job is None:
        return {}
    activity = dict(derivative.provenance.get("activity", {})) if derivative.provenance else {}
    return dict(activity.get("parameters") or job.params or {})


def _rendering(parameters: dict[str, Any]) -> str:
    """How a derivative's colour met the master's tones, from its recorded parameters."""
    render = _render(parameters)
    meaning = {
        "luminance": "the master's L* kept, colour swapped in",
        "wash": "master x transparent watercolour wash",
    }.get(render, "")
    mask = "" if parameters.get("paper_mask", True) else "; page not masked"
    return f"{render} ({meaning}{mask})" if meaning else render + mask


def write_report(
    engine: Engine,
    store: Path,
    out: Path,
    *,
    volume: str | None = None,
    thumbnail: int = DEFAULT_THUMBNAIL,
    full_size: int = WEB_LONG_SIDE,
) -> dict[str, Any]:
    """Write the HTML report to ``out`` (atomically) and its pictures to ``<out stem>_files/``
    beside it; return its counts."""
    out = Path(out)
    if out.is_dir():
        raise OutputError(
            f"{out} is a folder: --out names the report's HTML file, e.g. {out / 'index.html'}"
        )
    with Session(engine) as session:
        rows, current, dead, jobs = _catalogued(session, volume)
        hint_sets = _current_hint_sets(session, [scan.id for scan, _name in rows])
        pages = []
        for scan, name in rows:
            if scan.state == ScanState.INGESTED:
                derivative, job = current.get(scan.id) or (None, None)
                pages.append(_Page(scan, name, derivative, job, hint_sets.get(scan.id)))
        volume_id = require_volume(session, volume).id if volume is not None else None
        references = _references_html(session, volume_id)
        rejected = [(scan, name) for scan, name in rows if scan.state == ScanState.REJECTED]
        pictures = _Pictures(out, thumbnail, max(full_size, thumbnail))
        made = [_page_html(page, store, pictures) for page in pages]
        counts = {
            "volumes": len({name for _scan, name in rows}),
            "pages": len(pages),
            "colorized": sum(1 for p in pages if p.derivative is not None),
            "colourless": sum(
                1 for _html, share in made if share is not None and share < VISIBLE_COLOUR
            ),
            "rejected": len(rejected),
            **{f"jobs_{state}": jobs.get(str(state), 0) for state in JobState},
        }
        sections = _sections(counts, [document for document, _share in made], rejected, dead)
    title = f"archcolor report — {volume}" if volume else "archcolor report"
    if references:  # after the pages, before rejected files and dead jobs
        sections.insert(3, references)
    newline = "\n"
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">archcolor {html.escape(__version__)}. Colours are machine-generated by the
model named on each page and combined with the master's own tones by the rendering named there:
<em>luminance</em> keeps the master's lightness, <em>wash</em> lays the colour over the print as a
transparent watercolour wash (ink stays ink). Click a picture to see it at full size (at most
{full_size} px).</p>
{newline.join(sections)}
</body></html>
"""
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(out, document.encode("utf-8"))
    pictures.sweep()
    return {"out": str(out), "pictures": str(pictures.folder), **counts}


def _catalogued(session: Session, volume: str | None) -> tuple[
    list[Any], dict[int, tuple[Derivative, Job]], list[Any], dict[str, int]
]:  # fmt: skip
    """What the report shows of the catalog (of ``volume``, or all): the scans that are not
    superseded with their volume's name, the current derivative and job of each, the dead
    jobs with their scan and volume name, and the number of jobs in each state."""
    volume_id = require_volume(session, volume).id if volume is not None else None
    scans_query = (
        select(Scan, Volume.name)
        .join(Volume, Scan.volume_id == Volume.id)
        .where(Scan.state != ScanState.SUPERSEDED)
        .order_by(Volume.name, Scan.path, Scan.page_index)
    )
    if volume_id is not None:
        scans_query = scans_query.where(Scan.volume_id == volume_id)
    rows = list(session.execute(scans_query).all())
    ids = [scan.id for scan, _name in rows]
    current: dict[int, tuple[Derivative, Job]] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        for derivative, job in session.execute(
            select(Derivative, Job)
            .join(Job, Derivative.job_id == Job.id)
            .where(Derivative.current.is_(True), Derivative.scan_id.in_(chunk))
            .order_by(Derivative.id)
        ):
            current[derivative.scan_id] = (derivative, job)
    dead_query = (
        select(Job, Scan, Volume.name)
        .join(Scan, Job.scan_id == Scan.id)
        .join(Volume, Scan.volume_id == Volume.id)
        .where(Job.state == JobState.DEAD)
        .order_by(Volume.name, Scan.path, Scan.page_index)
    )
    job_query = select(Job.state, func.count()).join(Scan, Job.scan_id == Scan.id)
    if volume_id is not None:
        dead_query = dead_query.where(Scan.volume_id == volume_id)
        job_query = job_query.where(Scan.volume_id == volume_id)
    dead = list(session.execute(dead_query).all())
    jobs = {str(state): int(n) for state, n in session.execute(job_query.group_by(Job.state))}
    return rows, current, dead, jobs


def _current_hint_sets(session: Session, ids: list[int]) -> dict[int, HintSet]:
    """The current hint set of each of the scans ``ids`` that has one."""
    found: dict[int, HintSet] = {}
    for start in range(0, len(ids), 500):
        chunk = ids[start : start + 500]
        found.update(
            (row.scan_id, row)
            for row in session.scalars(
                select(HintSet).where(HintSet.is_current.is_(True), HintSet.scan_id.in_(chunk))
            )
        )
    return found


def _sections(
    counts: dict[str, Any], pages: list[str], rejected: list[Any], dead: list[Any]
) -> list[str]:
    """The report's sections: counts, pages, rejected files and dead jobs (when any)."""
    count_rows = "".join(
        f"<tr><th>{html.escape(_COUNT_LABELS.get(k, k.replace('_', ' ')))}</th><td>{v}</td></tr>"
        for k, v in counts.items()
    )
    sections = [
        f'<h2>Counts</h2><table class="counts" id="counts">{count_rows}</table>',
        "<h2>Pages</h2>",
        f'<section id="pages">{"".join(pages) or "<p>No ingested pages.</p>"}</section>',
    ]
    rejected_rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(scan.path)}</td>"
        f"<td>{html.escape(scan.reason or '')}</td></tr>"
        for scan, name in rejected
    )
    if rejected_rows:
        sections.append(
            '<h2>Rejected files</h2><table class="list" id="rejected"><tr><th>volume</th>'
            f"<th>file</th><th>reason</th></tr>{rejected_rows}</table>"
        )
    dead_rows = "".join(
        f"<tr><td>{job.id}</td><td>{html.escape(name)}</td>"
        f"<td>{html.escape(scan.path)} p{scan.page_index + 1}</td>"
        f"<td>{job.attempts}</td><td>{html.escape(job.last_error or '')}</td></tr>"
        for job, scan, name in dead
    )
    if dead_rows:
        sections.append(
            '<h2>Dead jobs</h2><table class="list" id="dead"><tr><th>job</th><th>volume</th>'
            f"<th>page</th><th>attempts</th><th>error</th></tr>{dead_rows}</table>"
        )
    return sections


#: how each count is named on the page (one name per count)
_COUNT_LABELS = {
    "colourless": "colorized without visible colour",
    "jobs_pending": "jobs pending",
    "jobs_running": "jobs running",
    "jobs_done": "jobs done",
    "jobs_failed": "jobs failed (will retry)",
    "jobs_dead": "jobs dead",
}


def _references_html(session: Session, volume_id: int | None) -> str:
    """The "Colour references" section: each (selected) volume's default reference, or ""."""
    query = (
        select(Volume.name, ColourReference.file_name, ColourReference.sha256)
        .join(ColourReference, Volume.reference_id == ColourReference.id)
        .order_by(Volume.name)
    )
    if volume_id is not None:
        query = query.where(Volume.id == volume_id)
    rows = "".join(
        f"<tr><td>{html.escape(name)}</td><td>{html.escape(file_name)}</td>"
        f'<td><code title="{html.escape(sha256)}">{html.escape(sha256[:16])}…</code></td></tr>'
        for name, file_name, sha256 in session.execute(query)
    )
    if not rows:
        return ""
    return (
        '<h2>Colour references</h2><table class="list" id="references"><tr><th>volume</th>'
        f"<th>reference</th><th>sha256</th></tr>{rows}</table>"
    )


def _hex(hint: dict[str, Any]) -> str:
    """A canonical hint's colour as sRGB ``#rrggbb``."""
    if "color" in hint:
        return str(hint["color"])
    lightness, a, b = (float(v) for v in hint["lab"])
    rgb = lab_to_srgb([lightness], [a], [b])[0]
    return "#" + "".join(f"{round(float(v) * 255):02x}" for v in rgb)


def _hints_svg(scan: Scan, hint_set: HintSet) -> str:
    """The hint set drawn as an SVG layer in the master's displayed pixel coordinates: dots and
    strokes in their colour, ringed in white, at least 1/100 of the long side across."""
    width, height = displayed_size(scan)
    smallest = max(width, height) / 200
    ring = max(width, height) / 400
    shapes = []
    for hint in hint_set.hints:
        colour = html.escape(_hex(hint))
        radius = max(float(hint.get("radius", 0)), smallest)
        points = [hint["point"]] if "point" in hint else hint["stroke"]
        if len(points) == 1:
            x, y = (float(v) + 0.5 for v in points[0])
            shapes.append(
                f'<circle cx="{x:g}" cy="{y:g}" r="{radius:g}" fill="{colour}" stroke="#fff" '
                f'stroke-width="{ring:g}"/>'
            )
            continue
        line = " ".join(f"{float(x) + 0.5:g},{float(y) + 0.5:g}" for x, y in points)
        for stroke, width_of in (("#fff", 2 * radius + 2 * ring), (colour, 2 * radius)):
            shapes.append(
                f'<polyline points="{line}" fill="none" stroke="{stroke}" '
                f'stroke-width="{width_of:g}" stroke-linecap="round" stroke-linejoin="round"/>'
            )
    title = f"{hint_set.hint_count} colour hint(s), set sha256 {hint_set.sha256}"
    return (
        f'<svg class="hints" viewBox="0 0 {width} {height}" preserveAspectRatio="none" '
        f'role="img" aria-label="{html.escape(title)}"><title>{html.escape(title)}</title>'
        f"{''.join(shapes)}</svg>"
    )


def _page_html(page: _Page, store: Path, pictures: _Pictures) -> tuple[str, float | None]:
    """The page's HTML and the chromatic share of its derivative (None: none or unreadable)."""
    scan = page.scan
    name = Path(scan.path).name
    about = f"{page.volume}, page {scan.page_index + 1}, {name}"
    stem = f"scan-{scan.id}"
    try:
        grey = master_pixels(Path(scan.root) / scan.path, scan.page_index, pictures.full)
        master = pictures.figure(f"{stem}-master", grey, f"{about}: master (greyscale)")
        if page.hints is not None:
            master = f'<div class="hinted">{master}{_hints_svg(scan, page.hints)}</div>'
    except (ArchcolorError, OSError, ValueError) as error:
        master = _unavailable(error)
    share = None
    if page.derivative is not None and page.job is not None:
        try:
            pixels = derivative_pixels(inside_store(store, page.derivative.path), pictures.full)
            share = chromatic_share(reduce_pixels(pixels, MEASURE_SIZE))
            render = _render(_parameters(page))
            colour = pictures.figure(
                f"{stem}-colorized",
                pixels,
                f"{about}: colorized by {page.job.model_name} ({render})",
            )
        except (ArchcolorError, OSError, ValueError) as error:
            colour = _unavailable(error)
    else:
        colour = '<div class="missing">no derivative yet</div>'
    heading = (
        f"{html.escape(page.volume)} / {html.escape(scan.path)} — page {scan.page_index + 1} "
        f"({scan.width} x {scan.height}, sha256 <code>{html.escape(str(scan.sha256))[:16]}…</code>)"
    )
    caption = "master"
    if page.hints is not None:
        caption += (
            f" with {page.hints.hint_count} colour hint(s) (set sha256 "
            f"<code>{html.escape(page.hints.sha256[:16])}…</code>, chosen by "
            f"{html.escape(page.hints.author)})"
        )
    document = (
        f'<article class="page" data-scan="{scan.id}"><h3>{heading}</h3>'
        f'<figure class="master">{master}<figcaption>{caption}</figcaption></figure>'
        f'<figure class="colour">{colour}<figcaption>colorized</figcaption></figure>'
        f"{_provenance(page, share)}</article>"
    )
    return document, share
