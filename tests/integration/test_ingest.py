"""Ingest on a real catalog (SQLite and PostgreSQL): facts, rejections, idempotence, history."""

from __future__ import annotations

import os
from datetime import UTC, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from archive_colorizer.catalog.open import open_catalog
from archive_colorizer.catalog.schema import Event, Scan, ScanState, Volume
from archive_colorizer.config import Settings
from archive_colorizer.errors import PathNotFoundError
from archive_colorizer.provenance import EventType, agent
from archive_colorizer.services.ingest import FileOutcome, FileStatus, ingest
from tests import factories
from tests.volumes import build_mixed_volume, duplicate


def _current(engine: Engine, path: str) -> list[Scan]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Scan)
                .where(Scan.path == path, Scan.state != ScanState.SUPERSEDED)
                .order_by(Scan.page_index)
            )
        )


def _events(engine: Engine, scan_id: int) -> list[Event]:
    with Session(engine) as session:
        return list(session.scalars(select(Event).where(Event.scan_id == scan_id)))


def test_mixed_volume_is_catalogued_with_facts_and_reasons(engine: Engine, tmp_path: Path) -> None:
    volume = tmp_path / "vol-1"
    expected = build_mixed_volume(volume)
    seen: list[str] = []

    summary = ingest(engine, Settings(), [volume], on_file=lambda o: seen.append(o.path))

    assert seen == sorted(seen)  # walked in sorted order
    good = {name: spec for name, spec in expected.items() if spec.reason is None}
    bad = {name: spec for name, spec in expected.items() if spec.reason is not None}
    assert summary.files == len(expected)
    assert summary.ingested == len(good)
    assert summary.rejected == len(bad)
    assert summary.unchanged == summary.changed == summary.duplicates == 0
    assert summary.pages == sum(spec.pages for spec in good.values())
    assert summary.skipped_reduced == 1
    assert summary.bytes == sum((volume / name).stat().st_size for name in good) + sum(
        (volume / name).stat().st_size
        for name in bad
        if (volume / name).is_file() and not (volume / name).is_symlink()
    )
    for name, spec in good.items():
        rows = _current(engine, name)
        assert [row.page_index for row in rows] == list(range(spec.pages)), name
        for row in rows:
            assert row.state == ScanState.INGESTED and row.reason is None
            assert row.page_count == spec.pages
            assert row.root == str(volume)
            assert row.size == (volume / name).stat().st_size
            assert row.sha256 is not None and len(row.sha256) == 64
            assert row.width == 64 and row.height == 48
            assert row.skipped_reduced == spec.skipped_reduced
            for attribute, value in (
                ("photometric", spec.photometric),
                ("bits_per_sample", spec.bits),
                ("samples_per_pixel", spec.samples),
                ("compression", spec.compression),
                ("tiled", spec.tiled),
                ("tiff_flavour", spec.flavour),
                ("byte_order", spec.byte_order),
            ):
                if value is not None:
                    assert getattr(row, attribute) == value, (name, attribute)
            assert row.x_resolution == pytest.approx(600.0)
            assert row.resolution_unit == "inch"
            assert row.created_at.utcoffset() == timedelta(0)
            types = [event.type for event in _events(engine, row.id)]
            assert types == [
                EventType.MESSAGE_DIGEST_CALCULATION,
                EventType.FORMAT_IDENTIFICATION,
                EventType.INGESTION,
            ]
    for name, spec in bad.items():
        [row] = _current(engine, name)
        assert row.state == ScanState.REJECTED, name
        assert spec.reason is not None and row.reason is not None
        assert spec.reason.lower() in row.reason.lower(), (name, row.reason)
        assert "\n" not in row.reason
        rejection = [e for e in _events(engine, row.id) if e.type == EventType.REJECTION]
        assert len(rejection) == 1 and rejection[0].outcome == "failure"
        assert rejection[0].agent == agent()
        assert rejection[0].occurred_at.tzinfo is not None


