"""The GPU benchmark script: a clear exit without CUDA, and its CI mode runs on the CPU."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "gpu.py"


@pytest.mark.skipif(torch.cuda.is_available(), reason="has CUDA: the script would measure it")
def test_without_cuda_it_says_so_and_exits_3(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out", str(tmp_path / "out")],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert result.returncode == 3, result.stderr
    assert "no CUDA device" in result.stderr and "--ci" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow
def test_ci_mode_writes_json_and_markdown(tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--ci", "--model", "iizuka.fixture", "--out", str(out),
         "--workdir", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    report = json.loads((out / "gpu-benchmark.json").read_text())
    assert report["ci"] is True and report["model"] == "iizuka.fixture"
    combos = {(row["precision"], row["memory_format"]) for row in report["network"]}
    assert combos == {
        (p, f) for p in ("fp32", "bf16", "fp16") for f in ("contiguous", "channels_last")
    }
    fp32 = [row for row in report["network"] if row["precision"] == "fp32"]
    assert all(row["max_abs_ab_vs_fp32"] == 0.0 for row in fp32)
    (page,) = report["pipeline"]
    assert page["mp_per_s"] > 0 and page["stage_seconds"]["network"] > 0
    table = (out / "gpu-benchmark.md").read_text()
    assert "| fp16 | channels_last |" in table and "CI mode" in table
    assert table in result.stdout
