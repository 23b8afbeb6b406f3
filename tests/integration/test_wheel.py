"""A wheel carries the migrations and models: `pip install` works without the source tree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from archive_colorizer.catalog import migrations

ROOT = Path(__file__).resolve().parents[2]


def test_pyproject_lists_every_package_of_the_tree() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    tree = {
        ".".join(path.parent.relative_to(ROOT).parts)
        for path in (ROOT / "archive_colorizer").rglob("__init__.py")
    }
    mapped = set(config["package-dir"])
    nested = {
        f"{package}.{child.name}"
        for package, folder in config["package-dir"].items()
        for child in (ROOT / folder).iterdir()
        if child.is_dir() and child.name.isidentifier() and any(child.glob("*.py"))
    }
    assert set(config["packages"]) == tree | mapped | nested


@pytest.mark.slow
def test_installed_wheel_migrates_and_finds_the_default_model(tmp_path: Path) -> None:
    source = _mkdir(tmp_path / "source")
    for name in ("pyproject.toml", "README.md", "alembic.ini"):
        shutil.copy2(ROOT / name, source / name)
    for name in ("archive_colorizer", "migrations", "models"):
        shutil.copytree(
            ROOT / name, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    wheels = tmp_path / "wheels"
    build = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(wheels), str(source)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert build.returncode == 0, build.stderr
    site = tmp_path / "site"
    install = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--no-index", "-q",
         "--target", str(site), str(next(wheels.glob("*.whl")))],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert install.returncode == 0, install.stderr
    shutil.rmtree(source)  # nothing may come from a source tree any more

    work = _mkdir(tmp_path / "elsewhere")
    env = {**os.environ, "PYTHONPATH": str(site)}
    env.pop("ARCHCOLOR_MODELS_DIR", None)
    database = f"sqlite:///{work / 'catalog.sqlite3'}"

    def archcolor(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-c", "from archive_colorizer.cli.app import main; main()", *args],
            capture_output=True, text=True, timeout=300, cwd=work, env=env,
        )  # fmt: skip

    where = subprocess.run(
        [sys.executable, "-c", "import archive_colorizer; print(archive_colorizer.__file__)"],
        capture_output=True, text=True, cwd=work, env=env,
    )  # fmt: skip
    assert where.stdout.startswith(str(site)), where.stdout
    upgraded = archcolor("--db", database, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    current = archcolor("--db", database, "db", "current")
    # the head revision of the source tree's migrations, as shipped inside the wheel
    assert current.returncode == 0 and migrations.head() in current.stdout + current.stderr
    models = archcolor("models", "--json")
    assert models.returncode == 0, models.stderr
    listing = json.loads(models.stdout)
    default = (ROOT / "models" / "DEFAULT").read_text().strip()
    assert listing["default"] == default
    assert str(site) in json.dumps(listing)


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path
