"""The ingest benchmark script runs end to end on tiny files (keeps it from rotting)."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "ingest.py"


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("sha256sum") is None, reason="needs coreutils sha256sum")
def test_benchmark_reports_throughput_ratio_and_peak_rss(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            str(SCRIPT),
            "--files",
            "2",
            "--file-mb",
            "1",
            "--big-mb",
            "2",
            "--repeat",
            "1",
            "--workdir",
            str(tmp_path),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["files"] == 2
    assert report["total_bytes"] >= 2_000_000
    assert report["ingest_mb_per_s"] > 0 and report["sha256sum_mb_per_s"] > 0
    assert report["ratio"] == pytest.approx(
        report["ingest_mb_per_s"] / report["sha256sum_mb_per_s"], rel=0.02, abs=0.002
    )
    assert 5 < report["big_ingest_peak_rss_mib"] < 1024
    assert list(tmp_path.iterdir()) == []  # the work folder was removed
