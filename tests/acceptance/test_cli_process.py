"""`archcolor process --pending`, `jobs`, `retry`, `worker health`, `status`, `show` end to end
on a small generated volume with the fixture model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tifffile

from archive_colorizer.cli.app import run
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.synthetic import write_synthetic_page

#: the queue and export run the untrained fixture model: fast, and independent of the shipped
#: default
pytestmark = pytest.mark.usefixtures("fixture_model_default")

ARCHCOLOR = str(Path(sys.executable).with_name("archcolor"))


def _json(capsys: pytest.CaptureFixture[str]) -> object:
    out = capsys.readouterr().out
    assert out.count("\n") == 1, out
    return json.loads(out)


def _job_lines(out: str) -> list[dict[str, object]]:
    """`process --json` output: one line per finished job, then the run's summary object."""
    *jobs, summary = [json.loads(line) for line in out.splitlines()]
    assert summary["summary"] is True and "status" not in summary, out
    return jobs


def _volume(folder: Path, pages: int) -> None:
    for number in range(pages):
        write_synthetic_page(
            folder / f"page-{number:02d}.tif",
            width=300,
            height=400,
            compression="deflate",
            seed=number,
        )


def _break_pixels(path: Path) -> None:
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages[0]
        segments = list(zip(page.dataoffsets, page.databytecounts, strict=True))
    data = bytearray(path.read_bytes())
    for offset, count in segments:
        data[offset : offset + count] = np.full(count, 7, np.uint8).tobytes()
    path.write_bytes(bytes(data))


