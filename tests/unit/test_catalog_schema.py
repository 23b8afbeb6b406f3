"""The catalog schema: UTC timestamps, naming convention, constraints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, StatementError
from sqlalchemy.orm import Session

from archive_colorizer.catalog.open import open_catalog
from archive_colorizer.catalog.schema import Base, Event, Scan, UtcDateTime, Volume


def test_constraint_names_follow_the_convention() -> None:
    scans = Base.metadata.tables["scans"]
    names = {constraint.name for constraint in scans.constraints}
    assert {
        "pk_scans",
        "fk_scans_volume_id_volumes",
        "fk_scans_superseded_by_id_scans",
        "uq_scans_volume_id_path_version_page_index",
        "ck_scans_state",
    } <= names
    assert {index.name for index in scans.indexes} >= {"ix_scans_sha256", "ix_scans_state"}


def test_bind_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        UtcDateTime().process_bind_param(datetime(2024, 1, 1), dialect=None)  # type: ignore[arg-type]


def test_timestamps_round_trip_as_aware_utc(database_url: str) -> None:
    paris_summer = timezone(timedelta(hours=2))
    moment = datetime(2024, 7, 1, 12, 30, 15, 123456, tzinfo=paris_summer)
    with open_catalog(database_url) as engine:
        with Session(engine) as session:
            session.add(Volume(name="v", created_at=moment))
            session.commit()
        with Session(engine) as session:
            stored = session.scalars(select(Volume.created_at)).one()
    assert stored.tzinfo is not None and stored.utcoffset() == timedelta(0)
    assert stored == moment
    assert stored.hour == 10  # converted to UTC


def test_naive_datetime_is_refused_by_the_database_layer(database_url: str) -> None:
    with open_catalog(database_url) as engine, Session(engine) as session:
        session.add(Volume(name="v", created_at=datetime(2024, 1, 1)))
        with pytest.raises(StatementError, match="timezone-aware"):
            session.commit()


@settings(max_examples=30, deadline=None)
@given(
    st.datetimes(
        min_value=datetime(1970, 1, 2),
        max_value=datetime(2200, 1, 1),
        timezones=st.sampled_from(
            [UTC, timezone(timedelta(hours=-7)), timezone(timedelta(hours=13))]
        ),
    )
)
def test_utc_conversion_preserves_the_instant(moment: datetime) -> None:
    from sqlalchemy.dialects import postgresql, sqlite

    for dialect in (sqlite.dialect(), postgresql.dialect()):
        bound = UtcDateTime().process_bind_param(moment, dialect)
        assert bound is not None
        back = UtcDateTime().process_result_value(bound, dialect)
        assert back == moment and back is not None and back.utcoffset() == timedelta(0)


def test_state_is_checked_and_foreign_keys_enforced(database_url: str) -> None:
    with open_catalog(database_url) as engine:
        with Session(engine) as session:
            volume = Volume(name="v")
            session.add(volume)
            session.flush()
            session.add(Scan(volume=volume, path="a.tif", root="/r", state="lost"))
            with pytest.raises(IntegrityError):
                session.commit()
        with Session(engine) as session:
            session.add(Event(scan_id=12345, type="ingestion", outcome="success", agent="x"))
            with pytest.raises(IntegrityError):
                session.commit()
