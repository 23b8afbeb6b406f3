"""Image sets for training and evaluation: a data root with ``index.csv`` or a plain folder.

* A folder holding ``index.csv`` (columns ``path,split,source,width,height``; ``path`` relative
  to the folder) selects the rows of one ``split`` (``train``, ``val``, ...).
* Any other folder: every ``.jpg/.jpeg/.png/.tif/.tiff`` below it (sorted); the source of an
  image is the name of its first sub-folder, or ``images`` for files directly inside.

Sources map to content types for per-type reporting (:data:`CONTENT_TYPES`).
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray
from PIL import Image, UnidentifiedImageError

from archive_colorizer.errors import InputError, PathNotFoundError

__all__ = [
    "ImageItem",
    "by_source",
    "list_images",
    "load_rgb",
    "print_books",
    "same_book_references",
    "spread",
]

INDEX_FILE = "index.csv"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".tif", ".tiff")
#: data-set source → content type
CONTENT_TYPES: dict[str, str] = {
    "clothing-co-parsing": "people",
    "clothing-dataset": "garments",
    "debian-wallpaper": "scenes",
    "standardebooks-cover": "paintings",
    "gitenberg-print": "prints",
}
#: sources whose images are real coloured prints (ink x wash x paper): their network input is
#: the decomposed ink layer and their target the wash (:mod:`archive_colorizer.imaging.prints`)
PRINT_SOURCES = frozenset({"gitenberg-print"})


@dataclass(frozen=True)
class ImageItem:
    """One image of a set."""

    path: Path
    source: str

    @property
    def content(self) -> str:
        """Content type (people, garments, scenes, paintings) or the source itself."""
        return CONTENT_TYPES.get(self.source, self.source)

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def is_print(self) -> bool:
        """A real coloured print (see :data:`PRINT_SOURCES`)."""
        return self.source in PRINT_SOURCES


def list_images(root: Path, split: str | None = None) -> list[ImageItem]:
    """The images of ``root`` (see the module docstring); ``split`` applies to ``index.csv``."""
    if not root.exists():
        raise PathNotFoundError(f"{root}: no such data folder")
    if root.is_file():
        return [ImageItem(root, "images")]
    index = root / INDEX_FILE
    if index.is_file():
        return _from_index(root, index, split)
    items = []
    for path in sorted(p for p in root.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES):
        relative = path.relative_to(root)
        source = relative.parts[0] if len(relative.parts) > 1 else "images"
        items.append(ImageItem(path, source))
    if not items:
        raise InputError(f"{root}: no images (.jpg, .png, .tif) found and no {INDEX_FILE}")
    return items


def _from_index(root: Path, index: Path, split: str | None) -> list[ImageItem]:
    items = []
    with index.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"path", "split", "source"} <= set(reader.fieldnames):
            raise InputError(f"{index}: needs the columns path, split, source")
        for row in reader:
            if split is None or row["split"] == split:
                items.append(ImageItem(root / row["path"], row["source"]))
    if not items:
        raise InputError(f"{index}: no rows with split {split!r}")
    return items


def by_source(items: list[ImageItem]) -> dict[str, list[ImageItem]]:
    """Items grouped by source (sources sorted, items in listing order)."""
    groups: dict[str, list[ImageItem]] = {}
    for item in items:
        groups.setdefault(item.source, []).append(item)
    return {source: groups[source] for source in sorted(groups)}


def load_rgb(path: Path) -> NDArray[np.uint8]:
    """An image file as uint8 RGB ``(H, W, 3)``; InputError naming the file when unreadable."""
    try:
        with Image.open(path) as image:
            return np.asarray(image.convert("RGB"), dtype=np.uint8)
    except (OSError, UnidentifiedImageError) as error:
        raise InputError(f"{path}: cannot read image ({error}); remove it from the set") from None


def spread(items: list[ImageItem], count: int) -> list[ImageItem]:
    """``count`` items evenly spaced through ``items`` (all of them if fewer)."""
    if count <= 0:
        return []
    if len(items) <= count:
        return list(items)
    if count == 1:
        return [items[0]]
    return [items[round(i * (len(items) - 1) / (count - 1))] for i in range(count)]


#: the prints' provenance table beside index.csv (path, ..., pg_id: the book they come from)
PRINT_SOURCES_FILE = "prints-sources.csv"


def print_books(root: Path) -> dict[Path, str]:
    """``{image path: book id}`` of the real coloured prints under ``root`` (from
    ``prints-sources.csv``'s ``pg_id``; empty when the table is missing)."""
    table = root / PRINT_SOURCES_FILE
    if not table.is_file():
        return {}
    with table.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        if reader.fieldnames is None or not {"path", "pg_id"} <= set(reader.fieldnames):
            raise InputError(f"{table}: needs the columns path and pg_id")
        return {root / row["path"]: row["pg_id"] for row in reader if row["pg_id"]}


def same_book_references(
    items: list[ImageItem], pool: list[ImageItem], books: dict[Path, str]
) -> list[ImageItem | None]:
    """For each of ``items``, another print of the same book from ``pool`` (the next one after
    it in path order, wrapping round), or None when its book has no other print there."""
    by_book: dict[str, list[Path]] = {}
    for item in pool:
        if item.path in books:
            by_book.setdefault(books[item.path], []).append(item.path)
    chosen: list[ImageItem | None] = []
    for item in items:
        others = sorted(by_book.get(books.get(item.path, ""), []))
        if item.path in others:
            others = others[others.index(item.path) + 1 :] + others[: others.index(item.path)]
        others = [path for path in others if path != item.path]
        chosen.append(ImageItem(others[0], item.source) if others else None)
    return chosen
