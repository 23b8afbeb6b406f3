"""The rooms' arrows point one way, and the command line starts without the heavy libraries.

cli → services → {catalog, imaging, inference, provenance}; config and errors are importable by
all; torch only under inference/. Every import counts, also those inside functions; imports
under ``if TYPE_CHECKING:`` count too, except that the CLI may name services' types there.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import archive_colorizer

PACKAGE = Path(archive_colorizer.__file__).parent
ROOT = PACKAGE.parent

#: config-level modules: anyone may import them
SHARED = {"archive_colorizer", "archive_colorizer.config", "archive_colorizer.errors"}
#: room → rooms it must never import
FORBIDDEN = {
    "cli": {"catalog", "imaging", "inference", "provenance"},
    "services": {"cli"},
    "catalog": {"cli", "services", "imaging", "inference"},
    "imaging": {"cli", "services", "catalog", "inference"},
    "inference": {"cli", "services", "catalog"},
    "provenance": {"cli", "services", "catalog", "imaging", "inference"},
    "config": {"cli", "services", "catalog", "imaging", "inference", "provenance"},
    "errors": {"cli", "services", "catalog", "imaging", "inference", "provenance"},
}
#: the CLI's only way into the services at run time
CLI_DOOR = "archive_colorizer.services.api"
HEAVY = ("sqlalchemy", "alembic", "torch")


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str:
    parts = module.split(".")
    if len(parts) == 1:
        return ""
    return parts[1]


def _type_checking_nodes(tree: ast.AST) -> set[int]:
    """ids of the import nodes inside ``if TYPE_CHECKING:`` blocks."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                inside.update(id(n) for n in ast.walk(child))
    return inside


def imports_of(path: Path) -> list[tuple[str, int, bool]]:
    """(imported module, line, under TYPE_CHECKING) for every import in ``path``."""
    module = _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(encoding="utf-8"))
    typing_only = _type_checking_nodes(tree)
    found: list[tuple[str, int, bool]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno, id(node) in typing_only) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            # `from archive_colorizer.services import api` imports the module services.api
            for alias in node.names:
                found.append((f"{name}.{alias.name}", node.lineno, id(node) in typing_only))
    return found


def layering_violations(package: Path = PACKAGE) -> list[str]:
    problems = []
    for path in sorted(package.rglob("*.py")):
        module = _module_name(path)
        room = _room(module)
        for imported, line, typing_only in imports_of(path):
            where = f"{path.relative_to(package.parent)}:{line}: {module} imports {imported}"
            top = imported.split(".")[0]
            if top == "torch" and room != "inference":
                problems.append(f"{where} (torch only under inference/)")
            if top != "archive_colorizer":
                continue
            target = _room(imported)
            if target in FORBIDDEN.get(room, set()):
                problems.append(f"{where} ({room} must not import {target})")
            through_door = imported == CLI_DOOR or imported.startswith(CLI_DOOR + ".")
            if room == "cli" and target == "services" and not typing_only and not through_door:
                problems.append(f"{where} (the CLI calls services through {CLI_DOOR})")
    return problems


def test_every_import_points_down() -> None:
    assert layering_violations() == []


def test_a_wrong_way_import_is_caught(tmp_path: Path) -> None:
    """The check itself: a CLI module importing the catalog, an imaging module importing
    services and torch outside inference/ are each reported."""
    fake = tmp_path / "archive_colorizer"
    for room, text in {
        "cli": "from archive_colorizer.catalog.open import open_catalog\n",
        "imaging": "def f():\n    from archive_colorizer.services import store\n    import torch\n",
    }.items():
        (fake / room).mkdir(parents=True)
        (fake / room / "__init__.py").write_text("")
        (fake / room / "bad.py").write_text(text)
    (fake / "__init__.py").write_text("")
    global ROOT
    saved, ROOT = ROOT, tmp_path
    try:
        problems = layering_violations(fake)
    finally:
        ROOT = saved
    assert len(problems) == 3, problems
    assert any("cli must not import catalog" in p for p in problems)
    assert any("imaging must not import services" in p for p in problems)
    assert any("torch only under inference/" in p for p in problems)


def _loaded_after(argv: list[str]) -> list[str]:
    code = (
        "import sys\n"
        "from archive_colorizer.cli.app import run\n"
        f"status = run({argv!r})\n"
        f"print(status, sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return done.stdout.strip().splitlines()[-1].split(maxsplit=1)  # after any help text


@pytest.mark.parametrize(
    ("argv", "status"),
    [
        (["--help"], "0"),
        (["process", "--help"], "0"),
        (["--no-such-option"], "2"),
        (["export", "--format"], "2"),
    ],
)
def test_help_and_usage_errors_import_no_database_or_torch(argv: list[str], status: str) -> None:
    assert _loaded_after(argv) == [status, "[]"]
