"""The jobs table as a queue: atomic claims, exactly-once completion across processes,
leases, retries and dead letters (real SQLite and PostgreSQL databases, real processes)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from archive_colorizer.catalog import queue
from archive_colorizer.catalog.schema import Event, Job, JobState, utcnow
from archive_colorizer.services.worker import WorkerConfig, run_worker, run_worker_processes
from tests.queue_support import LoggingFactory, LoggingRunner, add_plain_jobs, executions


def _states(engine: Engine) -> dict[int, str]:
    with Session(engine) as session:
        return {job.id: job.state for job in session.scalars(select(Job))}


@pytest.mark.slow
def test_200_jobs_4_processes_each_done_exactly_once(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    ids = add_plain_jobs(engine, 200)
    log = tmp_path / "executions.log"
    config = WorkerConfig(database_url=database_url, lease_seconds=30, poll_seconds=0.2)
    pool = run_worker_processes(config, LoggingFactory(LoggingRunner(str(log))), 4)

    assert pool.exit_codes == [0, 0, 0, 0], pool.errors
    ran = Counter(executions(log))
    assert sorted(ran) == sorted(ids)  # none lost
    assert set(ran.values()) == {1}  # none duplicated
    assert set(_states(engine).values()) == {"done"}
    assert pool.total.done == 200
    workers = {line.split()[1] for line in log.read_text().splitlines()}
    assert len(workers) >= 2  # the work really was shared


def test_claims_never_hand_out_the_same_job(engine: Engine) -> None:
    ids = add_plain_jobs(engine, 5)
    claimed = [queue.claim(engine, f"w{n}", 30) for n in range(7)]
    got = [job.id for job in claimed if job is not None]
    assert sorted(got) == sorted(ids) and claimed[5] is None and claimed[6] is None
    first = claimed[0]
    assert first is not None and first.attempts == 1 and first.worker_id == "w0"
    assert queue.count_by_state(engine)["running"] == 5


def test_expired_lease_is_reaped_and_counted(engine: Engine) -> None:
    (job_id,) = add_plain_jobs(engine, 1, max_attempts=2)
    now = utcnow()
    first = queue.claim(engine, "dead-worker", 1, now=now)
    assert first is not None
    assert queue.reap_expired(engine, now=now) == {}  # not expired yet
    assert queue.reap_expired(engine, now=now + timedelta(seconds=2)) == {job_id: JobState.PENDING}
    # the dead worker can no longer touch the job
    assert not queue.heartbeat(engine, job_id, "dead-worker", 30)
    second = queue.claim(engine, "next-worker", 1, now=now + timedelta(seconds=3))
    assert second is not None and second.attempts == 2
    reaped = queue.reap_expired(engine, now=now + timedelta(seconds=10))
    assert reaped == {job_id: JobState.DEAD}  # out of attempts
    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert job is not None and "lease expired" in (job.last_error or "")
        events = session.scalars(select(Event).where(Event.type == "colorization")).all()
        assert len(events) == 1 and events[0].outcome == "failure"


def test_transient_failure_backs_off_then_dies_after_max_attempts(engine: Engine) -> None:
    (job_id,) = add_plain_jobs(engine, 1, max_attempts=2)
    now = utcnow()
    job = queue.claim(engine, "w", 30, now=now)
    assert job is not None
    state = queue.fail(engine, job_id, "w", "GPU out of memory", permanent=False, now=now)
    assert state == JobState.FAILED
    assert queue.claim(engine, "w", 30, now=now + timedelta(seconds=1)) is None  # backing off
    assert queue.outlook(engine, now=now).waiting == 1
    again = queue.claim(engine, "w", 30, now=now + timedelta(seconds=queue.BACKOFF_BASE_S + 1))
    assert again is not None and again.attempts == 2
    assert queue.fail(engine, job_id, "w", "GPU out of memory", permanent=False) == JobState.DEAD
    assert queue.retry(engine, job_ids=[job_id]) == [job_id]
    revived = queue.claim(engine, "w", 30)
    assert revived is not None and revived.attempts == 1


def test_release_does_not_count_the_attempt(engine: Engine) -> None:
    (job_id,) = add_plain_jobs(engine, 1)
    assert queue.claim(engine, "w", 30) is not None
    assert not queue.release(engine, job_id, "someone-else")
    assert queue.release(engine, job_id, "w")
    job = queue.claim(engine, "v", 30)
    assert job is not None and job.attempts == 1


def test_permanent_error_dead_letters_only_that_job(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    ids = add_plain_jobs(engine, 6)
    log = tmp_path / "executions.log"
    runner = LoggingRunner(str(log), permanent=frozenset({ids[2]}))
    summary = run_worker(WorkerConfig(database_url=database_url), runner.run)
    assert (summary.done, summary.dead) == (5, 1)
    states = _states(engine)
    assert states[ids[2]] == "dead" and [states[i] for i in ids if i != ids[2]] == ["done"] * 5
    with Session(engine) as session:
        dead = session.get(Job, ids[2])
        assert dead is not None and "can never be colorized" in (dead.last_error or "")
        assert dead.attempts == 1  # not retried
