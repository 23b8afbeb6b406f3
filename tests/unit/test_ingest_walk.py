"""Finding files to ingest: sorted, recursive, loops and special files reported, not followed."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archive_colorizer.errors import PathNotFoundError
from archive_colorizer.services.ingest import default_volume_name
from archive_colorizer.services.walk import walk


def _touch(path: Path, data: bytes = b"x") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def test_walk_is_recursive_and_sorted(tmp_path: Path) -> None:
    for name in ["b.tif", "a/z.tif", "a/b/c.tif", "A.tif", "c.tif"]:
        _touch(tmp_path / name)
    found = [candidate.relative for candidate in walk(tmp_path)]
    assert found == ["A.tif", "a/b/c.tif", "a/z.tif", "b.tif", "c.tif"]
    assert all(candidate.root == tmp_path for candidate in walk(tmp_path))


def test_a_file_path_is_its_own_candidate(tmp_path: Path) -> None:
    _touch(tmp_path / "vol" / "page.tif", b"12345")
    [candidate] = list(walk(tmp_path / "vol" / "page.tif"))
    assert (candidate.root, candidate.relative, candidate.size) == (
        tmp_path / "vol",
        "page.tif",
        5,
    )
    assert default_volume_name(tmp_path / "vol" / "page.tif") == "vol"


def test_symlink_loops_are_reported_not_followed(tmp_path: Path) -> None:
    _touch(tmp_path / "sub" / "page.tif")
    os.symlink("..", tmp_path / "sub" / "up")
    os.symlink(tmp_path, tmp_path / "sub" / "absolute-up")
    os.symlink("self", tmp_path / "self")
    found = {candidate.relative: candidate.problem for candidate in walk(tmp_path)}
    assert found["sub/page.tif"] is None
    for name in ("sub/up", "sub/absolute-up", "self"):
        assert str(found[name]).startswith("symlink loop"), name
    assert len(found) == 4


def test_symlinked_folder_elsewhere_is_followed_only_when_asked(tmp_path: Path) -> None:
    _touch(tmp_path / "elsewhere" / "page.tif")
    (tmp_path / "vol").mkdir()
    os.symlink(tmp_path / "elsewhere", tmp_path / "vol" / "linked")
    [refused] = list(walk(tmp_path / "vol"))
    assert refused.relative == "linked" and refused.link_refused
    assert refused.problem is not None and "--follow-links" in refused.problem
    [candidate] = list(walk(tmp_path / "vol", follow_links=True))
    assert candidate.relative == "linked/page.tif" and candidate.problem is None


def test_links_out_of_the_folder_are_not_followed(tmp_path: Path) -> None:
    """Attack 7: `ln -s /etc vol/link_etc` read every file under /etc."""
    _touch(tmp_path / "outside" / "secret.tif")
    _touch(tmp_path / "vol" / "sub" / "page.tif")
    os.symlink("/etc", tmp_path / "vol" / "link_etc")
    os.symlink(tmp_path / "outside" / "secret.tif", tmp_path / "vol" / "secret.tif")
    os.symlink("../../outside", tmp_path / "vol" / "sub" / "up-and-out")
    os.symlink("sub", tmp_path / "vol" / "inside")  # stays inside: followed
    found = {c.relative: c for c in walk(tmp_path / "vol")}
    assert sorted(found) == [
        "inside/page.tif",
        "inside/up-and-out",
        "link_etc",
        "secret.tif",
        "sub/page.tif",
        "sub/up-and-out",
    ]
    for name in ("inside/up-and-out", "link_etc", "secret.tif", "sub/up-and-out"):
        assert found[name].link_refused and "leaves the folder" in str(found[name].problem)
    # a link named on the command line is held to the same rule (shell globs expand to links)
    [named] = list(walk(tmp_path / "vol" / "secret.tif"))
    assert named.link_refused
    [followed] = list(walk(tmp_path / "vol" / "secret.tif", follow_links=True))
    assert followed.problem is None and followed.size == 1


def test_broken_symlink_and_fifo_are_problems(tmp_path: Path) -> None:
    (tmp_path / "vol").mkdir()
    os.symlink("gone.tif", tmp_path / "vol" / "link.tif")
    os.mkfifo(tmp_path / "vol" / "pipe")
    found = {candidate.relative: candidate.problem for candidate in walk(tmp_path / "vol")}
    assert found["link.tif"] is not None and "broken symlink" in found["link.tif"]
    assert found["pipe"] == "not a regular file (FIFO)"


def test_missing_path_raises_before_walking(tmp_path: Path) -> None:
    with pytest.raises(PathNotFoundError, match="nope"):
        list(walk(tmp_path / "nope"))
