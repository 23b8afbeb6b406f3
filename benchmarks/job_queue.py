#!/usr/bin/env python3
"""Benchmark the job queue alone: no-op jobs claimed and completed by N worker processes.

For each database (a fresh SQLite file; a fresh PostgreSQL database on the server named by
``--postgres`` / ARCHCOLOR_TEST_POSTGRES_URL) and each N in ``--workers`` (default 1 2 4 8):
insert ``--jobs`` pending jobs, run N spawned worker processes with a runner that does nothing,
and report jobs/s measured from the first claim to the last completion (the catalog's own
``started_at``/``finished_at``; interpreter start-up is excluded) plus the wall time including
it. Every run is checked: each job done exactly once (state done, one attempt).

Each job costs the worker two write transactions (claim; mark done) plus, when it has nothing
left to claim, one read. Usage::

    python benchmarks/job_queue.py                          # 500 jobs, 1 2 4 8 workers, both DBs
    python benchmarks/job_queue.py --jobs 100 --workers 1 2 --databases sqlite --json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# run as a script, this folder comes first on sys.path and this file would shadow the standard
# library's `queue` (which multiprocessing imports): drop it
_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]

from sqlalchemy import create_engine, func, insert, select, text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402
from sqlalchemy.orm import Session  # noqa: E402

from archive_colorizer.catalog.engine import create_catalog_engine  # noqa: E402
from archive_colorizer.catalog.migrations import ensure_schema  # noqa: E402
from archive_colorizer.catalog.queue import ClaimedJob  # noqa: E402
from archive_colorizer.catalog.schema import Job, Scan, Volume, utcnow  # noqa: E402
from archive_colorizer.services.worker import (  # noqa: E402
    WorkerConfig,
    WorkerContext,
    run_worker_processes,
)

DEFAULT_POSTGRES = os.environ.get(
    "ARCHCOLOR_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@dataclass
class _Nothing:
    report: dict[str, Any] = field(default_factory=dict)

    def publish(self) -> None:
        pass

    def record(self, session: Session, job: ClaimedJob) -> None:
        pass

    def discard(self) -> None:
        pass


def _noop(job: ClaimedJob, ctx: WorkerContext) -> _Nothing:
    return _Nothing()


@dataclass(frozen=True)
class ReadyNoop:
    """Runner factory for the worker processes: waits until all of them have started (so the
    measured window has every worker working, none still importing), then does nothing."""

    folder: str
    workers: int

    def __call__(self) -> Any:
        Path(self.folder, f"ready-{os.getpid()}").touch()
        deadline = time.monotonic() + 120
        while len(list(Path(self.folder).glob("ready-*"))) < self.workers:
            if time.monotonic() > deadline:
                raise SystemExit("worker processes did not all start within 120 s")
            time.sleep(0.005)
        return _noop


def add_jobs(url: str, count: int) -> None:
    """Fresh schema, ``count`` scans (no files behind them) and one pending job each."""
    engine = create_catalog_engine(url)
    try:
        ensure_schema(engine)
        now = utcnow()
        with Session(engine) as session, session.begin():
            volume = Volume(name="bench")
            session.add(volume)
            session.flush()
            scans = [
                {
                    "volume_id": volume.id,
                    "path": f"p{n:06d}.tif",
                    "root": "/bench",
                    "version": 1,
                    "state": "ingested",
                    "page_index": 0,
                    "sha256": hashlib.sha256(str(n).encode()).hexdigest(),
                    "skipped_reduced": 0,
                    "created_at": now,
                    "updated_at": now,
                }
                for n in range(count)
            ]
            ids = list(session.scalars(insert(Scan).returning(Scan.id), scans))
            session.execute(
                insert(Job),
                [
                    {
                        "scan_id": scan_id,
                        "model_name": "noop",
                        "weights_sha256": "0" * 64,
                        "params": {},
                        "params_hash": "0" * 64,
                        "pipeline_version": 1,
                        "idempotency_key": hashlib.sha256(f"k{scan_id}".encode()).hexdigest(),
                        "generation": 1,
                        "state": "pending",
                        "attempts": 0,
                        "max_attempts": 3,
                        "queued_at": now,
                        "created_at": now,
                        "updated_at": now,
                    }
                    for scan_id in ids
                ],
            )
    finally:
        engine.dispose()


def measure(url: str, jobs: int, workers: int) -> dict[str, Any]:
    """One run: jobs/s between the first claim and the last completion, exactly-once checked."""
    add_jobs(url, jobs)
    config = WorkerConfig(database_url=url, lease_seconds=60, poll_seconds=0.5)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="archcolor-queue-ready-") as ready:
        pool = run_worker_processes(config, ReadyNoop(ready, workers), workers)
    wall = time.perf_counter() - started
    engine = create_catalog_engine(url)
    try:
        with Session(engine) as session:
            first, last, done, once = session.execute(
                select(
                    func.min(Job.started_at),
                    func.max(Job.finished_at),
                    func.count().filter(Job.state == "done"),
                    func.count().filter(Job.attempts == 1),
                )
            ).one()
    finally:
        engine.dispose()
    if isinstance(first, str):  # SQLite aggregates lose the column type
        from datetime import UTC, datetime

        first = datetime.fromisoformat(first).replace(tzinfo=UTC)
        last = datetime.fromisoformat(last).replace(tzinfo=UTC)
    span = max(1e-6, (last - first).total_seconds())
    if done != jobs or once != jobs or pool.total.done != jobs:
        raise SystemExit(
            f"queue error: {jobs} jobs, {done} done, {once} with one attempt, workers report "
            f"{pool.total.done} (exit codes {pool.exit_codes}, {pool.errors})"
        )
    return {
        "workers": workers,
        "jobs": jobs,
        "jobs_per_s": round(jobs / span, 1),
        "queue_seconds": round(span, 3),
        "wall_seconds": round(wall, 3),
        "exactly_once": True,
    }


def sqlite_urls(workdir: Path) -> Any:
    while True:
        yield f"sqlite:///{workdir / f'queue-{uuid.uuid4().hex[:8]}.sqlite3'}"


class PostgresDatabases:
    """Fresh databases on a server, dropped afterwards."""

    def __init__(self, url: str) -> None:
        self.admin_url = make_url(url)
        self.admin = create_engine(self.admin_url, isolation_level="AUTOCOMMIT")
        self.names: list[str] = []

    def new(self) -> str:
        name = f"archcolor_bench_{uuid.uuid4().hex[:10]}"
        with self.admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
        self.names.append(name)
        return self.admin_url.set(database=name).render_as_string(hide_password=False)

    def close(self) -> None:
        with self.admin.connect() as conn:
            for name in self.names:
                conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        self.admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--jobs", type=int, default=500, help="jobs per run (default 500)")
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument(
        "--databases", nargs="+", choices=("sqlite", "postgres"), default=["sqlite", "postgres"]
    )
    parser.add_argument("--postgres", default=DEFAULT_POSTGRES, help="server for new databases")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    results: dict[str, list[dict[str, Any]]] = {}
    with tempfile.TemporaryDirectory(prefix="archcolor-queue-bench-") as workdir:
        for database in args.databases:
            rows = results.setdefault(database, [])
            if database == "sqlite":
                urls = sqlite_urls(Path(workdir))
                for workers in args.workers:
                    rows.append(measure(next(urls), args.jobs, workers))
            else:
                servers = PostgresDatabases(args.postgres)
                try:
                    for workers in args.workers:
                        rows.append(measure(servers.new(), args.jobs, workers))
                finally:
                    servers.close()
    if args.json:
        print(json.dumps({"cpus": os.cpu_count(), "results": results}, sort_keys=True))
        return 0
    print(f"queue overhead, no-op jobs ({os.cpu_count()} CPUs)")
    print(f"{'database':<10} {'workers':>7} {'jobs':>6} {'jobs/s':>9} {'queue s':>8} {'wall s':>8}")
    for database, rows in results.items():
        for row in rows:
            print(
                f"{database:<10} {row['workers']:>7} {row['jobs']:>6} {row['jobs_per_s']:>9.1f} "
                f"{row['queue_seconds']:>8.2f} {row['wall_seconds']:>8.2f}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
