"""The network benchmark script runs end to end on the fixture model (keeps it from rotting)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "network.py"


@pytest.mark.slow
def test_benchmark_times_the_network_with_and_without_an_input_cap() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--model", "iizuka.fixture", "--chroma-size", "256",
         "--max-side", "card,none,128", "--threads", "1", "--repeat", "1", "--json"],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [row["network_max_side"] for row in rows] == [None, None, 128]
    assert all(row["working_image"] == "256x192" for row in rows)
    assert all(row["median_s"] > 0 and row["min_s"] <= row["median_s"] for row in rows)
