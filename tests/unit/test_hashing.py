"""File snapshots: did a file keep its bytes while something read it?"""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from archive_colorizer.imaging.hashing import changes_since, sha256_file, snapshot


def _file(tmp_path: Path) -> Path:
    path = tmp_path / "master.tif"
    path.write_bytes(bytes(range(256)) * 1000)
    return path


def test_an_untouched_file_has_the_same_sha256_and_no_changes(tmp_path: Path) -> None:
    path = _file(tmp_path)
    before = snapshot(path)
    assert before.sha256 == hashlib.sha256(path.read_bytes()).hexdigest()
    assert before.size == 256_000
    path.read_bytes()  # reading changes nothing
    assert changes_since(before) == (before.sha256, [])


def test_bytes_edited_in_place_give_another_sha256(tmp_path: Path) -> None:
    path = _file(tmp_path)
    before = snapshot(path)
    with open(path, "r+b") as stream:
        stream.seek(1000)
        stream.write(b"\xff" * 16)
    digest, _changed = changes_since(before)
    assert digest == sha256_file(path)[0] != before.sha256


def test_a_file_replaced_by_the_same_bytes_shows_as_changed(tmp_path: Path) -> None:
    path = _file(tmp_path)
    before = snapshot(path)
    copy = tmp_path / "copy.tmp"
    copy.write_bytes(path.read_bytes())
    copy.replace(path)
    digest, changed = changes_since(before)
    assert digest == before.sha256 and "inode" in changed


def test_a_deleted_file_raises(tmp_path: Path) -> None:
    path = _file(tmp_path)
    before = snapshot(path)
    path.unlink()
    with pytest.raises(FileNotFoundError):
        changes_since(before)
