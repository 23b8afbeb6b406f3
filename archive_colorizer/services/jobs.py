"""Reading and steering the queue: list jobs, retry dead ones, count a run's progress, the
claim filter of a run and the sweep of stale temporaries in the store."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from archive_colorizer.catalog import queue
from archive_colorizer.catalog.queue import ClaimFilter
from archive_colorizer.catalog.schema import JobState
from archive_colorizer.config import JOB_STATES
from archive_colorizer.errors import (
    JobError,
    NotFoundError,
)
from archive_colorizer.services import store as store_layout
from archive_colorizer.services.models import ModelIdentity

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
    running = {
        job_id: queue.worker_token(worker_id)
        for job_id, worker_id in queue.running_workers(engine).items()
    }
    return store_layout.sweep_temporaries(store, lambda job_id, token: running.get(job_id) == token)


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
    return queue.list_jobs(engine, state=state, volume=volume, limit=limit)


def retry_jobs(engine: Engine, *, job_id: int | None = None, dead: bool = False) -> list[int]:
    """Queue a dead or failed job (or, with ``dead``, every dead job) again."""
    if job_id is None and not dead:
        raise ValueError("give a job id or dead=True")
    if job_id is not None:
        state = queue.job_state(engine, job_id)
        if state is None:
            raise NotFoundError(f"no job with id {job_id}; list them with `archcolor jobs`")
        if state not in (JobState.DEAD, JobState.FAILED):
            raise JobError(
                f"job {job_id} is {state}; only dead or failed jobs can be retried "
                "(use `archcolor process --pending --force` to redo done pages)"
            )
        return queue.retry(engine, job_ids=[job_id])
    dead_ids = queue.dead_job_ids(engine)
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
    done, pixels = queue.done_since(engine, only, since)
    return Progress(counts=queue.count_by_state(engine, only), pixels_done=pixels, done_since=done)
