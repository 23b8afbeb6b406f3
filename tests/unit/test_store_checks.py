"""The store is checked before any work: a folder archcolor can create and write into."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from archive_colorizer.errors import OutputError
from archive_colorizer.services.store import ensure_writable


def test_a_missing_store_is_created(tmp_path: Path) -> None:
    store = tmp_path / "a" / "b" / "store"
    assert ensure_writable(store) == store.resolve()
    assert store.is_dir() and list(store.iterdir()) == []  # the probe leaves nothing behind


@pytest.mark.parametrize("below", [False, True])
def test_a_file_in_the_way_is_one_line(tmp_path: Path, below: bool) -> None:
    blocker = tmp_path / "plate.tif"
    blocker.write_bytes(b"II*\x00")
    store = blocker / "store" if below else blocker
    with pytest.raises(OutputError) as caught:
        ensure_writable(store)
    message = str(caught.value)
    assert str(blocker) in message and "not a folder" in message and "--store" in message
    assert "\n" not in message
    assert blocker.read_bytes() == b"II*\x00"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into folders without write permission")
def test_an_unwritable_store_is_one_line(tmp_path: Path) -> None:
    store = tmp_path / "store"
    store.mkdir()
    store.chmod(0o555)
    try:
        with pytest.raises(OutputError, match="not writable"):
            ensure_writable(store)
        with pytest.raises(OutputError, match="permission denied"):
            ensure_writable(store / "sub")
    finally:
        store.chmod(0o755)
