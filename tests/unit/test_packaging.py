"""pyproject.toml lists every package of the source tree (setuptools packs only what it lists)."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _tree_packages() -> set[str]:
    """Python packages under archive_colorizer/, plus the folders pyproject maps into _shipped."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    found = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for init in (ROOT / "archive_colorizer").rglob("__init__.py")
    }
    for package, folder in config["setuptools"]["package-dir"].items():
        found.add(package)
        for sub in (ROOT / folder).iterdir():
            if sub.is_dir() and any(sub.glob("*.py")):
                found.add(f"{package}.{sub.name}")
    return found


def test_pyproject_lists_every_package() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]
    assert set(config["setuptools"]["packages"]) == _tree_packages()
