"""Workers that die or are stopped: real processes, real signals, real databases.

Synchronisation is by database state and marker files, polled with deadlines (no fixed sleeps).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from archive_colorizer.catalog.engine import create_catalog_engine
from archive_colorizer.catalog.migrations import ensure_schema
from archive_colorizer.catalog.schema import Derivative, Job
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.synthetic import write_synthetic_page
from archive_colorizer.services import store as store_layout
from tests.queue_support import add_plain_jobs, executions, wait_for

#: the queue and export run the untrained fixture model: fast, and independent of the shipped
#: default
pytestmark = pytest.mark.usefixtures("fixture_model_default")

REPO = Path(__file__).resolve().parents[2]
#: the console script installed beside this interpreter
ARCHCOLOR = str(Path(sys.executable).with_name("archcolor"))


def _worker(url: str, log: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.queue_support", url, str(log), *args],
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _job(engine: Engine, job_id: int) -> Job:
    with Session(engine) as session:
        job = session.get(Job, job_id)
        assert job is not None
        return job


def test_kill_9_mid_job_is_finished_by_another_worker(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    ids = add_plain_jobs(engine, 3)
    slow = ids[0]
    log = tmp_path / "executions.log"
    first = _worker(database_url, log, "--slow", str(slow), "--lease", "1")
    try:
        wait_for(lambda: Path(f"{log}.started-{slow}").exists(), 60, "the first worker to start")
        first.kill()  # SIGKILL: no cleanup, no release
        first.communicate(timeout=30)
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    killed_worker = Path(f"{log}.started-{slow}").read_text()
    held = _job(engine, slow)
    assert held.state == "running" and held.worker_id == killed_worker

    second = _worker(database_url, log, "--lease", "1")
    out, err = second.communicate(timeout=120)
    assert second.returncode == 0, err
    summary = json.loads(out.splitlines()[-1])
    assert summary["reaped"] >= 1
    assert sorted(executions(log)) == sorted(ids)  # every job ran exactly once to completion
    job = _job(engine, slow)
    assert job.state == "done" and job.attempts == 2  # the killed attempt counted
    assert job.worker_id != killed_worker


def test_sigterm_releases_the_job_to_the_next_worker(
    engine: Engine, database_url: str, tmp_path: Path
) -> None:
    (slow,) = add_plain_jobs(engine, 1)
    log = tmp_path / "executions.log"
    first = _worker(database_url, log, "--slow", str(slow))
    try:
        wait_for(lambda: Path(f"{log}.started-{slow}").exists(), 60, "the worker to start")
        first.send_signal(signal.SIGTERM)
        out, err = first.communicate(timeout=10)  # exits within seconds, not after the hold
    finally:
        if first.poll() is None:
            first.kill()
            first.communicate()
    assert first.returncode == 143, err
    assert json.loads(out.splitlines()[-1])["released"] == 1
    job = _job(engine, slow)
    assert (job.state, job.attempts, job.worker_id) == ("pending", 0, None)
    assert executions(log) == []

    second = _worker(database_url, log)
    second.communicate(timeout=60)
    assert second.returncode == 0
    assert executions(log) == [slow]
    assert _job(engine, slow).state == "done"


# --- the real thing: `archcolor process --pending` processes -----------------------------------


def _archcolor(url: str, store: Path, *args: str) -> list[str]:
    return [ARCHCOLOR, "--db", url, "--store", str(store), *args]


def _volume(tmp_path: Path, pages: int) -> Path:
    folder = tmp_path / "masters"
    for number in range(pages):
        write_synthetic_page(folder / f"page-{number:02d}.tif", width=160, height=200, seed=number)
    return folder


def _running_job_of(engine: Engine, pid: int) -> int | None:
    with Session(engine) as session:
        for job_id, worker in session.execute(
            select(Job.id, Job.worker_id).where(Job.state == "running")
        ):
            if worker is not None and worker.split("/")[-2] == str(pid):
                return int(job_id)
    return None


@pytest.mark.slow
@pytest.mark.postgres
def test_kill_9_of_a_colorizing_process_registers_nothing_half_written(
    postgres_url: str, tmp_path: Path
) -> None:
    # end to end with the real CLI on PostgreSQL (the multi-machine set-up); the queue-level
    # tests above cover both databases
    engine = create_catalog_engine(postgres_url)
    try:
        ensure_schema(engine)
        _kill_9_scenario(engine, postgres_url, tmp_path)
    finally:
        engine.dispose()


def _kill_9_scenario(engine: Engine, database_url: str, tmp_path: Path) -> None:
    store = tmp_path / "store"
    masters = _volume(tmp_path, 4)
    subprocess.run(_archcolor(database_url, store, "ingest", str(masters)), check=True, cwd=REPO)
    victim = subprocess.Popen(
        _archcolor(database_url, store, "process", "--pending", "--device", "cpu",
                   "--lease-seconds", "1", "--poll-seconds", "0.2"),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    held: list[int] = []
    try:

        def victim_holds_a_job() -> bool:
            job = _running_job_of(engine, victim.pid)
            if job is not None:
                held.append(job)
            return job is not None

        wait_for(victim_holds_a_job, 120, "the victim to claim a job", interval=0.005)
        os.kill(victim.pid, signal.SIGKILL)
        victim.communicate(timeout=30)
    finally:
        if victim.poll() is None:
            victim.kill()
            victim.communicate()
    assert _job(engine, held[0]).state == "running"  # killed mid-job: nothing registered yet

    rescue = subprocess.run(
        _archcolor(database_url, store, "process", "--pending", "--device", "cpu", "--json",
                   "--lease-seconds", "1", "--poll-seconds", "0.2"),
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert rescue.returncode == 0, rescue.stderr
    lines = [json.loads(line) for line in rescue.stdout.splitlines()]
    assert lines.pop()["summary"] is True  # the last line sums the run up
    assert held[0] in [line["job"] for line in lines if line["status"] == "done"]
    taken_over = _job(engine, held[0])
    assert taken_over.state == "done" and taken_over.attempts == 2

    with Session(engine) as session:
        derivatives = session.scalars(select(Derivative)).all()
        jobs = session.scalars(select(Job)).all()
    assert {job.state for job in jobs} == {"done"} and len(jobs) == 4
    assert len(derivatives) == 4  # one per page, none from the killed attempt
    for derivative in derivatives:
        path = store_layout.inside_store(store, derivative.path)
        assert not path.name.startswith(".")
        assert sha256_file(path) == (derivative.sha256, derivative.bytes)
    # the killed attempt's temporary files were removed by the worker that took the job over
    assert list(store_layout.temporaries(store)) == []


@pytest.mark.slow
def test_sigterm_stops_a_colorizing_process_within_seconds(sqlite_url: str, tmp_path: Path) -> None:
    # end to end with the real CLI on SQLite; the queue-level tests cover both databases
    engine = create_catalog_engine(sqlite_url)
    try:
        ensure_schema(engine)
        _sigterm_scenario(engine, sqlite_url, tmp_path)
    finally:
        engine.dispose()


def _sigterm_scenario(engine: Engine, database_url: str, tmp_path: Path) -> None:
    store = tmp_path / "store"
    masters = _volume(tmp_path, 2)
    subprocess.run(_archcolor(database_url, store, "ingest", str(masters)), check=True, cwd=REPO)
    worker = subprocess.Popen(
        _archcolor(database_url, store, "process", "--pending", "--device", "cpu", "--json"),
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(
            lambda: _running_job_of(engine, worker.pid) is not None,
            120,
            "the worker to claim a job",
            interval=0.005,
        )
        held = _running_job_of(engine, worker.pid)
        worker.send_signal(signal.SIGTERM)
        out, err = worker.communicate(timeout=15)
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.communicate()
    assert worker.returncode == 143, err
    assert "stopped by SIGTERM" in err
    released = [json.loads(line) for line in out.splitlines()]
    assert released.pop()["stopped_by"] == "SIGTERM"  # the run's summary comes last
    assert held is not None
    if released and released[-1]["job"] == held:  # it may also have finished the job just then
        assert released[-1]["status"] in ("released", "done")
    job = _job(engine, held)
    assert job.state in ("pending", "done") and job.worker_id is None
    assert list(store_layout.temporaries(store)) == []  # its staging files were removed

    finish = subprocess.run(
        _archcolor(database_url, store, "process", "--pending", "--device", "cpu"),
        cwd=REPO, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert finish.returncode == 0, finish.stderr
    assert _job(engine, held).state == "done"
