"""Queueing colorization jobs: one job per catalogued page and everything its derivative
depends on.

For each current ingested scan (optionally of one volume), a
   job keyed by its *idempotency key* — sha256 over the scan, the master's sha256 and page, the
   model's weights sha256, the parameters' hash and the pipeline version. A key already queued
   or done is skipped (re-running is always safe). Every catalogued page has its own job and
   derivative, also when its bytes repeat another page's: replacing or deleting one copy never
   takes the derivative of another. (Catalogs written before the scan was part of the key keep
   their done jobs: a job under the old key still counts for the scan that owns it.)
   A page's parameters name its colour reference (``reference_sha256``): the run's
   (``params.reference_sha256``, `process --reference`) or else its volume's default
   (`archcolor reference set`), so setting, changing or clearing a volume's reference changes
   exactly its pages' keys.
   A page's parameters also name its current colour hint set (``hints_sha256``,
   :mod:`~archive_colorizer.services.hints`) and how hints are spread over the prediction
   (``hint_propagation``), for every model (any model takes hints: they correct its
   prediction after the network), so importing changed hints re-queues exactly those pages
   and clearing them brings the old keys back.
   ``force`` re-runs done jobs (a new generation: new derivative file and row, the old ones
   kept as history); ``repair`` re-runs only done jobs whose current derivative file is
   missing or no longer matches its sha256.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from archive_colorizer.catalog import queue
from archive_colorizer.catalog.repository import ingested_scans
from archive_colorizer.catalog.schema import Derivative, Job, JobState, Scan, utcnow
from archive_colorizer.config import DEFAULT_MAX_ATTEMPTS
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.services import store as store_layout
from archive_colorizer.services.colorize import PIPELINE_VERSION, ColorizeParams
from archive_colorizer.services.hints import current_hint_sha256s
from archive_colorizer.services.models import ModelIdentity
from archive_colorizer.services.references import volume_references

__all__ = [
    "EnqueueSummary",
]


#: jobs inserted per statement
_BATCH = 500


def params_hash(params: Mapping[str, Any]) -> str:
    """sha256 of the parameters' canonical JSON."""
    canonical = json.dumps(dict(params), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def idempotency_key(
    scan_id: int,
    master_sha256: str,
    page_index: int,
    weights_sha256: str,
    parameters_hash: str,
    pipeline: int,
) -> str:
    """The catalogued page and everything its derivative depends on, hashed: same key ⇔ same
    derivative of the same page (byte-identical pages at two paths have two keys)."""
    text = (
        f"scan {scan_id}\n{master_sha256}\n{page_index}\n{weights_sha256}\n"
        f"{parameters_hash}\n{pipeline}"
    )
    return hashlib.sha256(text.encode()).hexdigest()


def legacy_idempotency_key(
    master_sha256: str, page_index: int, weights_sha256: str, parameters_hash: str, pipeline: int
) -> str:
    """The key earlier archcolor releases wrote, without the scan: byte-identical pages shared one
    job, owned by the first scan. Still looked up so an upgraded catalog keeps its done jobs."""
    text = f"{master_sha256}\n{page_index}\n{weights_sha256}\n{parameters_hash}\n{pipeline}"
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class EnqueueSummary:
    """What enqueueing found and did."""

    #: the volume selected (None: all)
    volume: str | None = None
    scans: int = 0  # current ingested scans selected
    queued: int = 0  # new jobs
    requeued: int = 0  # done jobs re-run (--force / --repair)
    repaired: int = 0  # of which: derivative missing or changed
    already_done: int = 0
    in_queue: int = 0  # pending, running or failed already
    dead: int = 0  # dead jobs left alone (see `archcolor retry`)
    problems: list[str] = field(default_factory=list)


def _derivative_intact(store: Path, derivative: Derivative) -> str | None:
    """None when the file is there with its recorded sha256, else what is wrong."""
    try:
        path = store_layout.inside_store(store, derivative.path)
    except Exception as error:
        return str(error)
    if not path.is_file():
        return f"derivative {derivative.path} is missing from the store {store}"
    digest, _size = sha256_file(path)
    if digest != derivative.sha256:
        return (
            f"derivative {derivative.path} changed: sha256 {digest}, recorded {derivative.sha256}"
        )
    return None


def enqueue(
    engine: Engine,
    *,
    model: ModelIdentity,
    params: ColorizeParams,
    volume: str | None = None,
    force: bool = False,
    repair: bool = False,
    store: Path | None = None,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    limit: int | None = None,
) -> EnqueueSummary:
    """Queue a job for every selected scan without a done job for this model and parameters."""
    if repair and store is None:
        raise ValueError("repair needs the store to check derivatives in")
    summary = EnqueueSummary(volume=volume)
    now = utcnow()
    with Session(queue.writer(engine)) as session, session.begin():
        scans = ingested_scans(session, volume)
        summary.scans = len(scans)
        page_params = _PageParams(session, params)
        keyed: dict[str, Scan] = {}
        legacy: dict[str, str] = {}  # key → the key an older archcolor gave the same page
        for scan in scans:
            _parameters, digest = page_params(scan)
            facts = (str(scan.sha256), scan.page_index, model.weights_sha256, digest)
            key = idempotency_key(scan.id, *facts, PIPELINE_VERSION)
            keyed[key] = scan
            legacy[key] = legacy_idempotency_key(*facts, PIPELINE_VERSION)
        existing = queue.jobs_by_key(session, list(keyed) + sorted(set(legacy.values())))
        new_rows: list[dict[str, Any]] = []
        for key, scan in keyed.items():
            found = existing.get(key)
            if found is None:  # a job under the old key counts for the scan it was made for
                old = existing.get(legacy[key])
                found = old if old is not None and old.scan_id == scan.id else None
            if found is not None:
                _seen_before(session, summary, found, force, store if repair else None, now)
            elif limit is None or summary.queued + len(new_rows) < limit:
                parameters, digest = page_params(scan)
                new_rows.append(
                    queue.pending_row(
                        scan_id=scan.id,
                        model_name=model.name,
                        weights_sha256=model.weights_sha256,
                        params=parameters,
                        params_hash=digest,
                        pipeline_version=PIPELINE_VERSION,
                        idempotency_key=key,
                        max_attempts=max_attempts,
                        now=now,
                    )
                )
        for start in range(0, len(new_rows), _BATCH):
            summary.queued += queue.insert_jobs(session, new_rows[start : start + _BATCH])
    return summary


def _seen_before(
    session: Session,
    summary: EnqueueSummary,
    job: Job,
    force: bool,
    repair_in: Path | None,
    now: datetime,
) -> None:
    """Count a page that already has a job; queue a done one again when ``force`` says so, or
    when its derivative is missing or changed in the store ``repair_in``."""
    if job.state == JobState.DEAD:
        summary.dead += 1
        return
    if job.state != JobState.DONE:
        summary.in_queue += 1
        return
    problem = None
    if repair_in is not None:
        current = [d for d in job.derivatives if d.current]
        problem = (
            _derivative_intact(repair_in, current[-1])
            if current
            else "no current derivative registered"
        )
    if not force and problem is None:
        summary.already_done += 1
        return
    queue.queue_again(session, job, now, repair=problem)
    summary.requeued += 1
    if problem is not None:
        summary.repaired += 1
        summary.problems.append(problem)


class _PageParams:
    """A scan's job parameters and their hash: ``params`` with the run's colour reference, else
    its volume's default one (none: ``params`` unchanged), and the scan's current hint set."""

    def __init__(self, session: Session, params: ColorizeParams) -> None:
        self.params = params
        run_reference = params.reference_sha256 is not None
        self.by_volume = {} if run_reference else volume_references(session)
        self.hints = current_hint_sha256s(session)
        self._cache: dict[tuple[str | None, str | None], tuple[dict[str, Any], str]] = {}

    def __call__(self, scan: Scan) -> tuple[dict[str, Any], str]:
        sha256 = self.by_volume.get(scan.volume_id, self.params.reference_sha256)
        hints = self.hints.get(scan.id, self.params.hints_sha256)
        if (sha256, hints) not in self._cache:
            page = replace(self.params, reference_sha256=sha256, hints_sha256=hints)
            parameters = page.as_dict()
            self._cache[sha256, hints] = (parameters, params_hash(parameters))
        return self._cache[sha256, hints]
