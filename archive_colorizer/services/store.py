"""Where derivatives live: a deterministic, sanitised layout that never leaves the store.

Layout (every component sanitised by :func:`slug`)::

    <store>/<volume>/<folders of the master…>/<stem>-p<page>.<model>.<key8>[.g<generation>].tif

* ``<volume>``: the volume name; ``<folders…>`` and ``<stem>``: the master's path relative to its
  ingest root, without its suffix; ``<page>``: 1-based page number in the file, 4 digits;
* ``<model>``: the model name; ``<key8>``: the first 8 hex digits of the job's idempotency key
  (so another model, other parameters or other master bytes never overwrite this file);
* ``.g<generation>`` only for re-runs (``--force``/``--repair``), so older derivatives stay.

Sanitising: NFKC-normalised, anything but ``A-Z a-z 0-9 . _ -`` becomes ``_``, leading dots are
dropped (no hidden files, no ``..``), each component is at most 80 characters (longer ones keep
a hash of the original so distinct names stay distinct). :func:`inside_store` resolves the path
(following symbolic links) and refuses anything outside the store.

Files being written are hidden: ``.<final name>.job<id>-<worker token>.part`` (and the writer's
own ``….partial`` temporaries) beside the final file; :func:`sweep_temporaries` removes those
left behind by workers that died.

:func:`ensure_writable` is the check every command that writes into the store makes first: the
store is a folder (created if missing) in which archcolor can create files.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path, PurePosixPath

from archive_colorizer.errors import OutputError

__all__ = [
    "MAX_COMPONENT",
    "derivative_relpath",
    "ensure_writable",
    "inside_store",
    "slug",
    "staging_path",
    "stale_staging",
    "sweep_temporaries",
    "temporaries",
]

MAX_COMPONENT = 80
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_STAGING = re.compile(r"\.job(?P<job>\d+)-(?P<token>[0-9a-f]+)\.part")


def slug(text: str) -> str:
    """A safe single path component for ``text`` (never empty, never ``.``/``..``, no ``/``)."""
    normal = unicodedata.normalize("NFKC", text)
    cleaned = _UNSAFE.sub("_", normal).lstrip(".")
    if not cleaned.strip("_-"):
        cleaned = "_" + hashlib.sha256(text.encode()).hexdigest()[:8] if text else "_"
    if len(cleaned) > MAX_COMPONENT:
        digest = hashlib.sha256(text.encode()).hexdigest()[:8]
        cleaned = cleaned[: MAX_COMPONENT - 9] + "-" + digest
    return cleaned


def derivative_relpath(
    *,
    volume: str,
    master_path: str,
    page_index: int,
    model_name: str,
    idempotency_key: str,
    generation: int = 1,
) -> PurePosixPath:
    """The derivative's path relative to the store (see the module docstring)."""
    master = PurePosixPath(master_path.replace("\\", "/"))
    folders = [slug(part) for part in master.parent.parts if part not in ("", "/")]
    stem = master.name.rsplit(".", 1)[0] if "." in master.name.lstrip(".") else master.name
    suffix = "" if generation <= 1 else f".g{generation}"
    name = (
        f"{slug(stem)}-p{page_index + 1:04d}.{slug(model_name)}.{idempotency_key[:8]}{suffix}.tif"
    )
    return PurePosixPath(slug(volume), *folders, name)


def inside_store(store: Path, relpath: PurePosixPath | str) -> Path:
    """The absolute path of ``relpath`` under ``store``; OutputError if it would leave it."""
    root = Path(store).resolve()
    relative = PurePosixPath(relpath)
    if relative.is_absolute() or ".." in relative.parts:
        raise OutputError(f"derivative path {str(relpath)!r} is not a plain path inside the store")
    target = (root / Path(*relative.parts)).resolve()
    if not target.is_relative_to(root) or target == root:
        raise OutputError(
            f"derivative path {str(relpath)!r} resolves to {target}, outside the store {root} "
            "(a symbolic link in the store?); remove the link or choose another --store"
        )
    return target


def staging_path(final: Path, job_id: int, token: str) -> Path:
    """The hidden file a worker writes before renaming it to ``final``."""
    return final.with_name(f".{final.name}.job{job_id}-{token}.part")


def stale_staging(final: Path, token: str) -> list[Path]:
    """Temporary files for ``final`` written by workers other than ``token`` (whose job this
    worker now holds, so they are dead or have lost their lease)."""
    found = []
    for pattern in (f".{final.name}.job*.part", f"..{final.name}.job*.partial"):
        for path in final.parent.glob(pattern):
            match = _STAGING.search(path.name)
            if match is not None and match["token"] != token:
                found.append(path)
    return found


def temporaries(store: Path) -> Iterator[tuple[Path, int | None, str | None]]:
    """Hidden temporary files under ``store``: (path, job id, worker token) when known."""
    root = Path(store)
    if not root.is_dir():
        return
    for folder, _dirs, files in os.walk(root):
        for name in files:
            if not name.startswith(".") or not name.endswith((".part", ".partial")):
                continue
            found = _STAGING.search(name)
            if found is None:
                yield Path(folder) / name, None, None
            else:
                yield Path(folder) / name, int(found["job"]), found["token"]


def sweep_temporaries(
    store: Path, still_writing: Callable[[int, str], bool], *, unknown_older_than: float = 3600.0
) -> list[Path]:
    """Delete temporaries whose writer is gone; returns them.

    A staging file is kept while ``still_writing(job id, worker token)`` says its worker still
    holds that job. Files of unknown origin are deleted when older than ``unknown_older_than``
    seconds.
    """
    import time

    removed = []
    now = time.time()
    for path, job_id, token in temporaries(store):
        try:
            if job_id is not None and token is not None:
                if still_writing(job_id, token):
                    continue
            elif now - path.stat().st_mtime < unknown_older_than:
                continue
            path.unlink()
            removed.append(path)
        except FileNotFoundError:
            continue
    return removed


def ensure_writable(store: Path) -> Path:
    """Create ``store`` if missing and prove that files can be created in it (a hidden probe
    file, removed at once); return its resolved path. Otherwise OutputError, one line naming
    the obstacle: a file where a folder should be, a folder without write permission, a
    read-only file system."""
    path = Path(store)
    hint = "choose another --store (ARCHCOLOR_STORE)"
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise OutputError(
            f"cannot use {path} as the store: {_not_a_folder(path)} is not a folder; {hint}"
        ) from error
    except OSError as error:
        raise OutputError(f"cannot create the store {path}: {_reason(error)}; {hint}") from error
    try:
        fd, probe = tempfile.mkstemp(prefix=".archcolor-probe-", suffix=".partial", dir=path)
    except OSError as error:
        raise OutputError(f"the store {path} is not writable: {_reason(error)}; {hint}") from error
    os.close(fd)
    os.unlink(probe)
    return path.resolve()


def _not_a_folder(path: Path) -> Path:
    """The first component of ``path`` (from the top) that exists but is not a folder."""
    for part in reversed([path, *path.parents]):
        if part.exists() and not part.is_dir():
            return part
    return path  # e.g. a dangling symbolic link


def _reason(error: OSError) -> str:
    return (error.strerror or str(error)).lower()
