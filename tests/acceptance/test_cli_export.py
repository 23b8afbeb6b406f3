"""`archcolor ingest → process → export → report` end to end with the console script."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import bagit
import pytest
import tifffile
from PIL import Image

from archive_colorizer.cli.app import run
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.synthetic import write_synthetic_page

#: the queue and export run the untrained fixture model: fast, and independent of the shipped
#: default
pytestmark = pytest.mark.usefixtures("fixture_model_default")

ARCHCOLOR = str(Path(sys.executable).with_name("archcolor"))
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


def _cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ARCHCOLOR, *args], capture_output=True, text=True, timeout=600, cwd=cwd)


def _colorized(tmp_path: Path) -> list[str]:
    masters = tmp_path / "scans" / "volume-01"
    for number, (width, height) in enumerate([(300, 400), (280, 210)]):
        write_synthetic_page(masters / f"page-{number + 1:04d}.tif", width=width, height=height,
                             compression="deflate", seed=number)  # fmt: skip
    base = ["--db", f"sqlite:///{tmp_path / 'catalog.sqlite3'}", "--store", str(tmp_path / "store")]
    assert run([*base, "ingest", str(masters)]) == 0
    done = _cli(*base, "process", "--pending", "--device", "cpu", "--chroma-size", "64",
                "--poll-seconds", "0.05")  # fmt: skip
    assert done.returncode == 0, done.stderr
    return base


@pytest.mark.slow
def test_export_every_format_bag_iiif_and_report(tmp_path: Path) -> None:
    base = _colorized(tmp_path)
    out = tmp_path / "delivery"
    done = _cli(*base, "export", "--format", "tiff", "--out", str(out), "--bagit",
                "--iiif-base-url", "https://example.org/iiif", "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert (summary["selected"], summary["written"], summary["problems"]) == (2, 2, [])
    bagit.Bag(str(out)).validate()
    for line in (out / "manifest-sha256.txt").read_text().splitlines():
        digest, path = line.split("  ", 1)
        assert sha256_file(out / path)[0] == digest
    with tifffile.TiffFile(out / "data/volume-01/page-0001-p0001.tif") as tiff:
        assert tiff.pages[0].shape == (400, 300, 3)
    again = _cli(*base, "export", "--format", "tiff", "--out", str(out), "--bagit",
                 "--iiif-base-url", "https://example.org/iiif", "--json")  # fmt: skip
    assert json.loads(again.stdout)["unchanged"] == 2

    access = tmp_path / "web"
    done = _cli(*base, "export", "--format", "jpeg", "--max-size", "150", "--quality", "80",
                "--out", str(access))  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "2 written" in done.stderr
    for path in sorted(access.rglob("*.jpg")):
        with Image.open(path) as image:
            assert max(image.size) == 150

    nothing = _cli(*base, "export", "--volume", "volume-01", "--model", "no.such", "--out",
                   str(tmp_path / "none"))  # fmt: skip
    assert nothing.returncode == 1
    assert "nothing to export" in nothing.stderr and "process --pending" in nothing.stderr
    unknown = _cli(*base, "export", "--volume", "nope", "--out", str(tmp_path / "none"))
    assert unknown.returncode == 1 and "no volume named 'nope'" in unknown.stderr
    usage = _cli(*base, "export", "--format", "gif", "--out", str(tmp_path / "none"))
    assert usage.returncode == 1 and "--format must be one of" in usage.stderr

    done = _cli(*base, "report", "--json", cwd=tmp_path)  # default: archcolor-report/index.html
    assert done.returncode == 0, done.stderr
    counts = json.loads(done.stdout)
    assert (counts["pages"], counts["colorized"], counts["rejected"]) == (2, 2, 0)
    folder = tmp_path / Path(counts["out"]).parent
    assert folder.name == "archcolor-report"
    text = (tmp_path / counts["out"]).read_text()
    pictures = re.findall(r'<a href="([^"]+)"[^>]*><img src="([^"]+)"[^>]*loading="lazy"', text)
    assert len(pictures) == 4  # master + colorized per page, each linked to its full size
    for link, thumbnail in pictures:
        assert (folder / link).is_file() and (folder / thumbnail).is_file()
    assert "Rejected" not in text and "Dead jobs" not in text  # nothing to list


@pytest.mark.slow
@pytest.mark.skipif(
    not Path(CHROMIUM).exists(),
    reason=f"no headless browser at {CHROMIUM}: install Debian's chromium "
    "(apt-get install -y chromium) to render the report in a real browser",
)
def test_report_renders_in_headless_chromium(tmp_path: Path) -> None:
    base = _colorized(tmp_path)
    report = tmp_path / "review" / "report.html"
    assert run([*base, "report", "--out", str(report)]) == 0
    dom = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom",
         "--user-data-dir=" + str(tmp_path / "profile"), report.as_uri()],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert dom.returncode == 0, dom.stderr
    assert dom.stdout.count('class="page"') == 2
    assert dom.stdout.count('loading="lazy"') == 4
    assert dom.stdout.count('<a href="report_files/') == 4
    shot = tmp_path / "report.png"
    subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--window-size=1200,1600",
         "--user-data-dir=" + str(tmp_path / "profile"), f"--screenshot={shot}", report.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    with Image.open(shot) as image:
        colours = image.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) > 1000  # thumbnails were drawn, not a blank page
