"""Write a file atomically: a hidden temporary beside the target, fsync, rename, fsync folder."""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

__all__ = [
    "atomic_path",
    "current_umask",
    "file_mode",
    "fsync_directory",
    "hidden_temporary",
    "write_bytes_atomically",
]


@functools.cache
def _umask_read_once() -> int:
    """The umask by setting and restoring it, once per process: ``os.umask`` changes a
    process-wide setting, so a thread creating a file meanwhile could get the wrong mode."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def current_umask() -> int:
    """The process umask, read without changing it where the system says it (Linux:
    ``Umask:`` in /proc/self/status), else set and restored once and remembered."""
    try:
        with open("/proc/self/status", encoding="ascii", errors="replace") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8) & 0o777
    except (OSError, ValueError, IndexError):
        pass
    return _umask_read_once()


def file_mode() -> int:
    """Permissions of a new ordinary file under the user's umask (``0o666 & ~umask``), as
    ``open()`` would make it; ``mkstemp`` alone makes 0600 whatever the umask."""
    return 0o666 & ~current_umask()


def fsync_directory(directory: Path) -> None:
    """Make a rename durable (POSIX); a no-op where folders cannot be opened."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def hidden_temporary(target: Path, suffix: str) -> Path:
    """A new empty file ``.<name>.<random><suffix>`` beside ``target`` with the mode new files
    get (:func:`file_mode`); the caller removes or renames it."""
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=suffix, dir=target.parent)
    os.close(fd)
    temporary = Path(name)
    os.chmod(temporary, file_mode())
    return temporary


@contextlib.contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` atomically.

    The temporary file (``.<name>.<random>.partial``) is fsynced before the rename and the
    folder after it. On any exception the temporary file is removed and ``target`` is untouched.
    """
    target = Path(target)
    temporary = hidden_temporary(target, ".partial")
    try:
        yield temporary
        with open(temporary, "rb+") as stream:
            os.fsync(stream.fileno())
        os.replace(temporary, target)
        fsync_directory(target.parent)
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def write_bytes_atomically(target: Path, data: bytes) -> None:
    """Replace ``target`` with ``data`` atomically (see :func:`atomic_path`)."""
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)
