"""The many-page benchmark script runs end to end on small files (keeps it from rotting)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pages.py"


@pytest.mark.slow
def test_benchmark_reports_per_page_job_time_for_each_size() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--pages", "20", "200", "--samples", "2", "--json"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    sizes = json.loads(result.stdout)["sizes"]
    assert [row["pages"] for row in sizes] == [20, 200]
    for row in sizes:
        assert row["per_page_job_s_by_offset"] > 0
        assert row["per_page_job_s_walking_the_chain"] > 0
        assert row["ingest_facts_s"] > 0
