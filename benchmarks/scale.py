#!/usr/bin/env python3
"""Scale check: N independent worker processes on one PostgreSQL catalog, like N pods.

For each N (default 1, 2, 4, 8) and each per-job work time (default 0 ms: pure queue overhead,
and 20 ms: a tiny page), a fresh PostgreSQL database gets ``--jobs`` pending jobs (default 500);
N separate OS processes (this script with ``--worker``, not a pool: each has its own engine and
connections, as separate containers would) are started, wait at a gate until all are ready, then
work the queue with the real claim/heartbeat/done code (``run_worker``) and a runner that only
appends the job id to a log (and sleeps the work time). Reported per run:

* jobs/s from the database's own timestamps (first claim to last finish);
* proof of exactly-once: every job ``done`` with ``attempts = 1``, and the union of the
  workers' logs holds every job id exactly once (the log is written outside the database
  transaction, so a job run twice would show up twice);
* PostgreSQL transactions per job (``pg_stat_database`` commits + rollbacks of that database
  during the run, divided by the jobs) and the most connections the workers held at once.

Usage::

    python benchmarks/scale.py                         # N = 1 2 4 8, 500 jobs, 0 and 20 ms
    python benchmarks/scale.py --workers 1 2 --jobs 100 --work-ms 0
    python benchmarks/scale.py --json                  # one JSON object on stdout

The server is ``ARCHCOLOR_TEST_POSTGRES_URL`` (default: the local test server); each run
creates and drops its own database.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
# the queue test helpers (tests/queue_support.py) are shared with this benchmark: put the
# repository root first on sys.path so `tests` imports when run as `python benchmarks/scale.py`
sys.path[:] = [str(REPO)] + [p for p in sys.path if Path(p or ".").resolve() not in {HERE, REPO}]

from sqlalchemy import Engine, create_engine, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from archive_colorizer.catalog.engine import create_catalog_engine  # noqa: E402
from archive_colorizer.catalog.migrations import upgrade  # noqa: E402
from archive_colorizer.catalog.queue import ClaimedJob  # noqa: E402
from archive_colorizer.services.worker import (  # noqa: E402
    WorkerConfig,
    WorkerContext,
    run_worker,
)
from tests.queue_support import NullResult, add_plain_jobs, executions  # noqa: E402

SERVER_URL = os.environ.get(
    "ARCHCOLOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
MONITOR = "archcolor-scale-monitor"  # application_name of this script's own connections
LEASE_SECONDS = 60.0  # the deployments' default: heartbeats every 20 s, none in a short run


@dataclass(frozen=True)
class TinyRunner:
    """Appends ``<job id> <worker id>`` to ``log`` (O_APPEND), after ``work_s`` of waiting."""

    log: str
    work_s: float

    def __call__(self, job: ClaimedJob, ctx: WorkerContext) -> NullResult:
        if self.work_s > 0:
            time.sleep(self.work_s)  # stands for a GPU computing a tiny page
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{job.id} {ctx.worker_id}\n".encode())
        finally:
            os.close(fd)
        return NullResult()


@dataclass
class ScaleRun:
    """One row of the table."""

    workers: int
    work_ms: float
    jobs: int
    seconds: float
    jobs_per_s: float
    done: int
    attempts_over_1: int
    executed: int
    executed_twice: int
    missing: int
    transactions_per_job: float
    max_connections: int

    @property
    def exactly_once(self) -> bool:
        return (
            self.done == self.jobs
            and self.executed == self.jobs
            and self.executed_twice == 0
            and self.missing == 0
            and self.attempts_over_1 == 0
        )


@contextmanager
def fresh_database() -> Iterator[str]:
    """A new empty PostgreSQL database on the server; dropped afterwards."""
    admin_url = make_url(SERVER_URL)
    name = f"archcolor_scale_{uuid.uuid4().hex[:10]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def transactions(monitor: Engine, database: str) -> int:
    """Committed plus rolled-back transactions of ``database`` so far (flushed stats)."""
    with monitor.connect() as conn:
        conn.execute(text("SELECT pg_stat_clear_snapshot()"))
        row = conn.execute(
            text("SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = :d"),
            {"d": database},
        ).one()
    return int(row[0])


def settled_transactions(monitor: Engine, database: str) -> int:
    """The counter once the workers' server processes have gone and flushed their statistics."""
    query = text("SELECT count(*) FROM pg_stat_activity WHERE datname = :d")
    deadline = time.monotonic() + 10
    previous = -1
    while time.monotonic() < deadline:
        with monitor.connect() as conn:
            connected = conn.execute(query, {"d": database}).scalar_one()
        current = transactions(monitor, database)
        if connected == 0 and current == previous:
            return current
        previous = current
        time.sleep(0.5)
    return previous


class ConnectionSampler:
    """Polls pg_stat_activity for the most client connections to ``database`` at once."""

    def __init__(self, monitor: Engine, database: str) -> None:
        self.monitor = monitor
        self.database = database
        self.maximum = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        query = text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :d AND application_name <> :me"
        )
        with self.monitor.connect() as conn:
            while not self._stop.wait(0.05):
                count = conn.execute(query, {"d": self.database, "me": MONITOR}).scalar_one()
                conn.rollback()
                self.maximum = max(self.maximum, int(count))

    def __enter__(self) -> ConnectionSampler:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join()


