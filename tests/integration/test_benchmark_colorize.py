"""The page-pipeline benchmark script runs end to end (keeps it from rotting)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "colorize.py"


@pytest.mark.slow
@pytest.mark.parametrize(("bits", "render"), [(8, "wash"), (16, "luminance")])
def test_benchmark_reports_stages_cpu_and_memory(tmp_path: Path, bits: int, render: str) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--sizes", "0.5", "--bits", str(bits), "--render", render,
         "--workdir", str(tmp_path), "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    (row,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["bits"] == bits and row["render"] == render
    assert set(row["stages"]) == {"read", "reduce", "network", "upsample_colour", "write"}
    assert row["mp_per_s"] > 0 and row["cpu_seconds"] > 0 and row["peak_rss_mib"] > 0
