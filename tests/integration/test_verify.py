"""`verify`: fixity of catalogued masters, and decoding in a guarded child process."""

from __future__ import annotations

from pathlib import Path

import pytest
import tifffile
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from archive_colorizer.catalog.schema import Event
from archive_colorizer.config import Settings
from archive_colorizer.errors import NotFoundError
from archive_colorizer.provenance import EventType
from archive_colorizer.services.ingest import ingest
from archive_colorizer.services.verify import FixityStatus, VerifyOutcome, verify
from tests import factories


def _fixity_events(engine: Engine) -> list[Event]:
    with Session(engine) as session:
        return list(
            session.scalars(
                select(Event).where(Event.type == EventType.FIXITY_CHECK).order_by(Event.id)
            )
        )


def test_intact_missing_and_changed_files(engine: Engine, tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    factories.write_gray8(volume / "a.tif")
    factories.write_multipage(volume / "b.tif", pages=2)
    factories.write_gray8(volume / "c.tif", seed=3)
    factories.write_zero_byte(volume / "d.tif")  # rejected: not verified
    ingest(engine, Settings(), [volume])

    first = verify(engine, Settings())
    assert (first.files, first.pages, first.ok, first.failures) == (3, 4, 3, 0)
    assert [e.outcome for e in _fixity_events(engine)] == ["success"] * 4

    (volume / "a.tif").unlink()
    data = bytearray((volume / "c.tif").read_bytes())
    data[-1] ^= 0xFF
    (volume / "c.tif").write_bytes(bytes(data))
    outcomes: list[VerifyOutcome] = []
    second = verify(engine, Settings(), on_file=outcomes.append)

    assert (second.ok, second.missing, second.changed) == (1, 1, 1)
    assert {o.path: o.status for o in outcomes} == {
        "a.tif": FixityStatus.MISSING,
        "b.tif": FixityStatus.OK,
        "c.tif": FixityStatus.CHANGED,
    }
    failures = [e for e in _fixity_events(engine)[4:] if e.outcome == "failure"]
    assert len(failures) == 2
    assert any("does not exist" in e.detail for e in failures)
    assert any("archcolor ingest" in e.detail for e in failures)


def test_verify_one_volume_and_unknown_volume(engine: Engine, tmp_path: Path) -> None:
    factories.write_gray8(tmp_path / "v1" / "a.tif")
    factories.write_gray8(tmp_path / "v2" / "b.tif")
    ingest(engine, Settings(), [tmp_path / "v1", tmp_path / "v2"])
    assert verify(engine, Settings(), volume="v2").files == 1
    with pytest.raises(NotFoundError, match="v1, v2"):
        verify(engine, Settings(), volume="v3")


def test_decode_finds_pixel_data_that_does_not_decode(engine: Engine, tmp_path: Path) -> None:
    volume = tmp_path / "vol"
    factories.write_tiff(volume / "good.tif", "gray8", compression="deflate")
    bad = factories.write_tiff(
        volume / "bad.tif", "gray8", width=256, height=256, compression="deflate"
    )
    with tifffile.TiffFile(bad) as tif:
        offset, count = tif.pages[0].dataoffsets[0], tif.pages[0].databytecounts[0]
    data = bytearray(bad.read_bytes())
    data[offset : offset + count] = b"\xa5" * count  # tags intact, compressed stream garbage
    bad.write_bytes(bytes(data))
    assert ingest(engine, Settings(), [volume]).ingested == 2

    summary = verify(engine, Settings(), decode=True)

    assert (summary.ok, summary.undecodable) == (1, 1)
    with Session(engine) as session:
        validations = session.scalars(
            select(Event).where(Event.type == EventType.VALIDATION).order_by(Event.id)
        ).all()
    assert sorted(e.outcome for e in validations) == ["failure", "success"]
