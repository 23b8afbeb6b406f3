"""Streamed sha256 of files: fixity without holding a file in memory; snapshots that tell
whether a file changed while it was being read."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHUNK_BYTES",
    "FileSnapshot",
    "changes_since",
    "sha256_file",
    "snapshot",
]

#: read size for hashing; large enough to run near disk/hash speed, small enough to stay flat
CHUNK_BYTES = 4 * 1024 * 1024


def sha256_file(path: Path) -> tuple[str, int]:
    """Return (hex sha256, size in bytes) of the file at ``path``, read in chunks."""
    digest = hashlib.sha256()
    size = 0
    buffer = bytearray(CHUNK_BYTES)
    view = memoryview(buffer)
    with open(path, "rb", buffering=0) as stream:
        while True:
            n = stream.readinto(buffer)
            if not n:
                break
            digest.update(view[:n])
            size += n
    return digest.hexdigest(), size


#: the stat fields compared by :func:`changes_since`, in :func:`file_identity` order
IDENTITY_FIELDS = ("device", "inode", "size", "mtime", "ctime")


def file_identity(path: Path) -> tuple[int, int, int, int, int]:
    """What changes when a file's bytes change: device, inode, size, mtime and ctime (ns).

    ctime cannot be set back by a program, so a change that restores the same bytes and mtime
    still shows here."""
    facts = os.stat(path)
    return (facts.st_dev, facts.st_ino, facts.st_size, facts.st_mtime_ns, facts.st_ctime_ns)


@dataclass(frozen=True)
class FileSnapshot:
    """A file's sha256 and stat identity, taken before reading it for some other purpose."""

    path: Path
    sha256: str
    size: int
    identity: tuple[int, int, int, int, int]


def snapshot(path: Path) -> FileSnapshot:
    """Stat ``path``, then hash it (the stat first, so a change during hashing shows later)."""
    identity = file_identity(path)
    digest, size = sha256_file(path)
    return FileSnapshot(Path(path), digest, size, identity)


def changes_since(before: FileSnapshot) -> tuple[str, list[str]]:
    """The file's sha256 now and the stat fields that changed since ``before`` (stat, then
    hash). Same sha256 and no changed field: the file held the same bytes throughout, so
    whatever was read from it in between was read from those bytes.

    The caller reads a page by offset, not every byte, so this whole-file check before and
    after stands in for hashing the bytes as they are read. FileNotFoundError when the file is
    gone."""
    after = file_identity(before.path)
    digest, _size = sha256_file(before.path)
    changed = [
        name
        for name, old, new in zip(IDENTITY_FIELDS, before.identity, after, strict=True)
        if old != new
    ]
    return digest, changed
