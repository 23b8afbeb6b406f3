"""The store layout: deterministic, sanitised, never outside the store."""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from archive_colorizer.errors import OutputError
from archive_colorizer.services import store

KEY = "0123456789abcdef" * 4


def _relpath(
    volume: str, master: str, model: str = "iizuka.fixture", page: int = 0
) -> PurePosixPath:
    return store.derivative_relpath(
        volume=volume, master_path=master, page_index=page, model_name=model, idempotency_key=KEY
    )


def test_documented_layout() -> None:
    assert _relpath("Volume 1", "box 3/page-0001.tif", page=2) == PurePosixPath(
        "Volume_1/box_3/page-0001-p0003.iizuka.fixture.01234567.tif"
    )
    forced = store.derivative_relpath(
        volume="v", master_path="a.tif", page_index=0, model_name="m", idempotency_key=KEY,
        generation=3,
    )  # fmt: skip
    assert forced.name == "a-p0001.m.01234567.g3.tif"


@pytest.mark.parametrize(
    "master",
    ["../../x.tif", "/etc/passwd", "..", "a/../../b.tif", "..\\..\\x.tif", ".hidden.tif", ""],
)
def test_hostile_master_names_stay_inside(tmp_path: Path, master: str) -> None:
    relpath = _relpath("../vol", master)
    assert ".." not in relpath.parts and not relpath.is_absolute()
    assert not any(part.startswith(".") for part in relpath.parts)
    target = store.inside_store(tmp_path, relpath)
    assert target.is_relative_to(tmp_path.resolve())


component = st.text(min_size=0, max_size=120)


@settings(max_examples=300, deadline=None)
@given(volume=component, parts=st.lists(component, min_size=1, max_size=5), model=component)
def test_any_names_give_a_path_inside_the_store(volume: str, parts: list[str], model: str) -> None:
    root = Path("/srv/archcolor-store")
    relpath = _relpath(volume, "/".join(parts), model=model)
    assert all(part not in ("", ".", "..") and "/" not in part for part in relpath.parts)
    assert all(len(part.encode()) <= 255 for part in relpath.parts)  # NAME_MAX
    joined = os.path.normpath(root / Path(*relpath.parts))
    assert joined.startswith(str(root) + os.sep)
    assert relpath == _relpath(volume, "/".join(parts), model=model)  # deterministic


def test_symlink_out_of_the_store_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "store"
    root.mkdir()
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    (root / "vol").symlink_to(outside, target_is_directory=True)
    with pytest.raises(OutputError, match="outside the store"):
        store.inside_store(root, "vol/page.tif")
    with pytest.raises(OutputError):
        store.inside_store(root, "../page.tif")


def test_sweep_keeps_files_of_live_workers(tmp_path: Path) -> None:
    final = tmp_path / "v" / "page.tif"
    final.parent.mkdir()
    live = store.staging_path(final, 7, "aaaa")
    dead = store.staging_path(final, 8, "bbbb")
    inner = dead.with_name(f".{dead.name}.x1y2.partial")  # the TIFF writer's own temporary
    for path in (live, dead, inner):
        path.write_bytes(b"x")
    removed = store.sweep_temporaries(tmp_path, lambda job, token: (job, token) == (7, "aaaa"))
    assert sorted(removed) == sorted([dead, inner])
    assert live.exists()


def test_stale_staging_of_the_same_derivative(tmp_path: Path) -> None:
    final = tmp_path / "page.tif"
    mine = store.staging_path(final, 3, "aaaa")
    killed = store.staging_path(final, 3, "bbbb")
    killed_inner = killed.with_name(f".{killed.name}.q1w2.partial")
    other = store.staging_path(tmp_path / "other.tif", 4, "bbbb")
    for path in (mine, killed, killed_inner, other):
        path.write_bytes(b"x")
    assert sorted(store.stale_staging(final, "aaaa")) == sorted([killed, killed_inner])
