"""Colour hints in the catalog: import (all or nothing), no-op re-import, history, clear."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from archive_colorizer.catalog.schema import Event, HintSet, Scan
from archive_colorizer.config import Settings
from archive_colorizer.errors import ConfigurationError, HintsError, NotFoundError
from archive_colorizer.provenance import EventType
from archive_colorizer.services.hints import (
    FORMAT,
    clear_hints,
    current_hints,
    export_hints,
    hint_maps,
    import_hints,
    list_hints,
)
from archive_colorizer.services.ingest import ingest
from tests import factories


@pytest.fixture
def volume(engine: Engine, tmp_path: Path) -> Path:
    """Volume ``plates``: a 64x48 page, a 2-page file and a 40x30 page stored rotated
    (Orientation 6: displayed 30 wide, 40 high)."""
    folder = tmp_path / "plates"
    factories.write_gray8(folder / "a.tif", width=64, height=48)
    factories.write_multipage(folder / "b.tif", pages=2)
    factories.write_tiff(folder / "rot.tif", width=40, height=30, orientation=6)
    ingest(engine, Settings(), [folder])
    return folder


def _write(tmp_path: Path, document: dict[str, Any], name: str = "hints.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def _document(**pages: Any) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "volume": "plates",
        "author": "A. Curator",
        "pages": [
            {
                "file": "a.tif",
                "hints": [
                    {"point": [10, 12], "radius": 3, "color": "#A01C2C", "note": "kaftan"},
                    {"stroke": [[0, 0], [20, 5]], "radius": 2, "lab": [70, -5, -30]},
                ],
            },
            {"file": "b.tif", "page": 1, "hints": [{"point": [63, 47], "color": "#336699"}]},
            {"file": "rot.tif", "hints": [{"point": [29, 39], "color": "#112233"}]},
        ],
        **pages,
    }


def _counts(engine: Engine) -> tuple[int, int, int]:
    with Session(engine) as session:
        sets = session.scalar(select(func.count()).select_from(HintSet)) or 0
        current = (
            session.scalar(
                select(func.count()).select_from(HintSet).where(HintSet.is_current.is_(True))
            )
            or 0
        )
        events = (
            session.scalar(
                select(func.count())
                .select_from(Event)
                .where(Event.type.in_([EventType.HINT_IMPORT, EventType.HINT_CLEAR]))
            )
            or 0
        )
    return sets, current, events


def test_import_list_reimport_history_export_clear(
    engine: Engine, volume: Path, tmp_path: Path
) -> None:
    path = _write(tmp_path, _document())
    first = import_hints(engine, path)
    assert (first.pages, first.imported, first.unchanged, first.hints) == (3, 3, 0, 4)
    assert _counts(engine) == (3, 3, 3)

    again = import_hints(engine, path)  # the same file: nothing changes
    assert (again.imported, again.unchanged) == (0, 3)
    assert _counts(engine) == (3, 3, 3)

    with Session(engine) as session:  # the rotated page's hint lands at its displayed place
        rot = session.scalars(select(Scan).where(Scan.path == "rot.tif")).one()
        hint_set = current_hints(session, rot.id)
        assert hint_set is not None and hint_set.hint_count == 1
        maps = hint_maps(rot, hint_set, (15, 20))  # half of the displayed 30 x 40
    assert maps.mask.shape == (20, 15) and maps.count == 1 and maps.mask[19, 14] == 1

    listed = list_hints(engine, volume="plates")
    assert [(row.path, row.page, row.hints) for row in listed] == [
        ("a.tif", 0, 2),
        ("b.tif", 1, 1),
        ("rot.tif", 0, 1),
    ]
    assert {row.author for row in listed} == {"A. Curator"}
    assert all(len(row.sha256) == 64 and row.earlier_sets == 0 for row in listed)
    json.dumps([row.as_dict() for row in listed])  # JSON-able

    changed = _document()
    changed["pages"][0]["hints"][0]["color"] = "#a01c2d"
    changed["author"] = "B. Curator"
    second = import_hints(engine, _write(tmp_path, changed, "v2.json"))
    assert (second.imported, second.unchanged) == (1, 2)
    assert _counts(engine) == (4, 3, 4)  # the old set of a.tif is kept, no longer current
    a_tif = next(row for row in list_hints(engine, volume="plates") if row.path == "a.tif")
    assert (a_tif.author, a_tif.earlier_sets, a_tif.source) == ("B. Curator", 1, "v2.json")
    assert list_hints(engine, scan_id=a_tif.scan_id) == [a_tif]

    exported = export_hints(engine, volume="plates")
    assert exported["format"] == FORMAT and len(exported["pages"]) == 3
    assert exported["pages"][0]["hints"][0] == {
        "point": [10, 12],
        "radius": 3,
        "color": "#a01c2d",
        "note": "kaftan",
    }
    reexported = import_hints(engine, _write(tmp_path, exported, "exported.json"))
    assert (reexported.imported, reexported.unchanged) == (0, 3)  # export round-trips

    cleared = clear_hints(engine, scan_id=a_tif.scan_id, author="C. Curator")
    assert cleared.cleared == 1
    assert _counts(engine) == (4, 2, 5)
    assert [row.path for row in list_hints(engine)] == ["b.tif", "rot.tif"]
    with Session(engine) as session:
        scan = session.get(Scan, a_tif.scan_id)
        assert scan is not None
        details = [e.detail for e in scan.events if e.type.startswith("hint-")]
    assert "chosen by A. Curator" in details[0] and "replacing hint set" in details[1]
    assert "withdrawn by C. Curator" in details[2]

    assert clear_hints(engine, volume="plates").cleared == 2
    assert _counts(engine) == (4, 0, 7)
    with pytest.raises(NotFoundError, match="no current colour hints"):
        export_hints(engine, volume="plates")
    # importing after a clear records the hints again
    assert import_hints(engine, path).imported == 3


def _broken(change: str) -> dict[str, Any]:
    document = _document()
    pages = document["pages"]
    if change == "outside":
        pages[1]["hints"].append({"point": [64, 10], "color": "#000000"})
    elif change == "outside-rotated":
        pages[2]["hints"] = [{"point": [35, 5], "color": "#000000"}]  # stored 40 wide
    elif change == "stroke-outside":
        pages[0]["hints"][1]["stroke"].append([10, -1])
    elif change == "unknown-file":
        pages.append({"file": "zz.tif", "hints": [{"point": [1, 1], "color": "#000000"}]})
    elif change == "unknown-page":
        pages[1]["page"] = 2
    elif change == "unknown-scan":
        pages.append({"scan": 999, "hints": [{"point": [1, 1], "color": "#000000"}]})
    elif change == "unknown-volume":
        document["volume"] = "nope"
    elif change == "bad-hex":
        pages[2]["hints"][0]["color"] = "#12345"
    elif change == "bad-lab":
        pages[0]["hints"][1]["lab"] = [120, 0, 0]
    elif change == "twice":
        pages.append(dict(pages[0]))
    elif change == "typo":
        pages[0]["hints"][0]["colour"] = pages[0]["hints"][0].pop("color")
    return document


BROKEN = {
    "outside": r"pages\[1\]\.hints\[1\]: point \(64, 10\) is outside b\.tif page 1, which is 64x48",
    "outside-rotated": r"point \(35, 5\) is outside rot\.tif page 0, which is 30x40 px",
    "stroke-outside": r"pages\[0\]\.hints\[1\]: point \(10, -1\) is outside a\.tif",
    "unknown-file": r"pages\[3\]: unknown page: volume 'plates' has no file 'zz\.tif'",
    "unknown-page": r"unknown page: b\.tif has 2 page\(s\) \(0\.\.1\), not page 2",
    "unknown-scan": r"pages\[3\]: unknown page: no scan with id 999",
    "unknown-volume": r"unknown volume 'nope'",
    "bad-hex": r"malformed colour \"#12345\"",
    "bad-lab": r"malformed colour \[120, 0, 0\]",
    "twice": r"pages\[3\]: a\.tif page 0 .* is already given at pages\[0\]",
    "typo": r"unknown key 'colour'",
}


@pytest.mark.parametrize("change", sorted(BROKEN))
def test_bad_files_change_nothing(
    engine: Engine, volume: Path, tmp_path: Path, change: str
) -> None:
    import_hints(engine, _write(tmp_path, _document(), "good.json"))
    before = _counts(engine)
    document = _broken(change)
    document["pages"][0]["hints"][0]["radius"] = 5  # a real change, were the file accepted
    with pytest.raises(HintsError, match=BROKEN[change]) as raised:
        import_hints(engine, _write(tmp_path, document))
    assert "\n" not in str(raised.value)
    assert _counts(engine) == before


def test_not_json_and_wrong_format(engine: Engine, tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text('{"format": "archcolor-hints/1", "pages": [', encoding="utf-8")
    with pytest.raises(HintsError, match=r"bad\.json: not valid JSON \(line 1 column"):
        import_hints(engine, path)
    with pytest.raises(HintsError, match=r"'format' must be 'archcolor-hints/1'"):
        import_hints(engine, _write(tmp_path, {"pages": []}))
    assert _counts(engine) == (0, 0, 0)


def test_export_needs_a_volume_when_several_have_hints(
    engine: Engine, volume: Path, tmp_path: Path
) -> None:
    with pytest.raises(NotFoundError, match="holds no colour hints"):
        export_hints(engine)
    import_hints(engine, _write(tmp_path, _document()))
    assert export_hints(engine)["volume"] == "plates"  # the only one
    other = tmp_path / "other"
    factories.write_gray8(other / "x.tif")
    ingest(engine, Settings(), [other])
    page = {"file": "x.tif", "hints": [{"point": [1, 1], "color": "#000000"}]}
    document = {"format": FORMAT, "volume": "other", "pages": [page]}
    assert import_hints(engine, _write(tmp_path, document), author="D. Curator").imported == 1
    assert list_hints(engine, volume="other")[0].author == "D. Curator"
    with pytest.raises(ConfigurationError, match=r"2 volumes .*export one with --volume"):
        export_hints(engine)
    with pytest.raises(NotFoundError, match="no scan with id 999"):
        list_hints(engine, scan_id=999)
