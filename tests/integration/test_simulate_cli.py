"""`archcolor simulate` end to end on generated images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archive_colorizer.cli.app import run


def test_simulate_writes_same_size_and_never_touches_the_input(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.png"
    rng = np.random.default_rng(0)
    Image.fromarray(rng.integers(0, 256, size=(33, 51, 3), dtype=np.uint8)).save(source)
    before = source.read_bytes()
    for style in ("gravure", "color-gravure", "hatching", "halftone"):
        target = tmp_path / f"{style}.png"
        assert run(["simulate", str(source), str(target), "--style", style, "--seed", "2"]) == 0
        with Image.open(target) as image:
            assert image.size == (51, 33)
    assert source.read_bytes() == before
    assert run(["simulate", str(source), str(source)]) == 1
    assert "refusing to overwrite" in capsys.readouterr().err
    assert run(["simulate", str(tmp_path / "missing.png"), str(tmp_path / "x.png")]) == 1
