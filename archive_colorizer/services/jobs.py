"""Reading and steering the queue: list jobs, retry dead ones, count a run's progress, the
claim filter of a run and the sweep of stale temporaries in the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from archive_colorizer.catalog import queue
from archive_colorizer.catalog.queue import ClaimFilter
from archive_colorizer.catalog.schema import (
    Job,
    JobState,
    Scan,
    Volume,
)
from archive_colorizer.config import JOB_STATES
from archive_colorizer.errors import (
    JobError,
    NotFoundError,
)
from archive_colorizer.services import store as store_layout
from archive_colorizer.services.models import ModelIdentity

if TYPE_CHECKING:
    pass

__all__ = [
    "Progress",
]


def claim_filter(engine: Engine, model: ModelIdentity, volume: str | None) -> ClaimFilter:
    """The jobs workers of this run may take: this model's, of ``volume`` if given."""
    volume_id = None
    if volume is not None:
        from archive_colorizer.catalog.repository import require_volume

        with Session(engine) as session:
            volume_id = require_volume(session, volume).id
    return ClaimFilter(
        model_name=model.name, weights_sha256=model.weights_sha256, volume_id=volume_id
    )


def sweep_store(engine: Engine, store: Path) -> list[Path]:
    """Delete temporary files in the store left by workers that no longer hold their job."""
    with Session(engine) as session:
        running = {
            int(job_id): queue.worker_token(str(worker_id))
            for job_id, worker_id in session.execute(
                select(Job.id, Job.worker_id).where(
                    Job.state == JobState.RUNNING, Job.worker_id.is_not(None)
                )
            )
        }
    return store_layout.sweep_temporaries(store, lambda job_id, token: running.get(job_id) == token)


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def list_jobs(
    engine: Engine,
    *,
    state: str | None = None,
    volume: str | None = None,
    limit: int | None = None,
) -> list[dict[str, Any]]:
    """Jobs (newest generation state) with their scan, ordered by id."""
    if state is not None and state not in JOB_STATES:
        raise ValueError(f"state must be one of {', '.join(JOB_STATES)}")
    with Session(engine) as session:
        query = (
            select(Job, Scan.path, Scan.page_index, Volume.name)
            .join(Scan, Job.scan_id == Scan.id)
            .join(Volume, Scan.volume_id == Volume.id)
            .order_by(Job.id)
        )
        if state is not None:
            query = query.where(Job.state == state)
        if volume is not None:
            query = query.where(Volume.name == volume)
        if limit is not None:
            query = query.limit(limit)
        return [
            {
                "id": job.id,
                "scan": job.scan_id,
                "volume": volume_name,
                "path": path,
                "page_index": page_index,
                "model": job.model_name,
                "weights_sha256": job.weights_sha256,
                "params": job.params,
                "idempotency_key": job.idempotency_key,
                "generation": job.generation,
                "state": job.state,
                "attempts": job.attempts,
                "max_attempts": job.max_attempts,
                "worker": job.worker_id,
                "lease_until": _iso(job.lease_until),
                "not_before": _iso(job.not_before),
                "last_error": job.last_error,
                "queued_at": _iso(job.queued_at),
                "started_at": _iso(job.started_at),
                "finished_at": _iso(job.finished_at),
            }
            for job, path, page_index, volume_name in session.execute(query)
        ]


def retry_jobs(engine: Engine, *, job_id: int | None = None, dead: bool = False) -> list[int]:
    """Queue a dead or failed job (or, with ``dead``, every dead job) again."""
    if job_id is None and not dead:
        raise ValueError("give a job id or dead=True")
    if job_id is not None:
        with Session(engine) as session:
            job = session.get(Job, job_id)
            if job is None:
                raise NotFoundError(f"no job with id {job_id}; list them with `archcolor jobs`")
            if job.state not in (JobState.DEAD, JobState.FAILED):
                raise JobError(
                    f"job {job_id} is {job.state}; only dead or failed jobs can be retried "
                    "(use `archcolor process --pending --force` to redo done pages)"
                )
        return queue.retry(engine, job_ids=[job_id])
    with Session(engine) as session:
        dead_ids = list(session.scalars(select(Job.id).where(Job.state == JobState.DEAD)))
    return queue.retry(engine, job_ids=dead_ids) if dead_ids else []


@dataclass(frozen=True)
class Progress:
    """Counts for a run's jobs and the pixels finished since it started."""

    counts: Mapping[str, int]
    pixels_done: int
    done_since: int

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def progress(engine: Engine, only: ClaimFilter, since: datetime) -> Progress:
    """Job counts for ``only`` and the pixels of jobs done since ``since``."""
    counts = queue.count_by_state(engine, only)
    with Session(engine) as session:
        done_since, pixels = session.execute(
            select(func.count(), func.coalesce(func.sum(Scan.width * Scan.height), 0))
            .select_from(Job)
            .join(Scan, Job.scan_id == Scan.id)
            .where(
                Job.state == JobState.DONE,
                Job.finished_at >= since,
                *only.conditions(),
            )
        ).one()
    return Progress(counts=counts, pixels_done=int(pixels or 0), done_since=int(done_since or 0))
