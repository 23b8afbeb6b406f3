"""The work queue is the ``jobs`` table: atomic claims, leases, heartbeats, retries, dead letters.

Life of a job::

    pending ──claim──▶ running ──mark_done──▶ done
       ▲                 │ │ └──fail(transient)──▶ failed ──(not_before passed)──▶ claimable
       │                 │ └────fail(permanent, or out of attempts)──▶ dead
       └──release (signal) / reap (lease expired; attempt counted, dead when out of attempts)
    retry: dead/failed ──▶ pending (attempts reset)

**Claiming** is one atomic statement: ``UPDATE jobs SET state='running', … WHERE id = (SELECT id
… LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING …``. On PostgreSQL the sub-select locks the chosen
row and skips rows other claimers hold, so any number of workers on any number of machines
never take the same job and never wait on each other; the statement is its own transaction
(autocommit: one round trip per claim). On SQLite (which ignores ``FOR UPDATE``)
the statement runs in a ``BEGIN IMMEDIATE`` transaction: the database-wide write lock is taken
up front, so claims are serialised and a claimer never reads a row another one is changing.

**Leases**: a claim sets ``lease_until = now + lease``; the worker's heartbeat extends it. A
lease that expired (its worker was killed, lost power, lost the network) is *reaped* by any
worker: the job goes back to ``pending`` (the attempt counts) or to ``dead`` when it has used
all its attempts. Every state change made by a worker is guarded by ``worker_id`` and
``state = 'running'``, so a worker whose lease was reaped cannot complete or fail a job
another worker now holds. Times are the workers' clocks (UTC): keep machines NTP-synchronised.

All functions take an Engine (or a Session, to join the caller's transaction) and commit their
own short transactions.
"""

from __future__ import annotations

import functools
import socket
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    Engine,
    String,
    Table,
    and_,
    bindparam,
    case,
    cast,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    update,
)
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Session, selectinload
from sqlalchemy.sql import ColumnElement

from archive_colorizer.catalog.engine import writer
from archive_colorizer.catalog.schema import (
    CLAIMABLE_SQL,
    Event,
    Job,
    JobState,
    Scan,
    UtcDateTime,
    Volume,
    utcnow,
)
from archive_colorizer.provenance import EventType, Outcome, agent

__all__ = [
    "BACKOFF_BASE_S",
    "CLAIMABLE",
    "ClaimFilter",
    "ClaimedJob",
    "QueueOutlook",
    "backoff_seconds",
    "claim",
    "claim_in",
    "count_by_state",
    "dead_job_ids",
    "done_since",
    "fail",
    "heartbeat",
    "insert_jobs",
    "job_state",
    "jobs_by_key",
    "list_jobs",
    "mark_done",
    "new_worker_id",
    "outlook",
    "pending_row",
    "queue_again",
    "reap_expired",
    "release",
    "retry",
    "running_workers",
    "worker_token",
    "writer",
]

JOBS: Table = Job.__table__  # type: ignore[assignment]
EVENTS: Table = Event.__table__  # type: ignore[assignment]
#: states a worker may claim (``failed`` only once its ``not_before`` has passed)
CLAIMABLE = (JobState.PENDING, JobState.FAILED)
#: longest error text stored in ``jobs.last_error``
MAX_ERROR = 2000
#: first retry delay after a transient error, doubled per attempt, capped
BACKOFF_BASE_S = 10.0
BACKOFF_CAP_S = 600.0


def single_statement(engine: Engine) -> Engine:
    """For one-statement changes: autocommit on PostgreSQL (the statement is its own
    transaction, saving the BEGIN and COMMIT round trips), ``BEGIN IMMEDIATE`` on SQLite."""
    if engine.dialect.name == "postgresql":
        return engine.execution_options(isolation_level="AUTOCOMMIT")
    return writer(engine)


def new_worker_id() -> str:
    """A worker id unique across machines and restarts: ``host/pid/random``."""
    import os

    return f"{socket.gethostname()[:120]}/{os.getpid()}/{uuid.uuid4().hex[:12]}"


def worker_token(worker_id: str) -> str:
    """The random last part of a worker id (used in temporary file names)."""
    return worker_id.rsplit("/", 1)[-1]


