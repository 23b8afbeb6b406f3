"""Find the files under the paths given to `archcolor ingest`, in a stable sorted order.

Folders are walked recursively, entries sorted by name. Symbolic links are followed while they
stay inside the folder being ingested; one whose target leaves it (``ln -s /etc vol/etc``) is
not followed unless ``follow_links`` is given (`ingest --follow-links`), so nothing outside the
folder is read by accident. Such a link, one that leads back to a folder being walked (a loop)
or cannot be resolved, like unreadable folders and special files (FIFOs, sockets, devices —
never opened, they could block), comes back as a candidate carrying a ``problem`` so the caller
can reject it with that reason.
"""

from __future__ import annotations

import errno
import os
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from archive_colorizer.errors import PathNotFoundError


@dataclass(frozen=True)
class Candidate:
    """One file (or unusable entry) found under an ingest root."""

    root: Path  # absolute ingest root (symlinks in it not resolved)
    path: Path  # absolute path to open
    relative: str  # POSIX path relative to root, as catalogued
    size: int = 0  # from stat; 0 when unknown
    mtime_ns: int | None = None
    problem: str | None = None  # why this entry cannot be ingested, if known before reading it
    link_refused: bool = False  # a symbolic link out of the folder, not followed


#: the start of the reason given for a link that leaves the folder being ingested
LINK_LEAVES = "symbolic link leaves the folder being ingested"


def _leaves(root_real: str, path: Path, relative: str) -> str | None:
    """The refusal reason when the link ``path`` resolves outside ``root_real``, else None."""
    target = os.path.realpath(path)
    if os.path.commonpath([root_real, target]) == root_real:
        return None
    return (
        f"{LINK_LEAVES}: {relative} -> {_readlink(path)} (resolves to {target}); not followed "
        "— pass --follow-links to ingest what it points to"
    )


def ingest_root(path: Path) -> tuple[Path, Path]:
    """(root, start) for a path given on the command line: a folder is its own root; a file's
    root is its folder. Raises PathNotFoundError for a path that does not exist."""
    absolute = Path(os.path.abspath(path))
    try:
        info = absolute.stat()
    except FileNotFoundError as error:
        raise PathNotFoundError(
            f"{path}: no such file or folder; check the spelling and that the volume is mounted"
        ) from error
    except OSError as error:
        raise PathNotFoundError(f"{path}: cannot be read ({error.strerror})") from error
    if stat.S_ISDIR(info.st_mode):
        return absolute, absolute
    return absolute.parent, absolute


def walk(
    path: Path, *, exclude: frozenset[str] = frozenset(), follow_links: bool = False
) -> Iterator[Candidate]:
    """Every file under ``path`` (or ``path`` itself when it is a file), sorted by path.

    ``exclude``: real paths (``os.path.realpath``) of files and folders to leave out entirely,
    e.g. archcolor's own catalog database and store when they live inside a volume.
    ``follow_links``: also follow symbolic links whose target is outside the root.
    """
    root, start = ingest_root(path)
    if os.path.realpath(start) in exclude:
        return
    root_real = None if follow_links else os.path.realpath(root)
    if start == root:
        info = root.stat()
        keys = frozenset({(info.st_dev, info.st_ino)})
        yield from _walk_folder(root, root, "", keys, exclude, root_real)
    else:
        if root_real is not None and start.is_symlink():
            reason = _leaves(root_real, start, start.name)
            if reason is not None:
                yield Candidate(root, start, start.name, problem=reason, link_refused=True)
                return
        yield _file_candidate(root, start, start.name)


def _file_candidate(root: Path, path: Path, relative: str) -> Candidate:
    try:
        info = path.stat()
    except OSError as error:
        return Candidate(root, path, relative, problem=_stat_problem(path, error))
    if stat.S_ISREG(info.st_mode):
        return Candidate(root, path, relative, info.st_size, info.st_mtime_ns)
    return Candidate(root, path, relative, problem=f"not a regular file ({_kind(info.st_mode)})")


def _walk_folder(
    root: Path,
    folder: Path,
    relative: str,
    ancestors: frozenset[tuple[int, int]],
    exclude: frozenset[str],
    root_real: str | None,
) -> Iterator[Candidate]:
    real_folder = os.path.realpath(folder)
    try:
        with os.scandir(folder) as scan:
            entries = sorted(
                (e for e in scan if os.path.join(real_folder, e.name) not in exclude),
                key=lambda entry: entry.name,
            )
    except OSError as error:
        yield Candidate(
            root, folder, relative or ".", problem=f"unreadable folder: {error.strerror}"
        )
        return
    for entry in entries:
        child = Path(entry.path)
        child_relative = f"{relative}/{entry.name}" if relative else entry.name
        if root_real is not None and entry.is_symlink():
            reason = _leaves(root_real, child, child_relative)
            if reason is not None:
                yield Candidate(root, child, child_relative, problem=reason, link_refused=True)
                continue
        try:
            info = entry.stat(follow_symlinks=True)
        except OSError as error:
            yield Candidate(root, child, child_relative, problem=_stat_problem(child, error))
            continue
        if stat.S_ISDIR(info.st_mode):
            key = (info.st_dev, info.st_ino)
            if key in ancestors:
                target = os.readlink(child) if entry.is_symlink() else str(child)
                yield Candidate(
                    root,
                    child,
                    child_relative,
                    problem=f"symlink loop: {child_relative} -> {target} leads back to a folder "
                    "containing it",
                )
                continue
            yield from _walk_folder(
                root, child, child_relative, ancestors | {key}, exclude, root_real
            )
        elif stat.S_ISREG(info.st_mode):
            yield Candidate(root, child, child_relative, info.st_size, info.st_mtime_ns)
        else:
            yield Candidate(
                root, child, child_relative, problem=f"not a regular file ({_kind(info.st_mode)})"
            )


def _stat_problem(path: Path, error: OSError) -> str:
    if error.errno == errno.ELOOP:
        return f"symlink loop: {path.name} -> {_readlink(path)} never resolves to a file"
    if error.errno == errno.ENOENT and path.is_symlink():
        return f"broken symlink: {path.name} -> {_readlink(path)} does not exist"
    return f"unreadable: {error.strerror}"


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _kind(mode: int) -> str:
    if stat.S_ISFIFO(mode):
        return "FIFO"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode):
        return "character device"
    if stat.S_ISBLK(mode):
        return "block device"
    return "special file"
