"""`archcolor models`: installed models, verification status, the default."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from archive_colorizer.cli.app import run
from archive_colorizer.inference.cards import read_card
from archive_colorizer.inference.fixture import FIXTURE_NAME
from archive_colorizer.inference.registry import ENV_MODELS_DIR, repository_models_dir

SHIPPED = repository_models_dir() / FIXTURE_NAME


@pytest.fixture
def models_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "models"
    shutil.copytree(SHIPPED, directory / FIXTURE_NAME)
    (directory / "DEFAULT").write_text(FIXTURE_NAME + "\n")
    monkeypatch.setenv(ENV_MODELS_DIR, str(directory))
    return directory


def models_json(capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    code = run(["models", "--json"])
    return code, json.loads(capsys.readouterr().out)


def test_lists_the_fixture_as_default(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, payload = models_json(capsys)
    assert code == 0
    assert payload["default"] == FIXTURE_NAME
    assert payload["models_dirs"] == [str(models_dir)]
    (model,) = payload["models"]
    card = read_card(SHIPPED)
    assert model["name"] == FIXTURE_NAME and model["arch"] == "iizuka"
    assert model["status"] == "ok" and model["default"] is True
    assert model["weights_sha256"] == card.weights_sha256
    assert model["parameters"] == card.parameters
    assert payload["broken"] == []


def test_table_output(models_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["models"]) == 0
    out = capsys.readouterr().out
    assert FIXTURE_NAME in out and "ok" in out and f"default model: {FIXTURE_NAME}" in out


def test_tampered_weights_show_mismatch(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    weights = models_dir / FIXTURE_NAME / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[100] ^= 0xFF
    weights.write_bytes(bytes(data))
    code, payload = models_json(capsys)
    assert code == 3
    assert payload["models"][0]["status"] == "MISMATCH"


def test_broken_card_and_missing_default(
    models_dir: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = models_dir / "iizuka.broken"
    broken.mkdir()
    (broken / "card.json").write_text("{")
    (models_dir / "DEFAULT").write_text("iizuka.gone\n")
    code, payload = models_json(capsys)
    assert code == 3
    assert payload["default"] == "iizuka.gone"
    assert [b["directory"] for b in payload["broken"]] == [str(broken)]
    assert run(["models"]) == 3
    out = capsys.readouterr().out
    assert "broken" in out and "iizuka.gone" in out and "not installed" in out


def test_console_script_end_to_end(models_dir: Path) -> None:
    env = {**os.environ, ENV_MODELS_DIR: str(models_dir)}
    script = Path(sys.executable).with_name("archcolor")
    done = subprocess.run(
        [str(script), "models", "--json"], env=env, capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["default"] == FIXTURE_NAME


def test_table_wraps_instead_of_cutting_names_in_80_columns(tmp_path: Path) -> None:
    """Two versions of one model stay distinguishable on a narrow terminal."""
    directory = tmp_path / "models"
    names = ["iizuka.fixture-v1", "iizuka.fixture-v2"]
    for name in names:
        shutil.copytree(SHIPPED, directory / name)
        card_path = directory / name / "card.json"
        card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "name": name}))
    (directory / "DEFAULT").write_text(names[1] + "\n")
    script = Path(sys.executable).with_name("archcolor")
    for columns in (80, 60):
        env = {**os.environ, ENV_MODELS_DIR: str(directory), "COLUMNS": str(columns)}
        done = subprocess.run(
            [str(script), "models"], capture_output=True, text=True, env=env, check=False
        )
        assert done.returncode == 0, done.stdout + done.stderr
        lines = done.stdout.splitlines()
        assert max(len(line) for line in lines) <= columns, done.stdout
        # only the sha256 prefix ends in an ellipsis, never a name
        assert re.findall(r"(\S)…", done.stdout) and all(
            char in "0123456789abcdef" for char in re.findall(r"(\S)…", done.stdout)
        ), done.stdout
        rows = [line for line in lines if " iizuka" in line and "Models" not in line]
        if columns == 80:  # whole names, one line each
            assert [n for n in names if any(n in row for row in rows)] == names, done.stdout
        else:  # wrapped onto the following lines of the name column, nothing lost
            arch = next(line for line in lines if " arch " in line).index(" arch ") + 1
            cells = "".join(line[:arch] for line in lines).replace(" ", "").replace("*", "")
            assert all(name in cells for name in names), done.stdout
