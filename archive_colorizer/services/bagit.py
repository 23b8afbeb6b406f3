"""Write the tag files of a BagIt 1.0 bag (RFC 8493) around an existing ``data/`` payload.

The payload files are written (and hashed) by the caller; this module writes

* ``bagit.txt`` — version and encoding;
* ``bag-info.txt`` — Bag-Software-Agent, Bagging-Date, Payload-Oxum (``bytes.files``),
  Bag-Size, Bag-Count-style archcolor counts and any extra fields the caller gives;
* ``manifest-sha256.txt`` — one ``<sha256>  data/<path>`` line per payload file, sorted (also a
  valid ``sha256sum -c`` file when run from the bag's folder);
* ``tagmanifest-sha256.txt`` — sha256 of every tag file above plus the caller's extra tag files
  (for archcolor: ``manifest.csv`` and ``manifest.json``).

Paths in manifests are percent-encoded for CR, LF and ``%`` as RFC 8493 requires.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from archive_colorizer import __version__
from archive_colorizer.imaging.atomic import write_bytes_atomically
from archive_colorizer.imaging.hashing import sha256_file

__all__ = ["BAG_VERSION", "encode_path", "manifest_lines", "write_bag_tags"]

BAG_VERSION = "1.0"


def encode_path(path: str) -> str:
    """A manifest path with ``%``, CR and LF percent-encoded (RFC 8493 section 2.1.3)."""
    return path.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def manifest_lines(entries: Iterable[tuple[str, str]]) -> str:
    """``<sha256>  <path>`` lines (sha256sum format), sorted by path, for (path, sha256)."""
    return "".join(f"{digest}  {encode_path(path)}\n" for path, digest in sorted(entries))


def _size(total: int) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if total < 1024 or unit == "TB":
            return f"{total} {unit}" if unit == "B" else f"{total:.1f} {unit}"
        total = total / 1024  # type: ignore[assignment]
    return f"{total} B"  # pragma: no cover


def _write_text(path: Path, text: str) -> None:
    write_bytes_atomically(path, text.encode("utf-8"))


def write_bag_tags(
    bag: Path,
    payload: Mapping[str, tuple[str, int]],
    *,
    bagging_date: str,
    info: Mapping[str, str] | None = None,
    extra_tag_files: Iterable[str] = (),
) -> None:
    """Write the tag files of the bag at ``bag`` (see the module docstring).

    ``payload`` maps each payload path relative to the bag (``data/...``) to (sha256, bytes);
    ``extra_tag_files`` are tag files (relative to the bag) already written by the caller.
    """
    total = sum(size for _digest, size in payload.values())
    _write_text(
        bag / "bagit.txt", f"BagIt-Version: {BAG_VERSION}\nTag-File-Character-Encoding: UTF-8\n"
    )
    fields = {
        "Bag-Software-Agent": f"archcolor {__version__}",
        "Bagging-Date": bagging_date,
        "Payload-Oxum": f"{total}.{len(payload)}",
        "Bag-Size": _size(total),
        **dict(info or {}),
    }
    text = "".join(f"{key}: {' '.join(str(value).split())}\n" for key, value in fields.items())
    _write_text(bag / "bag-info.txt", text)
    _write_text(
        bag / "manifest-sha256.txt",
        manifest_lines((path, digest) for path, (digest, _size) in payload.items()),
    )
    tags = ["bagit.txt", "bag-info.txt", "manifest-sha256.txt", *extra_tag_files]
    entries = [(name, sha256_file(bag / name)[0]) for name in tags]
    _write_text(bag / "tagmanifest-sha256.txt", manifest_lines(entries))
