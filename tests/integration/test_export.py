"""`export` and `report` services on a real catalog: pages ingested and colorized by the real
`process` command (fixture model), then exported in every form."""

from __future__ import annotations

import csv
import json
import os
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import bagit
import pytest
import tifffile
from PIL import Image
from sqlalchemy import select, update
from sqlalchemy.orm import Session

from archive_colorizer.catalog.engine import create_catalog_engine
from archive_colorizer.catalog.schema import Derivative, Job, JobState
from archive_colorizer.cli.app import run
from archive_colorizer.errors import NothingToExportError, OutputError
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.metadata import parse_xmp, srgb_icc_profile
from archive_colorizer.imaging.synthetic import write_synthetic_page
from archive_colorizer.services.export import ExportOptions, ExportSummary, export, inside_folder
from archive_colorizer.services.report import write_report
from archive_colorizer.services.store import slug

#: the queue and export run the untrained fixture model: fast, and independent of the shipped
#: default
pytestmark = pytest.mark.usefixtures("fixture_model_default")

SIZES = [(300, 400), (260, 200), (320, 240)]


def make_catalog(root: Path, url: str, volume: str = "vol-1", sizes: list[tuple[int, int]] = SIZES
                 ) -> Path:  # fmt: skip
    """Ingest generated masters (in a sub-folder too) and colorize them; returns the store."""
    masters = root / "masters"
    for number, (width, height) in enumerate(sizes):
        folder = masters / ("sub" if number == 2 else "")
        write_synthetic_page(folder / f"page-{number:02d}.tif", width=width, height=height,
                             compression="deflate", seed=number)  # fmt: skip
    store = root / "store"
    base = ["--db", url, "--store", str(store)]
    assert run([*base, "ingest", str(masters), "--volume", volume]) == 0
    assert run([*base, "process", "--pending", "--model", "iizuka.fixture", "--device", "cpu",
                "--chroma-size", "64", "--json", "--poll-seconds", "0.05"]) == 0  # fmt: skip
    return store