def run_once(workers: int, jobs: int, work_ms: float, scratch: Path) -> ScaleRun:
    with fresh_database() as url:
        database = make_url(url).database or ""
        engine = create_catalog_engine(url)
        upgrade(engine)
        job_ids = add_plain_jobs(engine, jobs, volume="scale")
        engine.dispose()
        log = scratch / f"executions-{workers}-{work_ms:g}.log"
        admin_url = make_url(SERVER_URL)
        # watched from the server's default database: its own queries do not count
        monitor = create_engine(admin_url, connect_args={"application_name": MONITOR})
        processes = [
            subprocess.Popen(
                [sys.executable, __file__, "--worker", url, str(log), str(work_ms), f"w{index}"],
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
            for index in range(workers)
        ]
        for process in processes:  # the gate: every worker has imported and connected
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        before = transactions(monitor, database)
        with ConnectionSampler(monitor, database) as sampler:
            for process in processes:
                assert process.stdin is not None
                process.stdin.write("go\n")
                process.stdin.close()
            codes = [process.wait(timeout=600) for process in processes]
        if any(codes):
            raise SystemExit(f"a worker failed: exit codes {codes}")
        after = settled_transactions(monitor, database)
        monitor.dispose()
        catalog = create_engine(url)
        with catalog.connect() as conn:
            done, over_1, seconds = conn.execute(
                text(
                    "SELECT count(*) FILTER (WHERE state = 'done'), "
                    "count(*) FILTER (WHERE attempts <> 1), "
                    "EXTRACT(EPOCH FROM max(finished_at) - min(started_at)) FROM jobs"
                )
            ).one()
        catalog.dispose()
    runs = Counter(executions(log))
    elapsed = float(seconds)
    return ScaleRun(
        workers=workers,
        work_ms=work_ms,
        jobs=jobs,
        seconds=round(elapsed, 3),
        jobs_per_s=round(jobs / elapsed, 1),
        done=int(done),
        attempts_over_1=int(over_1),
        executed=len(runs),
        executed_twice=sum(1 for count in runs.values() if count > 1),
        missing=len(set(job_ids) - set(runs)),
        transactions_per_job=round((after - before) / jobs, 2),
        max_connections=sampler.maximum,
    )


def worker_main(url: str, log: str, work_ms: str, name: str) -> None:
    """One worker process: connect, report ready, wait for "go", work the queue until empty."""
    engine = create_catalog_engine(url)  # connect once now, so the gate covers start-up
    engine.dispose()
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        raise SystemExit("no go")
    config = WorkerConfig(database_url=url, lease_seconds=LEASE_SECONDS, follow=False)
    runner = TinyRunner(log=log, work_s=float(work_ms) / 1000)
    summary = run_worker(config, runner, worker_id=f"scale-{name}-{os.getpid()}")
    if summary.done + summary.failed + summary.dead + summary.lost == 0 and summary.released:
        raise SystemExit("released jobs without a signal")


def table(runs: list[ScaleRun]) -> str:
    lines = [
        "| workers | work/job | jobs | seconds | jobs/s | done | ran exactly once | "
        "tx/job | connections |",
        "|---:|---:|---:|---:|---:|---:|---|---:|---:|",
    ]
    for run in runs:
        once = (
            "yes"
            if run.exactly_once
            else (
                f"NO: {run.executed_twice} twice, {run.missing} missing, "
                f"{run.attempts_over_1} retried"
            )
        )
        lines.append(
            f"| {run.workers} | {run.work_ms:g} ms | {run.jobs} | {run.seconds:.2f} | "
            f"{run.jobs_per_s:.0f} | {run.done} | {once} | {run.transactions_per_job:.2f} | "
            f"{run.max_connections} |"
        )
    return "\n".join(lines)


def main() -> None:
    if len(sys.argv) == 6 and sys.argv[1] == "--worker":
        worker_main(*sys.argv[2:])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--jobs", type=int, default=500)
    parser.add_argument("--work-ms", type=float, nargs="+", default=[0.0, 20.0])
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()
    runs: list[ScaleRun] = []
    with tempfile.TemporaryDirectory(prefix="archcolor-scale-") as scratch:
        for work_ms in args.work_ms:
            for workers in args.workers:
                run = run_once(workers, args.jobs, work_ms, Path(scratch))
                runs.append(run)
                if not args.json:
                    print(
                        f"N={workers} work={work_ms:g} ms: {run.jobs_per_s:.0f} jobs/s, "
                        f"exactly once: {run.exactly_once}",
                        file=sys.stderr,
                    )
    if args.json:
        payload: dict[str, Any] = {
            "cpus": os.cpu_count(),
            "runs": [{**asdict(run), "exactly_once": run.exactly_once} for run in runs],
        }
        print(json.dumps(payload, indent=2))
    else:
        print(table(runs))
    if not all(run.exactly_once for run in runs):
        raise SystemExit("some job did not run exactly once")


if __name__ == "__main__":
    main()
