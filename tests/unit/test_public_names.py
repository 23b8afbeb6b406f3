"""Each module's ``__all__`` is its public face: what other rooms (packages) use of it.

A name another room takes from a module, with ``from module import name`` or as ``module.name``
after importing the module, must be in that module's ``__all__``; every name in ``__all__`` must
exist. Tests and imports inside a room are free to use anything.
"""

from __future__ import annotations

import ast
import importlib
from collections import defaultdict
from pathlib import Path

import archive_colorizer

PACKAGE = Path(archive_colorizer.__file__).parent
ROOT = PACKAGE.parent


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _is_module(name: str) -> bool:
    return (ROOT / Path(*name.split("."))).with_suffix(".py").is_file() or (
        ROOT / Path(*name.split(".")) / "__init__.py"
    ).is_file()


def used_from_outside() -> dict[str, set[tuple[str, str]]]:
    """module → {(name, where)} for the names other rooms use of it."""
    used: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        aliases: dict[str, str] = {}  # local name → module it stands for
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                for alias in node.names:
                    full = f"{source}.{alias.name}"
                    if _is_module(full):
                        aliases[alias.asname or alias.name] = full
                    elif source.startswith("archive_colorizer.") and _room(source) != _room(module):
                        used[source].add((alias.name, f"{module}:{node.lineno}"))
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    if alias.asname and _is_module(alias.name):
                        aliases[alias.asname] = alias.name
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and isinstance(node.value, ast.Name)
                and node.value.id in aliases
            ):
                target = aliases[node.value.id]
                if target.startswith("archive_colorizer.") and _room(target) != _room(module):
                    used[target].add((node.attr, f"{module}:{node.lineno}"))
    return used


def test_names_other_rooms_use_are_in_all() -> None:
    missing = []
    for module, names in sorted(used_from_outside().items()):
        public = getattr(importlib.import_module(module), "__all__", None)
        for name, where in sorted(names):
            if _is_module(f"{module}.{name}"):
                continue
            if public is None or name not in public:
                missing.append(f"{where} uses {module}.{name}, not in its __all__")
    assert missing == []


def test_every_all_names_what_the_module_defines() -> None:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        module = _module_name(path)
        if "_shipped" in module or module.endswith("__main__"):
            continue
        loaded = importlib.import_module(module)
        for name in getattr(loaded, "__all__", ()):
            if not hasattr(loaded, name) and not _is_module(f"{module}.{name}"):
                wrong.append(f"{module}.__all__ names {name}, which it does not define")
    assert wrong == []
