"""Streamed sha256 of files: fixity without holding a file in memory."""

from __future__ import annotations

import hashlib
from pathlib import Path

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
