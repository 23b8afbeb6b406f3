"""The scale check runs end to end on a few jobs (keeps benchmarks/scale.py from rotting)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "scale.py"


@pytest.mark.slow
@pytest.mark.postgres
def test_independent_worker_processes_run_every_job_exactly_once() -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--workers",
            "1",
            "3",
            "--jobs",
            "60",
            "--work-ms",
            "2",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    runs = json.loads(result.stdout)["runs"]
    assert [run["workers"] for run in runs] == [1, 3]
    for run in runs:
        assert run["exactly_once"] and run["done"] == run["executed"] == 60
        assert run["executed_twice"] == run["missing"] == run["attempts_over_1"] == 0
        # a job's "done" commit also claims the next job: about one transaction per job
        assert run["jobs_per_s"] > 0 and run["transactions_per_job"] >= 1
        assert 1 <= run["max_connections"] <= 2 * run["workers"]