@dataclass(frozen=True)
class ClaimFilter:
    """Which jobs a worker may take: its model (and weights) and optionally one volume."""

    model_name: str | None = None
    weights_sha256: str | None = None
    volume_id: int | None = None

    def conditions(self) -> list[ColumnElement[bool]]:
        found: list[ColumnElement[bool]] = []
        if self.model_name is not None:
            found.append(JOBS.c.model_name == self.model_name)
        if self.weights_sha256 is not None:
            found.append(JOBS.c.weights_sha256 == self.weights_sha256)
        if self.volume_id is not None:
            found.append(
                JOBS.c.scan_id.in_(select(Scan.id).where(Scan.volume_id == self.volume_id))
            )
        return found


@dataclass(frozen=True)
class ClaimedJob:
    """A job as its worker sees it right after claiming it."""

    id: int
    scan_id: int
    model_name: str
    weights_sha256: str
    params: dict[str, Any]
    params_hash: str
    pipeline_version: int
    idempotency_key: str
    generation: int
    attempts: int
    max_attempts: int
    queued_at: datetime
    worker_id: str
    lease_until: datetime

    @classmethod
    def from_row(cls, row: RowMapping) -> ClaimedJob:
        return cls(**{name: row[name] for name in cls.__dataclass_fields__})


def _claimable(now: datetime) -> ColumnElement[bool]:
    # literal SQL, not bound parameters: lets both databases use the partial ix_jobs_claimable
    return and_(
        text(CLAIMABLE_SQL),
        or_(JOBS.c.not_before.is_(None), JOBS.c.not_before <= now),
    )