@pytest.fixture(scope="module")
def catalog(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    root = tmp_path_factory.mktemp("catalog")
    url = f"sqlite:///{root / 'catalog.sqlite3'}"
    return url, make_catalog(root, url)


def _export(url: str, store: Path, **options: Any) -> ExportSummary:
    engine = create_catalog_engine(url)
    try:
        return export(engine, store, ExportOptions(**options))
    finally:
        engine.dispose()


def _check_manifest(out: Path) -> dict[str, str]:
    listed = {}
    for line in (out / "manifest-sha256.txt").read_text().splitlines():
        digest, path = line.split("  ", 1)
        assert sha256_file(out / path)[0] == digest, path
        listed[path] = digest
    return listed


@pytest.mark.slow
def test_tiff_export_is_the_derivative_with_manifests_and_is_idempotent(
    database_url: str, tmp_path: Path
) -> None:
    store = make_catalog(tmp_path, database_url, sizes=SIZES[:2])
    out = tmp_path / "out"
    summary = _export(database_url, store, format="tiff", out=out)
    assert (summary.selected, summary.written, summary.unchanged) == (2, 2, 0)
    listed = _check_manifest(out)
    assert sorted(listed) == ["vol-1/page-00-p0001.tif", "vol-1/page-01-p0001.tif"]
    rows = list(csv.DictReader((out / "manifest.csv").read_text().splitlines()))
    document = json.loads((out / "manifest.json").read_text())
    assert len(rows) == len(document["pages"]) == 2
    for row, (width, height) in zip(rows, SIZES[:2], strict=True):
        exported = out / row["export_path"]
        assert row["export_sha256"] == row["derivative_sha256"] == sha256_file(exported)[0]
        assert row["master_sha256"] == sha256_file(Path(row["master_path"]))[0]
        assert (int(row["width"]), int(row["height"])) == (width, height)
        assert row["model"] == "iizuka.fixture" and len(row["weights_sha256"]) == 64
        assert row["format"] == "tiff"
        with tifffile.TiffFile(exported) as tiff:
            page = tiff.pages[0]
            assert page.shape == (height, width, 3)
            assert page.tags.valueof(282) == (600, 1) and page.tags.valueof(296) == 2
            assert page.tags.valueof(34675) == srgb_icc_profile()
            provenance = parse_xmp(page.tags.valueof(700))
        assert provenance.derived_from_sha256 == row["master_sha256"]
        assert provenance.weights_sha256 == row["weights_sha256"]
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.tif")}

    again = _export(database_url, store, format="tiff", out=out)
    assert (again.written, again.replaced, again.unchanged) == (0, 0, 2)
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*.tif")} == before

    tampered = out / "vol-1" / "page-01-p0001.tif"
    tampered.write_bytes(b"not the derivative")
    fixed = _export(database_url, store, format="tiff", out=out)
    assert (fixed.replaced, fixed.unchanged) == (1, 1)
    assert fixed.replaced_paths == ["vol-1/page-01-p0001.tif"]
    _check_manifest(out)
    assert not [p for p in out.rglob(".*")]  # no temporary files left


def test_bag_validates_and_iiif_has_a_canvas_per_page(
    catalog: tuple[str, Path], tmp_path: Path
) -> None:
    url, store = catalog
    out = tmp_path / "bag"
    summary = _export(url, store, format="jpeg", out=out, bagit=True, max_size=128,
                      iiif_base_url="https://iiif.example.org/archcolor")  # fmt: skip
    assert summary.written == 3
    bag = bagit.Bag(str(out))
    bag.validate()  # raises BagValidationError on any problem
    assert (out / "bagit.txt").read_text().startswith("BagIt-Version: 1.0")
    info = bag.info
    total = sum(p.stat().st_size for p in (out / "data").rglob("*") if p.is_file())
    assert info["Payload-Oxum"] == f"{total}.4"  # 3 pages + 1 IIIF manifest
    assert info["Archcolor-Pages"] == "3"
    manifest = json.loads((out / "data/iiif/vol-1/manifest.json").read_text())
    assert manifest["@context"] == "http://iiif.io/api/presentation/3/context.json"
    assert manifest["type"] == "Manifest"
    canvases = manifest["items"]
    assert [(c["width"], c["height"]) for c in canvases] == [(300, 400), (260, 200), (320, 240)]
    for canvas in canvases:
        annotation = canvas["items"][0]["items"][0]
        assert annotation["motivation"] == "painting" and annotation["target"] == canvas["id"]
        body = annotation["body"]
        assert body["format"] == "image/jpeg"
        # the base URL is where --out is served: the bag's payload is under data/
        assert body["id"].startswith("https://iiif.example.org/archcolor/data/vol-1/")
        relative = body["id"].removeprefix("https://iiif.example.org/archcolor/")
        with Image.open(out / relative) as image:
            assert image.size == (body["width"], body["height"])
            assert max(image.size) == 128
    stale = out / "data" / "vol-1" / ".page-00-p0001.jpg.x1y2.export"  # an interrupted run's
    stale.write_bytes(b"partial")
    again = _export(url, store, format="jpeg", out=out, bagit=True, max_size=128,
                    iiif_base_url="https://iiif.example.org/archcolor")  # fmt: skip
    assert again.unchanged == 3
    assert not stale.exists()
    bagit.Bag(str(out)).validate()
    (out / "data" / "vol-1" / "mine.txt").write_text("not from the export")
    with pytest.raises(OutputError, match="not part of this export"):
        _export(url, store, format="jpeg", out=out, bagit=True, max_size=128)


def test_pyramid_export_and_iiif_image_service(catalog: tuple[str, Path], tmp_path: Path) -> None:
    url, store = catalog
    out = tmp_path / "p"
    summary = _export(url, store, format="tiff", pyramid=True, out=out,
                      iiif_base_url="https://x.org/iiif")  # fmt: skip
    assert summary.written == 3
    _check_manifest(out)
    for record in summary.records:
        with tifffile.TiffFile(out / record.export_path) as tiff:
            assert tiff.pages[0].shape[:2] == (record.height, record.width)
            assert len(tiff.pages) == 2 and int(tiff.pages[1].subfiletype) == 1
    manifest = json.loads((out / "iiif/vol-1/manifest.json").read_text())
    service = manifest["items"][0]["items"][0]["items"][0]["body"]["service"][0]
    assert service["type"] == "ImageService3"
    assert service["id"] == "https://x.org/iiif/iiif/3/vol-1%2Fpage-00-p0001.tif"
    assert _export(url, store, format="tiff", pyramid=True, out=out).unchanged == 3


def test_hostile_names_cannot_leave_the_export_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    store = make_catalog(tmp_path, url, volume="../../escape", sizes=SIZES[:1])
    out = tmp_path / "deep" / "out"
    summary = _export(url, store, format="png", out=out)
    assert summary.written == 1
    files = [p for p in tmp_path.rglob("*.png")]
    assert files and all(p.resolve().is_relative_to(out.resolve()) for p in files)
    assert not (tmp_path / "escape").exists()
    # a symbolic link in the export folder that leads out is refused, nothing written outside
    outside = tmp_path / "outside"
    outside.mkdir()
    other = tmp_path / "out2"
    other.mkdir()
    os.symlink(outside, other / slug("../../escape"))  # the volume's folder
    linked = _export(url, store, format="png", out=other)
    assert linked.written == 0 and len(linked.problems) == 1
    assert "outside the export folder" in linked.problems[0]
    assert list(outside.iterdir()) == []
    with pytest.raises(OutputError):
        inside_folder(out, "../x")
    with pytest.raises(OutputError):
        inside_folder(out, "/etc/passwd")


def test_missing_derivative_is_a_problem_and_nothing_to_export_is_an_error(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    store = make_catalog(tmp_path, url, sizes=SIZES[:2])
    engine = create_catalog_engine(url)
    with Session(engine) as session:
        first = session.scalars(select(Derivative).order_by(Derivative.id)).first()
        assert first is not None
        (store / first.path).unlink()
    summary = _export(url, store, format="tiff", out=tmp_path / "out")
    assert summary.written == 1 and len(summary.problems) == 1
    assert "missing from the store" in summary.problems[0]
    with pytest.raises(NothingToExportError, match="process --pending"):
        _export(url, store, format="tiff", out=tmp_path / "x", model="no.such-model")
    with Session(engine) as session, session.begin():
        session.execute(update(Derivative).values(current=False))
    with pytest.raises(NothingToExportError):
        _export(url, store, format="tiff", out=tmp_path / "x")
    engine.dispose()


def test_report_shows_pages_side_by_side_rejections_and_dead_jobs(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    store = make_catalog(tmp_path, url, sizes=SIZES[:2])
    (tmp_path / "masters" / "broken.tif").write_bytes(b"II*\x00garbage")
    assert run(["--db", url, "--store", str(store), "ingest", str(tmp_path / "masters"),
                "--volume", "vol-1"]) == 3  # fmt: skip
    engine = create_catalog_engine(url)
    with Session(engine) as session, session.begin():
        job = session.scalars(select(Job).order_by(Job.id)).first()
        assert job is not None
        job.state = JobState.DEAD
        job.last_error = "simulated <failure> for the report"
    counts = write_report(engine, store, tmp_path / "r" / "report.html", volume="vol-1")
    engine.dispose()
    assert counts["pages"] == 2 and counts["colorized"] == 2
    assert counts["rejected"] == 1 and counts["jobs_dead"] == 1
    text = (tmp_path / "r" / "report.html").read_text()
    assert text.count('<article class="page"') == 2
    assert len(_tags(tmp_path / "r" / "report.html").images) == 4  # master + colorized per page
    assert _tags(tmp_path / "r" / "report.html").headings == [
        "Counts", "Pages", "Rejected files", "Dead jobs"]  # fmt: skip
    assert "broken.tif" in text and "simulated &lt;failure&gt; for the report" in text
    assert "iizuka.fixture" in text
    assert "http://" not in text.replace("http://www.w3.org", "") and 'src="http' not in text
    with pytest.raises(Exception, match="no volume named"):
        write_report(create_catalog_engine(url), store, tmp_path / "x.html", volume="nope")


# -- IIIF Presentation 3 ----------------------------------------------------------------------

BASE = "https://iiif.example.org/export"


def _ids(node: Any) -> list[str]:
    """Every ``id`` of a Presentation 3 resource tree, in document order."""
    found = []
    if isinstance(node, dict):
        if isinstance(node.get("id"), str):
            found.append(node["id"])
        for value in node.values():
            found.extend(_ids(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(_ids(value))
    return found


def _local(out: Path, url: str) -> Path:
    """The file under the export folder ``out`` that ``url`` names (the base is ``out``'s URL)."""
    assert url.startswith(BASE + "/"), url
    relative = url.removeprefix(BASE + "/")
    assert ".." not in relative.split("/") and "//" not in relative, url
    return out / relative


def validate_presentation3(manifest: dict[str, Any], out: Path, pages: list[tuple[int, int]]
                           ) -> list[dict[str, Any]]:  # fmt: skip
    """Check the Presentation 3.0 rules the export relies on; returns the painting bodies.

    Manifest: @context, id (its own URL, under the base once), type, label (language map),
    items. Canvas: id, type, label, width/height equal to the page, items = AnnotationPages.
    AnnotationPage: id, type, items = Annotations. Annotation: id, type, motivation painting,
    target the canvas, body an Image with id, format, width, height (the file's real size when
    the file is in the export). Every id unique; every id under the base names the export's
    structure, with the volume once; every local file referenced (body, rendering, seeAlso,
    the manifest itself) exists in ``out``."""
    assert manifest["@context"] == "http://iiif.io/api/presentation/3/context.json"
    assert manifest["type"] == "Manifest"
    assert set(manifest["label"]) and all(isinstance(v, list) for v in manifest["label"].values())
    assert _local(out, manifest["id"]).is_file()  # the manifest's id is where it is served
    assert [link["format"] for link in manifest["seeAlso"]] == ["application/json"]
    ids = _ids(manifest)
    assert len(ids) == len(set(ids)), "ids must be unique"
    assert all(i.startswith(BASE + "/") for i in ids), ids
    assert all(i.count("/iiif/") <= 1 for i in ids), ids  # the base is used once
    canvases = manifest["items"]
    assert [(c["width"], c["height"]) for c in canvases] == pages
    bodies = []
    for canvas in canvases:
        assert canvas["type"] == "Canvas" and canvas["label"]
        assert [p["type"] for p in canvas["items"]] == ["AnnotationPage"]
        annotations = canvas["items"][0]["items"]
        assert [a["type"] for a in annotations] == ["Annotation"]
        annotation = annotations[0]
        assert annotation["motivation"] == "painting" and annotation["target"] == canvas["id"]
        body = annotation["body"]
        assert body["type"] == "Image" and body["format"].startswith("image/")
        assert body["width"] >= 1 and body["height"] >= 1
        # the same aspect as the canvas, within a pixel of rounding
        assert abs(body["width"] / body["height"] - canvas["width"] / canvas["height"]) < 0.02
        if "service" not in body:
            with Image.open(_local(out, body["id"])) as image:
                assert image.size == (body["width"], body["height"])
                assert image.format == "JPEG" and body["format"] == "image/jpeg"
        for link in canvas.get("rendering", []) + manifest.get("seeAlso", []):
            assert link["type"] and link["format"] and link["label"]
            assert _local(out, link["id"]).is_file(), link["id"]
        bodies.append(body)
    return bodies


def _manifest(out: Path, relative: str) -> dict[str, Any]:
    return dict(json.loads((out / relative).read_text()))


def test_iiif_without_pyramid_paints_a_web_sized_jpeg_and_links_the_archival_tiff(
    catalog: tuple[str, Path], tmp_path: Path
) -> None:
    url, store = catalog
    out = tmp_path / "bag"
    summary = _export(url, store, format="tiff", out=out, bagit=True, iiif_base_url=BASE,
                      iiif_access_size=200)  # fmt: skip
    assert summary.written == 3
    bagit.Bag(str(out)).validate()  # the access copies are payload, listed in the manifests
    manifest = _manifest(out, "data/iiif/vol-1/manifest.json")
    assert manifest["id"] == f"{BASE}/data/iiif/vol-1/manifest.json"
    bodies = validate_presentation3(manifest, out, SIZES)
    for body, canvas, (width, height) in zip(bodies, manifest["items"], SIZES, strict=True):
        assert "service" not in body  # a level-0 static image
        assert max(body["width"], body["height"]) == min(200, max(width, height))
        assert body["id"].startswith(f"{BASE}/data/iiif/vol-1/access/")
        (archival,) = canvas["rendering"]
        assert archival["format"] == "image/tiff" and archival["id"].endswith(".tif")
        with tifffile.TiffFile(_local(out, archival["id"])) as tiff:
            assert tiff.pages[0].shape == (height, width, 3)
    payload = {p.relative_to(out).as_posix() for p in (out / "data").rglob("*") if p.is_file()}
    document = json.loads((out / "manifest.json").read_text())
    assert payload == {f["path"] for f in document["files"]}
    copies = sorted((out / "data/iiif/vol-1/access").rglob("*.jpg"))
    before = {p: p.stat().st_mtime_ns for p in copies}
    again = _export(url, store, format="tiff", out=out, bagit=True, iiif_base_url=BASE,
                    iiif_access_size=200)  # fmt: skip
    assert again.unchanged == 3 and not again.problems
    assert {p: p.stat().st_mtime_ns for p in copies} == before  # kept, not rewritten
    copies[0].write_bytes(b"damaged")  # a damaged access copy is made again
    _export(url, store, format="tiff", out=out, bagit=True, iiif_base_url=BASE,
            iiif_access_size=200)  # fmt: skip
    with Image.open(copies[0]) as image:
        assert image.format == "JPEG"
    bagit.Bag(str(out)).validate()
    # another size asked: the copies are made again at that size
    _export(url, store, format="tiff", out=out, bagit=True, iiif_base_url=BASE,
            iiif_access_size=150)  # fmt: skip
    bodies = validate_presentation3(_manifest(out, "data/iiif/vol-1/manifest.json"), out, SIZES)
    assert [max(b["width"], b["height"]) for b in bodies] == [150, 150, 150]
    bagit.Bag(str(out)).validate()


def test_iiif_ids_are_the_export_folder_url_once(catalog: tuple[str, Path], tmp_path: Path
                                                 ) -> None:  # fmt: skip
    url, store = catalog
    out = tmp_path / "web"
    _export(url, store, format="jpeg", out=out, max_size=128, iiif_base_url=BASE + "/")
    manifest = _manifest(out, "iiif/vol-1/manifest.json")
    assert manifest["id"] == f"{BASE}/iiif/vol-1/manifest.json"
    bodies = validate_presentation3(manifest, out, SIZES)
    # a web-sized JPEG export is painted itself: no second copy
    assert [b["id"] for b in bodies] == [
        f"{BASE}/vol-1/page-00-p0001.jpg", f"{BASE}/vol-1/page-01-p0001.jpg",
        f"{BASE}/vol-1/sub/page-02-p0001.jpg"]  # fmt: skip
    assert not (out / "iiif/vol-1/access").exists()
    assert all("rendering" not in canvas for canvas in manifest["items"])  # the body is the file
    _check_manifest(out)
    # a PNG (or full-size) export is painted through a JPEG access copy and linked as rendering
    png = tmp_path / "png"
    _export(url, store, format="png", out=png, iiif_base_url=BASE)
    manifest = _manifest(png, "iiif/vol-1/manifest.json")
    bodies = validate_presentation3(manifest, png, SIZES)
    assert bodies[0]["id"] == f"{BASE}/iiif/vol-1/access/page-00-p0001.jpg"
    assert bodies[2]["id"] == f"{BASE}/iiif/vol-1/access/sub/page-02-p0001.jpg"
    assert [c["rendering"][0]["id"] for c in manifest["items"]] == [
        f"{BASE}/vol-1/page-00-p0001.png", f"{BASE}/vol-1/page-01-p0001.png",
        f"{BASE}/vol-1/sub/page-02-p0001.png"]  # fmt: skip
    _check_manifest(png)  # the access copies are listed with their checksums


def test_iiif_with_pyramid_has_an_image_service_and_links_the_pyramid(
    catalog: tuple[str, Path], tmp_path: Path
) -> None:
    url, store = catalog
    out = tmp_path / "p"
    _export(url, store, format="tiff", pyramid=True, out=out, iiif_base_url=BASE)
    manifest = _manifest(out, "iiif/vol-1/manifest.json")
    bodies = validate_presentation3(manifest, out, SIZES)
    for body, (width, height) in zip(bodies, SIZES, strict=True):
        (service,) = body["service"]
        assert service["type"] == "ImageService3" and service["profile"]
        assert (body["width"], body["height"]) == (width, height)
    for canvas in manifest["items"]:
        (pyramid,) = canvas["rendering"]
        assert pyramid["format"] == "image/tiff" and pyramid["id"].endswith(".tif")
    assert bodies[0]["service"][0]["id"] == f"{BASE}/iiif/3/vol-1%2Fpage-00-p0001.tif"
    _check_manifest(out)


# -- the report -------------------------------------------------------------------------------


class _Tags(HTMLParser):
    """The report's tags: images (with the link around them), headings, count rows, ids."""

    def __init__(self) -> None:
        super().__init__()
        self.images: list[dict[str, str]] = []
        self.headings: list[str] = []
        self.count_labels: list[str] = []
        self.ids: list[str] = []
        self._link: str | None = None
        self._in: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if "id" in values:
            self.ids.append(values["id"])
        if tag == "a":
            self._link = values.get("href")
        elif tag == "img":
            self.images.append({**values, "link": self._link or ""})
        elif tag in ("h2", "th"):
            self._in = tag

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._link = None
        self._in = None if tag in ("h2", "th") else self._in

    def handle_data(self, data: str) -> None:
        if self._in == "h2":
            self.headings.append(data.strip())
        elif self._in == "th" and "counts" in self.ids and self.ids[-1] == "counts":
            self.count_labels.append(data.strip())


def _tags(report: Path) -> _Tags:
    parser = _Tags()
    parser.feed(report.read_text())
    return parser


def test_report_thumbnails_link_full_size_copies_in_its_own_folder(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'c.sqlite3'}"
    store = make_catalog(tmp_path, url, sizes=[(900, 1200), (260, 200)])
    report = tmp_path / "review" / "index.html"
    engine = create_catalog_engine(url)
    try:
        counts = write_report(engine, store, report, full_size=1000)
    finally:
        engine.dispose()
    assert counts["pages"] == 2 and counts["colorized"] == 2
    tags = _tags(report)
    assert len(tags.images) == 4  # master and colorized per page
    folder = report.parent.resolve()
    for image in tags.images:
        assert image["loading"] == "lazy"
        thumbnail, full = report.parent / image["src"], report.parent / image["link"]
        # a single self-contained folder: relative links to files inside it
        for path in (thumbnail, full):
            assert path.resolve().is_relative_to(folder) and path.is_file(), path
        assert "://" not in image["src"] + image["link"]
        with Image.open(thumbnail) as small, Image.open(full) as large:
            assert small.size == (int(image["width"]), int(image["height"]))
            if "page-00" in image["alt"]:  # 900 x 1200: thumbnail 640, full copy 1000
                assert max(small.size) == 640 and max(large.size) == 1000
            else:  # 260 x 200: never enlarged
                assert small.size == large.size == (260, 200)
    alts = [image["alt"] for image in tags.images]
    assert alts[0].startswith("vol-1, page 1, page-00.tif: master")
    assert alts[1] == "vol-1, page 1, page-00.tif: colorized by iizuka.fixture (luminance)"
    assert "page-01.tif" in alts[2] and "page-01.tif" in alts[3]
    # nothing rejected, no dead job: those sections are not shown
    assert tags.headings == ["Counts", "Pages"]
    assert "rejected" not in tags.ids and "dead" not in tags.ids
    # one name per count
    labels = tags.count_labels
    assert len(labels) == len(set(labels)) and "dead jobs" not in labels
    assert [label for label in labels if "dead" in label] == ["jobs dead"]

    # a second report into the same folder replaces the first one's pictures
    before = sorted(p.name for p in (report.parent / "index_files").iterdir())
    (report.parent / "index_files" / "scan-999-master.jpg").write_bytes(b"an earlier page")
    engine = create_catalog_engine(url)
    try:
        write_report(engine, store, report, full_size=1000, volume="vol-1")
    finally:
        engine.dispose()
    assert sorted(p.name for p in (report.parent / "index_files").iterdir()) == before
    # a folder of the same name the report did not make is not touched
    other = tmp_path / "mine.html"
    (tmp_path / "mine_files").mkdir()
    (tmp_path / "mine_files" / "keep.txt").write_text("mine")
    engine = create_catalog_engine(url)
    try:
        with pytest.raises(OutputError, match="mine_files"):
            write_report(engine, store, other)
    finally:
        engine.dispose()
    assert (tmp_path / "mine_files" / "keep.txt").read_text() == "mine"
