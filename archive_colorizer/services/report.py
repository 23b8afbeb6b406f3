"""`archcolor report`: one self-contained HTML page for a curator to look at the results.

The page has no external resources (inline CSS, thumbnails as ``data:image/jpeg;base64`` URIs),
so it can be mailed or archived as one file. It shows counts (volumes, pages, colorized pages,
colorized pages without visible colour, rejected files, jobs by state), then per page the master
and its current derivative side by side with the model, the rendering (``luminance`` or
``wash``), the share of chromatic pixels, weights sha256, parameters and when/where it was made;
then rejected files with their reasons and dead jobs with their errors. Thumbnails are made by
streaming the files (bounded memory) and area-reducing them to ``thumbnail`` px on the long side;
a file that cannot be read gets a note instead of a picture.
"""

from __future__ import annotations

import base64
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
from archive_colorizer.catalog.schema import Derivative, Job, JobState, Scan, ScanState, Volume
from archive_colorizer.errors import ArchcolorError
from archive_colorizer.imaging.access_copy import output_bands, to_uint8
from archive_colorizer.imaging.atomic import write_bytes_atomically
from archive_colorizer.imaging.color import srgb_codes_to_lab
from archive_colorizer.imaging.rgb_read import open_rgb
from archive_colorizer.imaging.row_reducer import RowAreaReducer, reduced_size
from archive_colorizer.imaging.tiff_read import open_master
from archive_colorizer.services.store import inside_store

__all__ = ["chromatic_share", "derivative_thumbnail", "master_thumbnail", "write_report"]


@dataclass
class _Page:
    scan: Scan
    volume: str
    derivative: Derivative | None
    job: Job | None


def _jpeg_data_uri(pixels: npt.NDArray[np.uint8]) -> str:
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def master_thumbnail(path: Path, page_index: int, size: int) -> str:
    """A JPEG data URI of the master page, long side at most ``size`` px (streamed)."""
    with open_master(path, page_index, workers=1) as master:
        width, height = reduced_size(master.width, master.height, size)
        reducer = RowAreaReducer(master.width, master.height, width, height, channels=1)
        rows = []
        for _y0, band in master.grey_bands(256):
            rows.append(reducer.add(band))
        grey = np.concatenate(rows)[..., 0]
        if master.bits == 16:
            grey = grey / 257.0
        pixels = np.clip(np.rint(grey), 0, 255).astype(np.uint8)
    return _jpeg_data_uri(pixels)


def _derivative_pixels(path: Path, size: int) -> npt.NDArray[np.uint8]:
    with open_rgb(path, workers=1) as rgb:
        width, height = reduced_size(rgb.width, rgb.height, size)
        return np.concatenate([to_uint8(b) for b in output_bands(rgb, width, height)])


def derivative_thumbnail(path: Path, size: int) -> str:
    """A JPEG data URI of the derivative, long side at most ``size`` px (streamed)."""
    return _jpeg_data_uri(_derivative_pixels(path, size))


#: a pixel is chromatic above this CIE C* (as in `archcolor evaluate`)
CHROMATIC = 6.0
#: a colorized page with fewer chromatic thumbnail pixels than this shows no visible colour
VISIBLE_COLOUR = 0.01


def chromatic_share(pixels: npt.NDArray[np.uint8]) -> float:
    """The share of 8-bit sRGB pixels ``(..., 3)`` with C* above :data:`CHROMATIC` (the report
    measures its thumbnails: ink and paper are averaged there, as the eye does at that size)."""
    _lightness, a, b = srgb_codes_to_lab(pixels, 8)
    return float((np.hypot(a, b) > CHROMATIC).mean()) if pixels.size else 0.0


def _image(make: Any, *args: Any) -> str:
    try:
        uri = make(*args)
    except (ArchcolorError, OSError, ValueError) as error:
        return f'<div class="missing">thumbnail unavailable: {html.escape(str(error))}</div>'
    return f'<img src="{uri}" alt="">'


