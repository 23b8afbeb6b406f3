"""Helpers for queue tests and the queue benchmark: jobs without images, cheap runners.

Runners here are picklable dataclasses so spawned worker processes can use them.
"""

from __future__ import annotations

import hashlib
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, insert
from sqlalchemy.orm import Session

from archive_colorizer.catalog.queue import ClaimedJob
from archive_colorizer.catalog.schema import Job, Scan, ScanState, Volume, utcnow
from archive_colorizer.errors import PermanentJobError
from archive_colorizer.services.worker import WorkerContext


def add_plain_jobs(
    engine: Engine, count: int, *, volume: str = "queue-test", max_attempts: int = 3
) -> list[int]:
    """Insert ``count`` scans (no files behind them) and one pending job each; returns job ids."""
    now = utcnow()
    with Session(engine) as session, session.begin():
        vol = Volume(name=volume)
        session.add(vol)
        session.flush()
        scan_rows = [
            {
                "volume_id": vol.id,
                "path": f"page-{n:05d}.tif",
                "root": "/nowhere",
                "version": 1,
                "state": str(ScanState.INGESTED),
                "page_index": 0,
                "sha256": hashlib.sha256(f"{volume}-{n}".encode()).hexdigest(),
                "skipped_reduced": 0,
                "created_at": now,
                "updated_at": now,
            }
            for n in range(count)
        ]
        scan_ids = list(session.scalars(insert(Scan).returning(Scan.id), scan_rows))
        job_rows = [
            {
                "scan_id": scan_id,
                "model_name": "noop",
                "weights_sha256": "0" * 64,
                "params": {},
                "params_hash": "0" * 64,
                "pipeline_version": 1,
                "idempotency_key": hashlib.sha256(f"{volume}-{scan_id}".encode()).hexdigest(),
                "generation": 1,
                "state": "pending",
                "attempts": 0,
                "max_attempts": max_attempts,
                "queued_at": now,
                "created_at": now,
                "updated_at": now,
            }
            for scan_id in scan_ids
        ]
        return list(session.scalars(insert(Job).returning(Job.id), job_rows))


@dataclass
class NullResult:
    """A result with nothing to publish."""

    report: Mapping[str, Any] = field(default_factory=dict)

    def publish(self) -> None:
        pass

    def record(self, session: Session, job: ClaimedJob) -> None:
        pass

    def discard(self) -> None:
        pass


@dataclass(frozen=True)
class NoopRunner:
    """Does nothing (queue overhead only)."""

    def __call__(self, job: ClaimedJob, ctx: WorkerContext) -> NullResult:
        return NullResult()


def noop_factory() -> NoopRunner:
    return NoopRunner()


@dataclass(frozen=True)
class LoggingRunner:
    """Appends ``<job id> <worker id>`` to ``log`` for every job run (O_APPEND: atomic lines).

    Jobs whose id is in ``permanent`` raise PermanentJobError; in ``slow`` ones the runner
    writes ``<log>.started-<job id>`` and then waits (interruptibly) for ``hold`` seconds.
    """

    log: str
    permanent: frozenset[int] = frozenset()
    slow: frozenset[int] = frozenset()
    hold: float = 60.0

    def run(self, job: ClaimedJob, ctx: WorkerContext) -> NullResult:
        if job.id in self.slow:
            Path(f"{self.log}.started-{job.id}").write_text(ctx.worker_id)
            with ctx.interruptible():  # stands for a long computation a signal may interrupt
                threading.Event().wait(self.hold)
        if job.id in self.permanent:
            raise PermanentJobError(f"job {job.id}: this page can never be colorized")
        fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, f"{job.id} {ctx.worker_id}\n".encode())
        finally:
            os.close(fd)
        return NullResult()


@dataclass(frozen=True)
class LoggingFactory:
    """Picklable factory of a LoggingRunner's bound ``run``."""

    runner: LoggingRunner

    def __call__(self) -> Any:
        return self.runner.run


def executions(log: Path) -> list[int]:
    """Job ids in the order the LoggingRunner ran them."""
    if not log.exists():
        return []
    return [int(line.split()[0]) for line in log.read_text().splitlines() if line.strip()]


def wait_for(predicate: Any, timeout: float, what: str, interval: float = 0.02) -> None:
    """Poll ``predicate()`` until true; AssertionError naming ``what`` after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


def main(argv: list[str] | None = None) -> int:
    """``python -m tests.queue_support URL LOG [--slow ID ...] [--lease S]``: one worker process
    running a LoggingRunner (used by the crash tests as a real, killable worker)."""
    import argparse
    import json
    import sys

    from archive_colorizer.services.worker import WorkerConfig, run_worker

    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("log")
    parser.add_argument("--slow", type=int, nargs="*", default=[])
    parser.add_argument("--lease", type=float, default=30.0)
    args = parser.parse_args(argv)
    runner = LoggingRunner(args.log, slow=frozenset(args.slow))
    config = WorkerConfig(database_url=args.url, lease_seconds=args.lease, poll_seconds=0.1)
    summary = run_worker(config, runner.run)
    sys.stdout.write(json.dumps(summary.__dict__) + "\n")
    return {"SIGTERM": 143, "SIGINT": 130}.get(summary.interrupted_by or "", 0)


if __name__ == "__main__":
    raise SystemExit(main())