def test_second_run_reports_everything_unchanged(engine: Engine, tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    expected = build_mixed_volume(volume)
    ingest(engine, Settings(), [volume])
    with Session(engine) as session:
        rows_before = len(session.scalars(select(Scan)).all())
        events_before = len(session.scalars(select(Event)).all())

    again = ingest(engine, Settings(), [volume])

    assert again.unchanged == len(expected)
    assert again.ingested == again.changed == again.rejected == again.duplicates == 0
    with Session(engine) as session:
        assert len(session.scalars(select(Scan)).all()) == rows_before
        assert len(session.scalars(select(Event)).all()) == events_before


def test_changed_bytes_make_a_new_version_and_keep_history(engine: Engine, tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    factories.write_multipage(volume / "book.tif", pages=2)
    ingest(engine, Settings(), [volume])
    [old_first, old_second] = _current(engine, "book.tif")

    factories.write_multipage(volume / "book.tif", pages=3, seed=7)  # rescanned
    outcomes: list[FileOutcome] = []
    summary = ingest(engine, Settings(), [volume], on_file=outcomes.append)

    assert summary.changed == 1 and summary.ingested == 0 and summary.pages == 3
    assert [o.status for o in outcomes] == [FileStatus.CHANGED]
    new_rows = _current(engine, "book.tif")
    assert [row.version for row in new_rows] == [2, 2, 2]
    assert new_rows[0].sha256 != old_first.sha256
    with Session(engine) as session:
        olds = session.scalars(
            select(Scan).where(Scan.id.in_([old_first.id, old_second.id])).order_by(Scan.id)
        ).all()
        assert [row.state for row in olds] == [ScanState.SUPERSEDED] * 2
        assert [row.superseded_by_id for row in olds] == [new_rows[0].id, new_rows[1].id]
        assert olds[0].sha256 == old_first.sha256  # history kept as it was
    replacement = [e for e in _events(engine, new_rows[0].id) if e.type == EventType.REPLACEMENT]
    assert len(replacement) == 1 and f"scan #{old_first.id}" in replacement[0].detail

    assert ingest(engine, Settings(), [volume]).unchanged == 1


def test_same_content_at_two_paths_is_a_duplicate(engine: Engine, tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    factories.write_gray8(volume / "a.tif")
    duplicate(volume, "a.tif", "copies/a-again.tif")

    summary = ingest(engine, Settings(), [volume])

    assert (summary.ingested, summary.duplicates) == (1, 1)
    [original] = _current(engine, "a.tif")
    [copy] = _current(engine, "copies/a-again.tif")
    assert copy.state == ScanState.INGESTED and copy.sha256 == original.sha256
    [note] = [e for e in _events(engine, copy.id) if e.type == EventType.DUPLICATE_DETECTION]
    assert f"scan #{original.id}" in note.detail and note.outcome == "warning"
    assert ingest(engine, Settings(), [volume]).unchanged == 2


def test_rejected_file_that_is_fixed_is_ingested(engine: Engine, tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    factories.write_truncated(volume / "page.tif")
    assert ingest(engine, Settings(), [volume]).rejected == 1
    assert ingest(engine, Settings(), [volume]).unchanged == 1  # still broken: nothing new

    factories.write_gray8(volume / "page.tif")  # replaced with a good scan
    summary = ingest(engine, Settings(), [volume])

    assert (summary.ingested, summary.rejected, summary.changed) == (1, 0, 0)
    [row] = _current(engine, "page.tif")
    assert row.state == ScanState.INGESTED and row.version == 2


def test_raising_the_pixel_limit_accepts_a_previously_rejected_file(
    engine: Engine, tmp_path: Path
) -> None:
    volume = tmp_path / "vol"
    factories.write_tiff(volume / "large.tif", width=200, height=100)
    assert ingest(engine, Settings(pixel_limit=10_000), [volume]).rejected == 1
    [rejected] = _current(engine, "large.tif")
    assert rejected.reason is not None and "decompression-bomb" in rejected.reason

    summary = ingest(engine, Settings(pixel_limit=20_000), [volume])

    assert summary.ingested == 1
    [row] = _current(engine, "large.tif")
    assert row.width == 200 and row.sha256 == rejected.sha256 and row.version == 2


def test_volume_defaults_to_folder_name_and_option_overrides(
    engine: Engine, tmp_path: Path
) -> None:
    factories.write_gray8(tmp_path / "box-7" / "a.tif")
    factories.write_gray8(tmp_path / "box-8" / "b.tif", seed=1)
    ingest(engine, Settings(), [tmp_path / "box-7", tmp_path / "box-8" / "b.tif"])
    ingest(engine, Settings(), [tmp_path / "box-7"], volume="Collected")
    with Session(engine) as session:
        names = session.scalars(select(Volume.name).order_by(Volume.name)).all()
        assert names == ["Collected", "box-7", "box-8"]
        row = session.scalars(select(Scan).where(Scan.path == "b.tif")).one()
        assert row.volume.name == "box-8" and row.root == str(tmp_path / "box-8")


def test_missing_path_fails_before_anything_is_written(engine: Engine, tmp_path: Path) -> None:
    factories.write_gray8(tmp_path / "vol" / "a.tif")
    with pytest.raises(PathNotFoundError, match="no-such-folder"):
        ingest(engine, Settings(), [tmp_path / "vol", tmp_path / "no-such-folder"])
    with Session(engine) as session:
        assert session.scalars(select(Scan)).all() == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files without read permission")
def test_unreadable_file_is_rejected(engine: Engine, tmp_path: Path) -> None:
    path = factories.write_gray8(tmp_path / "vol" / "locked.tif")
    path.chmod(0)
    try:
        summary = ingest(engine, Settings(), [tmp_path / "vol"])
    finally:
        path.chmod(0o644)
    assert summary.rejected == 1
    [row] = _current(engine, "locked.tif")
    assert row.reason is not None and "unreadable" in row.reason


def test_special_files_are_rejected_without_being_opened(engine: Engine, tmp_path: Path) -> None:
    (tmp_path / "vol").mkdir()
    os.mkfifo(tmp_path / "vol" / "pipe.tif")  # opening it would block forever

    summary = ingest(engine, Settings(), [tmp_path / "vol"])

    assert summary.rejected == 1
    [row] = _current(engine, "pipe.tif")
    assert row.reason == "not a regular file (FIFO)"


def test_mtime_is_utc_and_matches_the_file(engine: Engine, tmp_path: Path) -> None:
    path = factories.write_gray8(tmp_path / "vol" / "a.tif")
    os.utime(path, ns=(1_600_000_000_000_000_000, 1_600_000_000_123_456_000))
    ingest(engine, Settings(), [tmp_path / "vol"])
    [row] = _current(engine, "a.tif")
    assert row.mtime is not None and row.mtime.tzinfo is not None
    assert row.mtime.astimezone(UTC).timestamp() == pytest.approx(1_600_000_000.123456)


def test_duplicate_of_a_file_from_an_earlier_run(engine: Engine, tmp_path: Path) -> None:
    factories.write_gray8(tmp_path / "v1" / "a.tif")
    ingest(engine, Settings(), [tmp_path / "v1"])
    [original] = _current(engine, "a.tif")
    duplicate(tmp_path, "v1/a.tif", "v2/copy.tif")

    outcomes: list[FileOutcome] = []
    summary = ingest(engine, Settings(), [tmp_path / "v2"], on_file=outcomes.append)

    assert summary.duplicates == 1
    assert outcomes[0].reason is not None and f"scan #{original.id} v1/a.tif" in outcomes[0].reason


def test_small_batches_give_the_same_catalog(
    engine: Engine, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from archive_colorizer.services import ingest as ingest_module

    monkeypatch.setattr(ingest_module, "BATCH_FILES", 2)
    volume = tmp_path / "vol"
    expected = build_mixed_volume(volume)
    duplicate(volume, "04_gray8_lzw.tif", "zz_copy.tif")

    summary = ingest(engine, Settings(), [volume])

    assert summary.files == len(expected) + 1 and summary.duplicates == 1
    assert ingest(engine, Settings(), [volume]).unchanged == len(expected) + 1


def test_own_catalog_and_store_inside_the_volume_are_skipped(tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    factories.write_gray8(volume / "a.tif")
    (volume / "archcolor-store").mkdir()
    (volume / "archcolor-store" / "derivative.tif").write_bytes(b"not ours to ingest")
    settings = Settings(
        database_url=f"sqlite:///{volume / 'catalog.sqlite3'}", store=volume / "archcolor-store"
    )
    with open_catalog(settings.database_url) as engine:
        first = ingest(engine, settings, [volume])
        second = ingest(engine, settings, [volume])
    assert (first.files, first.ingested, first.rejected) == (1, 1, 0)
    assert (second.files, second.unchanged) == (1, 1)
