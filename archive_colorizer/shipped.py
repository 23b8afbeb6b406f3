"""Where the files archcolor ships beside its code live: the Alembic ``migrations`` and ``models``.

In a source tree (a checkout, an editable install, the container image) they are the top-level
``migrations/`` and ``models/`` folders next to the package. A wheel built from that tree carries
the same folders inside the package, as ``archive_colorizer/_shipped/<name>/`` (pyproject maps
them there), so ``pip install archive-colorizer`` works without the source tree.
"""

from __future__ import annotations

from pathlib import Path

__all__ = [
    "shipped_dir",
]

#: the folders shipped with the code
NAMES = ("migrations", "models")


def shipped_dir(name: str) -> Path:
    """The shipped folder ``name``: the source tree's when present, else the installed copy.

    The path may not exist (a broken install); callers say what is missing and what to do.
    """
    if name not in NAMES:
        raise ValueError(f"unknown shipped folder {name!r}; known: {', '.join(NAMES)}")
    package = Path(__file__).resolve().parent
    source_tree = package.parent / name
    if source_tree.is_dir():
        return source_tree
    return package / "_shipped" / name