@pytest.mark.slow
def test_process_pending_end_to_end(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    masters = tmp_path / "masters"
    _volume(masters, 3)
    (masters / "sub").mkdir()
    write_synthetic_page(masters / "sub" / "broken.tif", width=300, height=400,
                         compression="deflate", seed=9)  # fmt: skip
    _break_pixels(masters / "sub" / "broken.tif")
    base = ["--db", database_url, "--store", str(store)]
    assert run([*base, "ingest", str(masters), "--volume", "vol"]) == 0
    capsys.readouterr()

    done = subprocess.run(
        [ARCHCOLOR, *base, "process", "--pending", "--workers", "2", "--device", "cpu",
         "--json", "--poll-seconds", "0.2"],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 3, done.stderr  # one page is dead
    lines = [json.loads(line) for line in done.stdout.splitlines()]
    summary = lines.pop()  # the last line sums the run up
    assert summary["summary"] is True and (summary["done"], summary["dead"]) == (3, 1)
    assert sorted(line["status"] for line in lines) == ["dead", "done", "done", "done"]
    for line in lines:
        assert {"scan", "status", "seconds", "error"} <= set(line)
        if line["status"] == "done":
            assert line["derivative"].startswith("vol/") and line["error"] is None
            path = store / line["derivative"]
            with tifffile.TiffFile(path) as tiff:
                assert tiff.pages[0].shape[:2] == (400, 300)
        else:
            assert "broken.tif" in line["error"]
    assert len({line["worker"] for line in lines}) >= 1
    assert "this run:" in done.stderr and "1 dead" in done.stderr

    assert run([*base, "status", "--json"]) == 0
    status = _json(capsys)
    assert isinstance(status, dict)
    assert (status["jobs_done"], status["jobs_dead"], status["derivatives"]) == (3, 1, 3)
    assert (status["jobs_pending"], status["jobs_running"]) == (0, 0)

    assert run([*base, "jobs", "--state", "dead", "--json"]) == 0
    dead = _json(capsys)
    assert isinstance(dead, list) and len(dead) == 1
    assert "CorruptTiffError" in dead[0]["last_error"]

    done_line = next(line for line in lines if line["status"] == "done")
    assert run([*base, "show", str(done_line["scan"]), "--json"]) == 0
    shown = _json(capsys)
    assert isinstance(shown, dict)
    (derivative,) = shown["derivatives"]
    assert derivative["path"] == done_line["derivative"]
    assert sha256_file(store / derivative["path"])[0] == derivative["sha256"]
    assert derivative["provenance"]["agent"]["model"]["name"] == "iizuka.fixture"
    assert any(event["type"] == "colorization" for event in shown["events"])
    assert run([*base, "show", str(done_line["scan"])]) == 0
    assert "derivative #" in capsys.readouterr().out

    # re-running finds nothing new; the dead page can be retried (and dies again)
    assert run([*base, "retry", "--dead", "--json"]) == 0
    assert _json(capsys) == {"requeued": [dead[0]["id"]]}
    assert run([*base, "jobs", "--state", "pending", "--json"]) == 0
    pending = _json(capsys)
    assert isinstance(pending, list) and [job["id"] for job in pending] == [dead[0]["id"]]
    assert run([*base, "retry", str(dead[0]["id"])]) == 1  # pending jobs cannot be retried
    assert "only dead or failed" in capsys.readouterr().err


def test_worker_health(tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    store = tmp_path / "store"
    assert run(["--db", sqlite_url, "db", "upgrade"]) == 0
    capsys.readouterr()
    assert run(["--db", sqlite_url, "--store", str(store), "worker", "health", "--json"]) == 0
    report = _json(capsys)
    assert isinstance(report, dict) and report["ok"] is True
    assert [check["name"] for check in report["checks"]] == ["database", "model", "store"]

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("x")
    code = run(["--db", sqlite_url, "--store", str(not_a_folder), "worker", "health", "--quick"])
    assert code == 1
    out = capsys.readouterr().out
    assert "FAIL  store" in out and "ok    database" in out

    empty = f"sqlite:///{tmp_path / 'empty.sqlite3'}"
    assert run(["--db", empty, "--store", str(store), "worker", "health", "--quick"]) == 1
    assert "archcolor db upgrade" in capsys.readouterr().out


def test_process_needs_pending(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["--db", sqlite_url, "process"]) == 2
    assert "--pending" in capsys.readouterr().err


def _jobs_done(base: list[str]) -> int:
    status = subprocess.run(
        [ARCHCOLOR, *base, "status", "--json"], capture_output=True, text=True, timeout=120
    )
    return int(json.loads(status.stdout)["jobs_done"]) if status.returncode == 0 else -1


@pytest.mark.slow
def test_follow_queues_pages_ingested_while_it_runs(tmp_path: Path) -> None:
    """A `--follow` worker picks up a page ingested after it started, then stops on SIGTERM."""
    from tests.queue_support import wait_for

    base = ["--db", f"sqlite:///{tmp_path / 'catalog.sqlite3'}", "--store", str(tmp_path / "s")]
    masters = tmp_path / "masters"
    _volume(masters, 1)
    assert run([*base, "ingest", str(masters), "--volume", "vol"]) == 0
    worker = subprocess.Popen(
        [ARCHCOLOR, *base, "process", "--pending", "--follow", "--device", "cpu",
         "--json", "--poll-seconds", "0.1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        wait_for(lambda: _jobs_done(base) == 1, 300, "the first page done", interval=0.5)
        write_synthetic_page(masters / "late.tif", width=300, height=400, seed=5)
        assert run([*base, "ingest", str(masters), "--volume", "vol"]) == 0
        wait_for(lambda: _jobs_done(base) == 2, 300, "the late page done", interval=0.5)
    finally:
        worker.terminate()
        out, err = worker.communicate(timeout=120)
    assert worker.returncode == 143, err
    lines = [json.loads(line) for line in out.splitlines()]
    assert [line.get("status") for line in lines] == ["done", "done", None]
    assert lines[-1]["summary"] is True and lines[-1]["stopped_by"] == "SIGTERM"
    assert (lines[-1]["queued"], lines[-1]["done"]) == (2, 2)  # the late page was queued too


def _shown(base: list[str], scan: int, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert run([*base, "show", str(scan), "--json"]) == 0
    shown = _json(capsys)
    assert isinstance(shown, dict)
    return shown


def test_identical_pages_at_two_paths_are_both_colorized_and_kept(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Attack 6: a byte-identical copy gets its own derivative and keeps it when the first
    copy is replaced."""
    base = ["--db", database_url, "--store", str(tmp_path / "store")]
    masters = tmp_path / "masters"
    _volume(masters, 1)
    first, copy = masters / "page-00.tif", masters / "page-99.tif"
    copy.write_bytes(first.read_bytes())
    process = [*base, "process", "--pending", "--device", "cpu", "--poll-seconds", "0.1"]
    assert run([*base, "ingest", str(masters), "--volume", "vol"]) == 0
    assert run(process) == 0
    capsys.readouterr()
    assert run([*base, "jobs", "--json"]) == 0
    jobs = _json(capsys)
    assert isinstance(jobs, list) and sorted(job["path"] for job in jobs) == [
        "page-00.tif",
        "page-99.tif",
    ]
    scans = {job["path"]: job["scan"] for job in jobs}
    (kept,) = _shown(base, scans["page-99.tif"], capsys)["derivatives"]  # type: ignore[misc]

    write_synthetic_page(first, width=300, height=400, compression="deflate", seed=7)
    assert run([*base, "ingest", str(masters), "--volume", "vol"]) == 0
    assert run([*process, "--repair"]) == 0
    capsys.readouterr()
    assert run([*base, "jobs", "--json"]) == 0
    jobs = _json(capsys)
    assert isinstance(jobs, list) and [job["state"] for job in jobs] == ["done"] * 3
    replaced = max(job["scan"] for job in jobs if job["path"] == "page-00.tif")
    assert len(_shown(base, replaced, capsys)["derivatives"]) == 1  # type: ignore[arg-type]
    assert _shown(base, scans["page-99.tif"], capsys)["derivatives"] == [kept]


def _xmp_parameters(path: Path) -> dict[str, object]:
    from archive_colorizer.imaging.metadata import parse_xmp

    with tifffile.TiffFile(path) as tiff:
        packet = tiff.pages[0].tags[700].value  # type: ignore[union-attr]
    return dict(parse_xmp(bytes(packet)).parameters)


def test_render_mode_is_part_of_the_job_and_its_provenance(
    tmp_path: Path,
    sqlite_url: str,
    capsys: pytest.CaptureFixture[str],
    fixture_model_default: Path,
) -> None:
    """`process --render wash`: the jobs, the DB provenance, the XMP and the report name the
    mode; the same mode again finds the pages done, another mode queues them again; without
    --render the model card's mode is used (luminance for cards that name none)."""
    store = tmp_path / "store"
    base = ["--db", sqlite_url, "--store", str(store)]
    _volume(tmp_path / "masters", 2)
    assert run([*base, "ingest", str(tmp_path / "masters"), "--volume", "vol"]) == 0
    process = [*base, "process", "--pending", "--device", "cpu", "--chroma-size", "64"]

    assert run([*process, "--render", "oil"]) == 1
    err = capsys.readouterr().err
    assert "--render must be luminance or wash, not 'oil'" in err and len(err.splitlines()) == 1

    assert run([*process, "--render", "wash", "--json"]) == 0
    done = _job_lines(capsys.readouterr().out)
    assert [line["status"] for line in done] == ["done", "done"]
    assert run([*base, "jobs", "--json"]) == 0
    jobs = _json(capsys)
    assert isinstance(jobs, list) and [job["params"]["render"] for job in jobs] == ["wash"] * 2
    assert run([*base, "show", str(done[0]["scan"]), "--json"]) == 0
    shown = _json(capsys)
    assert isinstance(shown, dict)
    (derivative,) = shown["derivatives"]
    assert derivative["provenance"]["activity"]["parameters"]["render"] == "wash"
    assert _xmp_parameters(store / derivative["path"])["render"] == "wash"
    report = tmp_path / "report.html"
    assert run([*base, "report", "--out", str(report)]) == 0
    assert report.read_text().count("<dt>rendering</dt><dd>wash (") == 2
    assert run([*base, "jobs"]) == 0
    assert "wash" in capsys.readouterr().out

    assert run([*process, "--render", "wash"]) == 0
    err = capsys.readouterr().err
    assert "0 queued" in err and "2 already done" in err
    assert run([*process, "--render", "wash", "--json"]) == 0
    assert _job_lines(capsys.readouterr().out) == []  # nothing left to do

    # the fixture's card names no mode: luminance, a new job per page
    assert run([*process, "--json"]) == 0
    assert [line["status"] for line in _job_lines(capsys.readouterr().out)] == ["done", "done"]
    assert run([*base, "jobs", "--json"]) == 0
    jobs = _json(capsys)
    assert isinstance(jobs, list)
    assert sorted(job["params"]["render"] for job in jobs) == ["luminance"] * 2 + ["wash"] * 2

    # a card that names wash makes wash the default: those pages are done already
    card_path = fixture_model_default / "iizuka.fixture" / "card.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "render": "wash"}))
    assert run([*process, "--json"]) == 0
    assert _job_lines(capsys.readouterr().out) == []


def test_report_names_the_rendering_and_flags_colourless_pages(
    tmp_path: Path, sqlite_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """A bilevel line drawing: luminance rendering leaves it black and white (the report counts
    it as colourless); wash rendering colours its paper (the report names wash and its share)."""
    drawing = np.zeros((300, 400), bool)  # 1-bit, True = ink (MinIsWhite)
    drawing[30:33, 30:370] = drawing[267:270, 30:370] = True  # a ruled frame
    drawing[30:270, 30:33] = drawing[30:270, 367:370] = True
    drawing[150:153, 60:340] = True
    masters = tmp_path / "masters"
    masters.mkdir()
    tifffile.imwrite(masters / "drawing.tif", drawing, photometric="miniswhite")
    base = ["--db", sqlite_url, "--store", str(tmp_path / "store")]
    assert run([*base, "ingest", str(masters), "--volume", "vol"]) == 0
    process = [*base, "process", "--pending", "--device", "cpu", "--chroma-size", "96"]
    report = tmp_path / "report.html"
    for render, colourless in (("luminance", 1), ("wash", 0)):
        assert run([*process, "--render", render]) == 0
        capsys.readouterr()
        assert run([*base, "report", "--out", str(report), "--json"]) == 0
        counts = _json(capsys)
        assert isinstance(counts, dict)
        assert (counts["colorized"], counts["colourless"]) == (1, colourless), render
        text = report.read_text()
        assert f"<dt>rendering</dt><dd>{render} (" in text
        assert ("no visible colour" in text) == bool(colourless)


def test_json_ends_with_a_summary_and_each_page_is_logged_without_a_terminal(
    database_url: str, tmp_path: Path
) -> None:
    """Outside a terminal (cron, logs, containers): one plain stderr line per finished page;
    `--json` ends with one summary object, even when no job finishes. Store files follow the
    umask, as any file the user's programs create."""
    store = tmp_path / "store"
    masters = tmp_path / "masters"
    _volume(masters, 3)
    base = ["--db", database_url, "--store", str(store)]
    assert run([*base, "ingest", str(masters), "--volume", "vol"]) == 0
    command = [ARCHCOLOR, *base, "process", "--pending", "--device", "cpu", "--json",
               "--poll-seconds", "0.1", "--chroma-size", "64"]  # fmt: skip
    done = subprocess.run(
        [*command, "--workers", "2"], capture_output=True, text=True, timeout=600, umask=0o027
    )
    assert done.returncode == 0, done.stderr
    *jobs, summary = [json.loads(line) for line in done.stdout.splitlines()]
    assert sorted(job["status"] for job in jobs) == ["done"] * 3
    assert summary["summary"] is True
    assert {k: summary[k] for k in ("queued", "done", "failed", "dead")} == {
        "queued": 3, "done": 3, "failed": 0, "dead": 0
    }  # fmt: skip
    assert summary["megapixels"] == round(3 * 300 * 400 / 1e6, 3)
    assert summary["seconds"] > 0
    assert summary["megapixels_per_second"] == pytest.approx(
        summary["megapixels"] / summary["seconds"], rel=0.01
    )
    logged = [line for line in done.stderr.splitlines() if line.startswith("archcolor process:")]
    assert len(logged) == 3, done.stderr
    for line in logged:
        assert " done vol/page-0" in line and " page 1 in " in line, line
        assert "MP/s" in line and "ETA " in line, line
    assert [line.split("; ")[1].split(" finished")[0] for line in logged] == ["1", "2", "3"]
    assert logged[-1].endswith("0 left, run " + logged[-1].split(", run ")[1])
    assert logged[-1].endswith("ETA 0:00:00")
    for job in jobs:
        assert (store / job["derivative"]).stat().st_mode & 0o777 == 0o640

    again = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr
    (only,) = [json.loads(line) for line in again.stdout.splitlines()]
    assert only["summary"] is True
    assert (only["queued"], only["done"], only["megapixels"]) == (0, 0, 0.0)
    assert "archcolor process:" not in again.stderr


def test_pending_on_an_empty_catalog_says_to_ingest_first(
    database_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["--db", database_url, "--store", str(tmp_path / "store")]
    assert run([*base, "db", "upgrade"]) == 0
    capsys.readouterr()
    assert run([*base, "process", "--pending", "--device", "cpu", "--json"]) == 0
    captured = capsys.readouterr()
    assert "no ingested pages" in captured.err and "archcolor ingest" in captured.err
    (summary,) = [json.loads(line) for line in captured.out.splitlines()]
    assert summary["summary"] is True and summary["queued"] == 0
