"""The queue benchmark script runs end to end on a few jobs (keeps it from rotting)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "job_queue.py"


@pytest.mark.slow
def test_benchmark_reports_jobs_per_second_with_exactly_once_checked() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--jobs", "30", "--workers", "1", "2",
         "--databases", "sqlite", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    rows = report["results"]["sqlite"]
    assert [row["workers"] for row in rows] == [1, 2]
    assert all(row["jobs"] == 30 and row["exactly_once"] for row in rows)
    assert all(row["jobs_per_s"] > 0 for row in rows)