@functools.lru_cache(maxsize=64)
def _claim_statement(only: ClaimFilter) -> Any:
    """The claim UPDATE for ``only``, built once (values are bound at execution)."""
    now = bindparam("claim_now", type_=UtcDateTime())
    candidate = (
        select(JOBS.c.id)
        .where(
            text(CLAIMABLE_SQL),
            or_(JOBS.c.not_before.is_(None), JOBS.c.not_before <= now),
            *only.conditions(),
        )
        .order_by(JOBS.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return (
        update(JOBS)
        .where(JOBS.c.id == candidate)
        .values(
            state=str(JobState.RUNNING),
            attempts=JOBS.c.attempts + 1,
            worker_id=bindparam("claim_worker", type_=String()),
            lease_until=bindparam("claim_lease_until", type_=UtcDateTime()),
            heartbeat_at=now,
            started_at=now,
            not_before=None,
            updated_at=now,
        )
        .returning(*JOBS.c)
    )


def _claim_values(worker_id: str, lease_seconds: float, now: datetime) -> dict[str, Any]:
    return {
        "claim_now": now,
        "claim_worker": worker_id,
        "claim_lease_until": now + timedelta(seconds=lease_seconds),
    }


def claim(
    engine: Engine,
    worker_id: str,
    lease_seconds: float,
    *,
    only: ClaimFilter | None = None,
    now: datetime | None = None,
) -> ClaimedJob | None:
    """Atomically take the oldest claimable job for ``worker_id``; None when there is none.

    The attempt is counted now (so a worker killed mid-job still uses one up).
    """
    statement = _claim_statement(only or ClaimFilter())
    values = _claim_values(worker_id, lease_seconds, now or utcnow())
    with single_statement(engine).begin() as conn:
        row = conn.execute(statement, values).mappings().one_or_none()
    return None if row is None else ClaimedJob.from_row(row)


def claim_in(
    session: Session,
    worker_id: str,
    lease_seconds: float,
    *,
    only: ClaimFilter | None = None,
    now: datetime | None = None,
) -> ClaimedJob | None:
    """Like :func:`claim`, inside the caller's (write) transaction: a worker finishing a job
    claims its next one in the same commit, one commit per job instead of two."""
    statement = _claim_statement(only or ClaimFilter())
    values = _claim_values(worker_id, lease_seconds, now or utcnow())
    row = session.execute(statement, values).mappings().one_or_none()
    return None if row is None else ClaimedJob.from_row(row)


def _owned(job_id: int, worker_id: str) -> ColumnElement[bool]:
    return and_(
        JOBS.c.id == job_id,
        JOBS.c.worker_id == worker_id,
        JOBS.c.state == str(JobState.RUNNING),
    )


def heartbeat(
    engine: Engine,
    job_id: int,
    worker_id: str,
    lease_seconds: float,
    *,
    now: datetime | None = None,
) -> bool:
    """Extend the lease of a job this worker holds; False when it no longer holds it."""
    now = now or utcnow()
    statement = (
        update(JOBS)
        .where(_owned(job_id, worker_id))
        .values(lease_until=now + timedelta(seconds=lease_seconds), heartbeat_at=now)
    )
    with single_statement(engine).begin() as conn:
        return conn.execute(statement).rowcount == 1


def mark_done(
    session: Session, job_id: int, worker_id: str, *, now: datetime | None = None
) -> bool:
    """In the caller's transaction: mark the job done if this worker still holds it."""
    now = now or utcnow()
    statement = (
        update(JOBS)
        .where(_owned(job_id, worker_id))
        .values(
            state=str(JobState.DONE),
            lease_until=None,
            finished_at=now,
            updated_at=now,
        )
    )
    return session.execute(statement).rowcount == 1  # type: ignore[attr-defined]


def backoff_seconds(
    attempts: int, base: float = BACKOFF_BASE_S, cap: float = BACKOFF_CAP_S
) -> float:
    """Delay before retrying after the ``attempts``-th failed attempt: base x 2^(n-1), capped."""
    return float(min(cap, base * 2 ** max(0, attempts - 1)))


def _error_text(error: str) -> str:
    text = " ".join(error.split())
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 1] + "…"


def _add_event(conn: Any, scan_id: int, outcome: Outcome, detail: str, now: datetime) -> None:
    conn.execute(
        insert(EVENTS).values(
            scan_id=scan_id,
            type=str(EventType.COLORIZATION),
            outcome=str(outcome),
            detail=_error_text(detail),
            agent=agent(),
            occurred_at=now,
        )
    )


def fail(
    engine: Engine,
    job_id: int,
    worker_id: str,
    error: str,
    *,
    permanent: bool,
    backoff_base: float = BACKOFF_BASE_S,
    now: datetime | None = None,
) -> JobState | None:
    """Record a failed attempt: ``dead`` when permanent or out of attempts, else ``failed``
    (claimable again after the backoff). None when this worker no longer holds the job."""
    now = now or utcnow()
    with writer(engine).begin() as conn:
        row = (
            conn.execute(
                select(JOBS.c.attempts, JOBS.c.max_attempts, JOBS.c.scan_id)
                .where(_owned(job_id, worker_id))
                .with_for_update()
            )
            .mappings()
            .one_or_none()
        )
        if row is None:
            return None
        dead = permanent or row["attempts"] >= row["max_attempts"]
        state = JobState.DEAD if dead else JobState.FAILED
        values: dict[str, Any] = {
            "state": str(state),
            "last_error": _error_text(error),
            "lease_until": None,
            "worker_id": None,
            "updated_at": now,
        }
        if dead:
            values["finished_at"] = now
        else:
            values["not_before"] = now + timedelta(
                seconds=backoff_seconds(row["attempts"], backoff_base)
            )
        conn.execute(update(JOBS).where(JOBS.c.id == job_id).values(**values))
        if dead:
            why = "permanent error" if permanent else f"failed {row['attempts']} attempts"
            _add_event(
                conn, row["scan_id"], Outcome.FAILURE, f"job {job_id} dead ({why}): {error}", now
            )
    return state


def release(engine: Engine, job_id: int, worker_id: str, *, now: datetime | None = None) -> bool:
    """Give a held job back (worker stopping on a signal): pending, the attempt not counted."""
    now = now or utcnow()
    statement = (
        update(JOBS)
        .where(_owned(job_id, worker_id))
        .values(
            state=str(JobState.PENDING),
            attempts=case((JOBS.c.attempts > 0, JOBS.c.attempts - 1), else_=0),
            worker_id=None,
            lease_until=None,
            updated_at=now,
        )
    )
    with single_statement(engine).begin() as conn:
        return conn.execute(statement).rowcount == 1


def reap_expired(engine: Engine, *, now: datetime | None = None) -> dict[int, JobState]:
    """Return jobs whose lease expired to ``pending`` (``dead`` when out of attempts).

    Returns {job id: new state}. Safe to run from every worker at once.
    """
    now = now or utcnow()
    out_of_attempts = JOBS.c.attempts >= JOBS.c.max_attempts
    statement = (
        update(JOBS)
        .where(JOBS.c.state == str(JobState.RUNNING), JOBS.c.lease_until < now)
        .values(
            state=case((out_of_attempts, str(JobState.DEAD)), else_=str(JobState.PENDING)),
            last_error=literal("lease expired: worker ")
            + func.coalesce(JOBS.c.worker_id, "?")
            + literal(" stopped heartbeating (killed or cut off) during attempt ")
            + cast(JOBS.c.attempts, String),
            finished_at=case((out_of_attempts, now), else_=JOBS.c.finished_at),
            worker_id=None,
            lease_until=None,
            updated_at=now,
        )
        .returning(JOBS.c.id, JOBS.c.state, JOBS.c.scan_id, JOBS.c.last_error)
    )
    with writer(engine).begin() as conn:
        rows = conn.execute(statement).mappings().all()
        for row in rows:
            if row["state"] == JobState.DEAD:
                _add_event(
                    conn,
                    row["scan_id"],
                    Outcome.FAILURE,
                    f"job {row['id']} dead (out of attempts): {row['last_error']}",
                    now,
                )
    return {int(row["id"]): JobState(row["state"]) for row in rows}


def retry(
    engine: Engine, *, job_ids: Iterable[int] | None = None, now: datetime | None = None
) -> list[int]:
    """Put dead and failed jobs (all of them, or those in ``job_ids``) back to pending with
    fresh attempts; returns the ids requeued."""
    now = now or utcnow()
    condition: ColumnElement[bool] = JOBS.c.state.in_([str(JobState.DEAD), str(JobState.FAILED)])
    if job_ids is not None:
        condition = and_(condition, JOBS.c.id.in_(list(job_ids)))
    statement = (
        update(JOBS)
        .where(condition)
        .values(
            state=str(JobState.PENDING),
            attempts=0,
            not_before=None,
            finished_at=None,
            updated_at=now,
        )
        .returning(JOBS.c.id)
    )
    with writer(engine).begin() as conn:
        return sorted(int(value) for value in conn.execute(statement).scalars())


def insert_jobs(session: Session, rows: list[dict[str, Any]]) -> int:
    """Insert job rows in the caller's transaction; rows whose idempotency key another process
    queued meanwhile are skipped (``ON CONFLICT DO NOTHING``, PostgreSQL or SQLite). Returns the
    number inserted."""
    dialect = session.get_bind().dialect.name
    dialect_insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = (
        dialect_insert(Job)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(Job.id)
    )
    return len(session.execute(statement, rows).all())


#: jobs looked up per statement
LOOKUP_BATCH = 500


def jobs_by_key(session: Session, keys: list[str]) -> dict[str, Job]:
    """The jobs (with their derivatives) whose idempotency key is in ``keys``, by key."""
    found: dict[str, Job] = {}
    for start in range(0, len(keys), LOOKUP_BATCH):
        chunk = keys[start : start + LOOKUP_BATCH]
        for job in session.scalars(
            select(Job).where(Job.idempotency_key.in_(chunk)).options(selectinload(Job.derivatives))
        ):
            found[job.idempotency_key] = job
    return found


def pending_row(
    *,
    scan_id: int,
    model_name: str,
    weights_sha256: str,
    params: dict[str, Any],
    params_hash: str,
    pipeline_version: int,
    idempotency_key: str,
    max_attempts: int,
    now: datetime,
) -> dict[str, Any]:
    """A new job's row for :func:`insert_jobs`: pending, first generation, no attempt yet."""
    return {
        "scan_id": scan_id,
        "model_name": model_name,
        "weights_sha256": weights_sha256,
        "params": params,
        "params_hash": params_hash,
        "pipeline_version": pipeline_version,
        "idempotency_key": idempotency_key,
        "generation": 1,
        "state": str(JobState.PENDING),
        "attempts": 0,
        "max_attempts": max_attempts,
        "queued_at": now,
        "created_at": now,
        "updated_at": now,
    }


def queue_again(session: Session, job: Job, now: datetime, *, repair: str | None = None) -> None:
    """A done job pending again as a new generation (its derivatives kept as history), in the
    caller's transaction; ``repair`` is what was wrong with its derivative (an event says so)."""
    job.generation += 1
    job.state = JobState.PENDING
    job.attempts = 0
    job.not_before = None
    job.last_error = None
    job.queued_at = now
    job.finished_at = None
    if repair is not None:
        session.add(
            Event(
                scan_id=job.scan_id,
                type=str(EventType.FIXITY_CHECK),
                outcome=str(Outcome.FAILURE),
                detail=f"{repair}; job {job.id} queued again (repair)",
                agent=agent(),
            )
        )


def running_workers(engine: Engine) -> dict[int, str]:
    """job id → worker id of every running job."""
    with engine.connect() as conn:
        rows = conn.execute(
            select(JOBS.c.id, JOBS.c.worker_id).where(
                JOBS.c.state == str(JobState.RUNNING), JOBS.c.worker_id.is_not(None)
            )
        )
        return {int(job_id): str(worker_id) for job_id, worker_id in rows}


def job_state(engine: Engine, job_id: int) -> JobState | None:
    """The state of job ``job_id`` (None: no such job)."""
    with engine.connect() as conn:
        state = conn.execute(select(JOBS.c.state).where(JOBS.c.id == job_id)).scalar()
    return None if state is None else JobState(state)


def dead_job_ids(engine: Engine) -> list[int]:
    """Ids of the dead jobs."""
    with engine.connect() as conn:
        return [
            int(job_id)
            for job_id in conn.execute(
                select(JOBS.c.id).where(JOBS.c.state == str(JobState.DEAD))
            ).scalars()
        ]


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def list_jobs(
    engine: Engine, *, state: str | None = None, volume: str | None = None, limit: int | None = None
) -> list[dict[str, Any]]:
    """Jobs (newest generation state) with their scan, ordered by id, as JSON-ready rows."""
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


def done_since(engine: Engine, only: ClaimFilter, since: datetime) -> tuple[int, int]:
    """``(jobs, pixels of their pages)`` of ``only`` done since ``since``."""
    with Session(engine) as session:
        done, pixels = session.execute(
            select(func.count(), func.coalesce(func.sum(Scan.width * Scan.height), 0))
            .select_from(Job)
            .join(Scan, Job.scan_id == Scan.id)
            .where(Job.state == JobState.DONE, Job.finished_at >= since, *only.conditions())
        ).one()
    return int(done or 0), int(pixels or 0)


def count_by_state(engine: Engine, only: ClaimFilter | None = None) -> dict[str, int]:
    """Number of jobs in each state (every state present, zeros included)."""
    only = only or ClaimFilter()
    with engine.connect() as conn:
        rows = conn.execute(
            select(JOBS.c.state, func.count()).where(*only.conditions()).group_by(JOBS.c.state)
        ).all()
    counts = {str(state): 0 for state in JobState}
    counts.update({str(state): int(n) for state, n in rows})
    return counts


@dataclass(frozen=True)
class QueueOutlook:
    """What a worker with nothing to do needs to know to decide whether to wait."""

    claimable: int  # could be claimed right now
    waiting: int  # running elsewhere, or failed and waiting for their retry time
    next_change: datetime | None  # earliest lease expiry or retry time


def outlook(
    engine: Engine, only: ClaimFilter | None = None, *, now: datetime | None = None
) -> QueueOutlook:
    """Claimable and waiting job counts for ``only``, and when the next one may change."""
    now = now or utcnow()
    only = only or ClaimFilter()
    claimable_now = _claimable(now)
    waiting = or_(
        JOBS.c.state == str(JobState.RUNNING),
        and_(JOBS.c.state == str(JobState.FAILED), JOBS.c.not_before > now),
    )
    with engine.connect() as conn:
        row = conn.execute(
            select(
                func.count().filter(claimable_now),
                func.count().filter(waiting),
                func.min(
                    case(
                        (JOBS.c.state == str(JobState.RUNNING), JOBS.c.lease_until),
                        else_=JOBS.c.not_before,
                    )
                ).filter(waiting),
            ).where(*only.conditions())
        ).one()
    next_change = row[2]
    if isinstance(next_change, str):  # SQLite min() over a CASE loses the column type
        next_change = JOBS.c.lease_until.type.process_result_value(  # type: ignore[attr-defined]
            datetime.fromisoformat(next_change), engine.dialect
        )
    return QueueOutlook(claimable=int(row[0]), waiting=int(row[1]), next_change=next_change)