_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222;background:#fafafa}
h1{margin-bottom:.2rem} .meta{color:#666;font-size:.9rem}
table.counts td,table.counts th{padding:.2rem .8rem;text-align:left}
.page{display:grid;grid-template-columns:1fr 1fr 1.2fr;gap:1rem;align-items:start;
 background:#fff;border:1px solid #ddd;border-radius:6px;padding:1rem;margin:1rem 0}
.page img{max-width:100%;height:auto;border:1px solid #ccc}
.page h3{grid-column:1/-1;margin:0;font-size:1rem}
.missing{color:#a33;font-style:italic}
dl{margin:0;font-size:.85rem} dt{font-weight:600} dd{margin:0 0 .4rem 0;word-break:break-all}
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
        "colour": "unknown (no thumbnail)"
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
    items = "".join(
        f"<dt>{html.escape(k)}</dt><dd>{html.escape(str(v))}</dd>" for k, v in facts.items()
    )
    return f"<dl>{items}</dl>"


def _rendering(parameters: dict[str, Any]) -> str:
    """How a derivative's colour met the master's tones, from its recorded parameters."""
    render = str(parameters.get("render") or "luminance")  # derivatives made before --render
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
    thumbnail: int = 320,
) -> dict[str, Any]:
    """Write the HTML report to ``out`` (atomically) and return its counts."""
    with Session(engine) as session:
        volume_id = require_volume(session, volume).id if volume is not None else None
        scans_query = (
            select(Scan, Volume.name)
            .join(Volume, Scan.volume_id == Volume.id)
            .where(Scan.state != ScanState.SUPERSEDED)
            .order_by(Volume.name, Scan.path, Scan.page_index)
        )
        if volume_id is not None:
            scans_query = scans_query.where(Scan.volume_id == volume_id)
        rows = session.execute(scans_query).all()
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
        pages = [
            _Page(scan, name, *(current.get(scan.id) or (None, None)))
            for scan, name in rows
            if scan.state == ScanState.INGESTED
        ]
        rejected = [(scan, name) for scan, name in rows if scan.state == ScanState.REJECTED]
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
        dead = session.execute(dead_query).all()
        jobs = {str(state): int(n) for state, n in session.execute(job_query.group_by(Job.state))}
        made = [_page_html(page, store, thumbnail) for page in pages]
        counts = {
            "volumes": len({name for _scan, name in rows}),
            "pages": len(pages),
            "colorized": sum(1 for p in pages if p.derivative is not None),
            "colourless": sum(
                1 for _html, share in made if share is not None and share < VISIBLE_COLOUR
            ),
            "rejected": len(rejected),
            "dead_jobs": len(dead),
            **{f"jobs_{state}": jobs.get(str(state), 0) for state in JobState},
        }
        body = [document for document, _share in made]
        rejected_rows = "".join(
            f"<tr><td>{html.escape(name)}</td><td>{html.escape(scan.path)}</td>"
            f"<td>{html.escape(scan.reason or '')}</td></tr>"
            for scan, name in rejected
        )
        dead_rows = "".join(
            f"<tr><td>{job.id}</td><td>{html.escape(name)}</td>"
            f"<td>{html.escape(scan.path)} p{scan.page_index + 1}</td>"
            f"<td>{job.attempts}</td><td>{html.escape(job.last_error or '')}</td></tr>"
            for job, scan, name in dead
        )
    title = f"archcolor report — {volume}" if volume else "archcolor report"
    count_rows = "".join(
        f"<tr><th>{html.escape(k.replace('_', ' '))}</th><td>{v}</td></tr>"
        for k, v in counts.items()
    )
    document = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{html.escape(title)}</title><style>{_CSS}</style></head>
<body>
<h1>{html.escape(title)}</h1>
<p class="meta">archcolor {html.escape(__version__)}. Colours are machine-generated by the
model named on each page and combined with the master's own tones by the rendering named there:
<em>luminance</em> keeps the master's lightness, <em>wash</em> lays the colour over the print as a
transparent watercolour wash (ink stays ink).</p>
<h2>Counts</h2><table class="counts" id="counts">{count_rows}</table>
<h2>Pages</h2>
<section id="pages">{"".join(body) or "<p>No ingested pages.</p>"}</section>
<h2>Rejected files</h2>
<table class="list" id="rejected"><tr><th>volume</th><th>file</th><th>reason</th></tr>
{rejected_rows}</table>
<h2>Dead jobs</h2>
<table class="list" id="dead"><tr><th>job</th><th>volume</th><th>page</th><th>attempts</th>
<th>error</th></tr>{dead_rows}</table>
</body></html>
"""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomically(out, document.encode("utf-8"))
    return {"out": str(out), **counts}


def _page_html(page: _Page, store: Path, size: int) -> tuple[str, float | None]:
    """The page's HTML and the chromatic share of its derivative (None: none or unreadable)."""
    scan = page.scan
    master = _image(master_thumbnail, Path(scan.root) / scan.path, scan.page_index, size)
    share = None
    if page.derivative is not None:
        try:
            pixels = _derivative_pixels(inside_store(store, page.derivative.path), size)
        except (ArchcolorError, OSError, ValueError) as error:
            colour = f'<div class="missing">thumbnail unavailable: {html.escape(str(error))}</div>'
        else:
            share = chromatic_share(pixels)
            colour = f'<img src="{_jpeg_data_uri(pixels)}" alt="">'
    else:
        colour = '<div class="missing">no derivative yet</div>'
    heading = (
        f"{html.escape(page.volume)} / {html.escape(scan.path)} — page {scan.page_index + 1} "
        f"({scan.width} x {scan.height}, sha256 <code>{html.escape(str(scan.sha256))[:16]}…</code>)"
    )
    document = (
        f'<article class="page" data-scan="{scan.id}"><h3>{heading}</h3>'
        f'<figure class="master">{master}<figcaption>master</figcaption></figure>'
        f'<figure class="colour">{colour}<figcaption>colorized</figcaption></figure>'
        f"{_provenance(page, share)}</article>"
    )
    return document, share
