"""`archcolor colorize`: one-off colorization end to end with the shipped fixture model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from archive_colorizer.cli.app import run
from archive_colorizer.imaging.hashing import sha256_file
from archive_colorizer.imaging.metadata import parse_xmp
from archive_colorizer.inference.cards import read_card
from archive_colorizer.inference.fixture import FIXTURE_NAME
from archive_colorizer.inference.registry import ENV_MODELS_DIR, repository_models_dir
from tests.factories import write_bilevel, write_gray8, write_gray16, write_tiff

SHIPPED = repository_models_dir() / FIXTURE_NAME
EPOCH = "1700000000"


@pytest.fixture(autouse=True)
def fixture_model(fixture_model_default: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test uses a private copy of the fixture model as the default, on the CPU."""
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    return fixture_model_default


def colorize(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict[str, Any], str]:
    code = run(["colorize", *args, "--json"])
    captured = capsys.readouterr()
    payload = json.loads(captured.out) if code == 0 else {}
    return code, payload, captured.err


def pixels(path: Path) -> np.ndarray:
    with tifffile.TiffFile(path) as tiff:
        return tiff.pages[0].asarray()


@pytest.mark.parametrize(("width", "height"), [(1, 1), (1, 7), (7, 5), (513, 257)])
def test_output_has_the_input_dimensions(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], width: int, height: int
) -> None:
    master = write_gray8(tmp_path / "m.tif", width=width, height=height)
    code, payload, err = colorize(capsys, str(master), "-o", str(tmp_path / "out.tif"))
    assert code == 0, err
    assert (payload["width"], payload["height"], payload["bits"]) == (width, height, 8)
    rgb = pixels(tmp_path / "out.tif")
    assert rgb.shape == (height, width, 3) and rgb.dtype == np.uint8
    assert payload["sha256"] == sha256_file(tmp_path / "out.tif")[0]
    assert payload["model"] == FIXTURE_NAME
    assert payload["weights_sha256"] == read_card(SHIPPED).weights_sha256
    assert set(payload["stage_seconds"]) >= {"read", "reduce", "network", "write"}


def test_sixteen_bit_bilevel_and_rotated_pages(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cases = [
        (write_gray16(tmp_path / "g16.tif", width=40, height=30), (30, 40), np.uint16),
        (write_bilevel(tmp_path / "bl.tif", width=37, height=21), (21, 37), np.uint8),
        # Orientation 6 (rotate 90° clockwise to display): dims as displayed, swapped
        (write_gray8(tmp_path / "o6.tif", width=50, height=20, orientation=6), (50, 20), np.uint8),
    ]
    for master, (height, width), dtype in cases:
        output = tmp_path / f"out-{master.name}"
        code, payload, err = colorize(capsys, str(master), "-o", str(output))
        assert code == 0, err
        rgb = pixels(output)
        assert rgb.shape == (height, width, 3) and rgb.dtype == dtype, master.name
        assert (payload["width"], payload["height"]) == (width, height)


def test_two_runs_are_byte_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    master = write_gray8(tmp_path / "m.tif", width=300, height=200, seed=4)
    first, second, third = (tmp_path / n for n in ("a.tif", "b.tif", "c.tif"))
    colorize(capsys, str(master), "-o", str(first))
    colorize(capsys, str(master), "-o", str(second))
    # without SOURCE_DATE_EPOCH the DateTime differs, never the pixels
    assert np.array_equal(pixels(first), pixels(second))
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    code, payload, _ = colorize(capsys, str(master), "-o", str(first), "--overwrite")
    assert code == 0
    colorize(capsys, str(master), "-o", str(third))
    assert first.read_bytes() == third.read_bytes()
    assert payload["sha256"] == sha256_file(third)[0]
    rgb = pixels(third).astype(np.int16)
    assert int(np.abs(rgb[..., 0] - rgb[..., 2]).max()) > 2, "the fixture must add colour"


def test_tile_size_does_not_change_the_pixels(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    master = write_gray8(tmp_path / "m.tif", width=420, height=260, seed=2)
    whole, tiled = tmp_path / "whole.tif", tmp_path / "tiled.tif"
    assert colorize(capsys, str(master), "-o", str(whole))[0] == 0
    code, payload, _ = colorize(capsys, str(master), "-o", str(tiled), "--tile-size", "216")
    assert code == 0 and payload["parameters"]["tile_size"] == 216
    difference = np.abs(pixels(whole).astype(np.int16) - pixels(tiled).astype(np.int16))
    assert int(difference.max()) <= 1  # a*, b* agree to 1e-3 before 8-bit quantisation


def test_provenance_and_resolution_are_recorded(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    master = write_gray8(tmp_path / "scan-0001.tif", width=64, height=48, resolution=(400, 400))
    output = tmp_path / "out.tif"
    code, _, err = colorize(capsys, str(master), "-o", str(output), "--chroma-size", "32")
    assert code == 0, err
    with tifffile.TiffFile(output) as tiff:
        tags = tiff.pages[0].tags  # type: ignore[union-attr]
        assert tags["XResolution"].value == (400, 1)
        assert tags["DateTime"].value == "2023:11:14 22:13:20"
        xmp = tags["XMP"].value
    text = xmp.decode() if isinstance(xmp, bytes) else str(xmp)
    assert sha256_file(master)[0] in text
    assert read_card(SHIPPED).weights_sha256 in text
    assert FIXTURE_NAME in text and "scan-0001.tif" in text


def test_missing_and_non_tiff_input(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = colorize(capsys, str(tmp_path / "nope.tif"), "-o", str(tmp_path / "o.tif"))
    assert code == 1 and "nope.tif: no such file" in err
    text = tmp_path / "notes.tif"
    text.write_text("hello")
    code, _, err = colorize(capsys, str(text), "-o", str(tmp_path / "o.tif"))
    assert code == 1 and "not a TIFF" in err
    assert not (tmp_path / "o.tif").exists()


def test_master_is_never_the_output(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    master = write_gray8(tmp_path / "m.tif")
    before = sha256_file(master)
    code, _, err = colorize(capsys, str(master), "-o", str(master), "--overwrite")
    assert code == 1 and "never overwritten" in err
    link = tmp_path / "link.tif"
    os.link(master, link)
    code, _, err = colorize(capsys, str(master), "-o", str(link), "--overwrite")
    assert code == 1 and "link to the master" in err
    assert sha256_file(master) == before


def test_existing_output_needs_overwrite(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    master = write_gray8(tmp_path / "m.tif")
    output = tmp_path / "o.tif"
    output.write_bytes(b"keep me")
    code, _, err = colorize(capsys, str(master), "-o", str(output))
    assert code == 1 and "--overwrite" in err and output.read_bytes() == b"keep me"
    code, _, err = colorize(capsys, str(master), "-o", str(tmp_path / "none" / "o.tif"))
    assert code == 1 and "does not exist" in err


def test_output_must_be_a_tiff_name(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    master = write_gray8(tmp_path / "m.tif", width=33, height=17)
    out = tmp_path / "out"
    out.mkdir()
    for name in ("page.jpg", "page.png", "page.webp", "page", "page.tif.part"):
        code, _, err = colorize(capsys, str(master), "-o", str(out / name))
        assert code == 1 and err.count("\n") == 1, (name, err)
        assert name in err and "archcolor export --format jpeg|png|webp" in err, err
    assert list(out.iterdir()) == []
    code, _, err = colorize(capsys, str(master), "-o", str(out / "page.TIFF"))
    assert code == 0, err
    # written through a private temporary file, yet readable as the umask says
    mask = os.umask(0o022)
    os.umask(mask)
    assert (out / "page.TIFF").stat().st_mode & 0o777 == 0o666 & ~mask


def test_bad_options(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    master = write_tiff(tmp_path / "m.tif", "gray8", pages=2)
    output = str(tmp_path / "o.tif")
    cases = [
        (["--page", "2"], "--page 2 does not exist"),
        (["--model", "iizuka.nope"], FIXTURE_NAME),
        (["--tile-size", "100"], "at least 216"),
        (["--compression", "jpeg"], "--compression"),
        (["--device", "tpu"], "--device"),
    ]
    for extra, message in cases:
        code, _, err = colorize(capsys, str(master), "-o", output, *extra)
        assert code == 1 and message in err, (extra, err)
    assert not Path(output).exists()


def test_tampered_weights_are_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fixture_model: Path
) -> None:
    weights = fixture_model / FIXTURE_NAME / "weights.safetensors"
    data = bytearray(weights.read_bytes())
    data[-10] ^= 0x40
    weights.write_bytes(bytes(data))
    master = write_gray8(tmp_path / "m.tif")
    code, _, err = colorize(capsys, str(master), "-o", str(tmp_path / "o.tif"))
    assert code == 1 and "does not match" in err and str(weights) in err
    assert not (tmp_path / "o.tif").exists()


def test_human_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    master = write_gray8(tmp_path / "m.tif", width=33, height=17)
    assert run(["colorize", str(master), "-o", str(tmp_path / "o.tif")]) == 0
    err = capsys.readouterr().err
    assert "33x17 8-bit RGB" in err and "MP/s" in err and "iizuka.fixture" in err


@pytest.mark.slow
def test_console_script_end_to_end(tmp_path: Path, fixture_model: Path) -> None:
    master = write_gray8(tmp_path / "m.tif", width=2049, height=1025, tiled=True, tile=(256, 256))
    output = tmp_path / "o.tif"
    script = Path(sys.executable).with_name("archcolor")
    done = subprocess.run(
        [str(script), "colorize", str(master), "-o", str(output), "--json"],
        env={**os.environ, ENV_MODELS_DIR: str(fixture_model), "ARCHCOLOR_DEVICE": "cpu"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert (payload["width"], payload["height"]) == (2049, 1025)
    assert pixels(output).shape == (1025, 2049, 3)


def test_a_master_edited_while_colorized_writes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The XMP would name the sha256 read before colorizing: a master edited in place while it
    is read (here: when the network runs, between the pipeline's two reads) is refused."""
    from archive_colorizer.inference import registry

    work = tmp_path / "work"
    master = write_gray8(work / "m.tif", width=64, height=300)
    with tifffile.TiffFile(master) as tiff:
        segments = list(zip(tiff.pages[0].dataoffsets, tiff.pages[0].databytecounts, strict=True))
    recorded = sha256_file(master)[0]
    output = work / "o.tif"
    output.write_bytes(b"keep me")
    real = registry.load_predictor

    class Editing:
        def __init__(self, inner: Any) -> None:
            self.inner, self.edited = inner, False

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

        def predict_ab(self, lightness: np.ndarray) -> np.ndarray:
            if not self.edited:
                self.edited = True
                with open(master, "r+b") as stream:
                    for offset, count in segments:
                        stream.seek(offset)
                        stream.write(bytes(count))  # the page turns black
            return self.inner.predict_ab(lightness)  # type: ignore[no-any-return]

    monkeypatch.setattr(registry, "load_predictor", lambda *a, **k: Editing(real(*a, **k)))
    code, _, err = colorize(capsys, str(master), "-o", str(output), "--overwrite")
    edited = sha256_file(master)[0]
    assert edited != recorded
    assert code == 1 and "FixityError" not in err  # one line, no traceback
    assert "changed while it was being colorized" in err and recorded in err and edited in err
    assert output.read_bytes() == b"keep me"  # the previous output is untouched
    assert sorted(path.name for path in work.iterdir()) == ["m.tif", "o.tif"]


def test_render_wash_and_its_default_from_the_model_card(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fixture_model: Path
) -> None:
    """`--render wash` colours the white paper of a bilevel line drawing that `luminance` cannot
    colour; the mode is in --json and the XMP; without --render the card decides."""
    drawing = np.zeros((120, 160), bool)  # 1-bit, True = ink (MinIsWhite)
    drawing[10:12, 10:150] = drawing[108:110, 10:150] = True  # a ruled frame
    drawing[10:110, 10:12] = drawing[10:110, 148:150] = True
    drawing[60:62, 30:130] = True
    master = tmp_path / "drawing.tif"
    tifffile.imwrite(master, drawing, photometric="miniswhite")
    outputs = {}
    for render in ("luminance", "wash"):
        outputs[render] = tmp_path / f"{render}.tif"
        code, payload, err = colorize(
            capsys, str(master), "-o", str(outputs[render]), "--render", render
        )
        assert code == 0, err
        assert payload["parameters"]["render"] == render
        with tifffile.TiffFile(outputs[render]) as tiff:
            xmp = tiff.pages[0].tags["XMP"].value  # type: ignore[union-attr]
        assert parse_xmp(bytes(xmp)).parameters["render"] == render
    luminance, wash = pixels(outputs["luminance"]), pixels(outputs["wash"])
    assert wash.shape == (120, 160, 3) and wash.dtype == np.uint8
    assert len(np.unique(luminance.reshape(-1, 3), axis=0)) == 2  # black and white only
    inside = wash[20:55, 20:140].astype(np.int16)
    assert int(np.abs(inside[..., 0] - inside[..., 2]).max()) > 2  # the paper took colour
    assert (wash[drawing] == 0).all()  # black ink stays black

    code, payload, err = colorize(capsys, str(master), "-o", str(tmp_path / "default.tif"))
    assert code == 0 and payload["parameters"]["render"] == "luminance"  # card names none
    card_path = fixture_model / FIXTURE_NAME / "card.json"
    card_path.write_text(json.dumps({**json.loads(card_path.read_text()), "render": "wash"}))
    code, payload, err = colorize(capsys, str(master), "-o", str(tmp_path / "card.tif"))
    assert code == 0 and payload["parameters"]["render"] == "wash", err
    assert np.array_equal(pixels(tmp_path / "card.tif"), wash)


def test_an_unknown_render_mode_is_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    master = write_gray8(tmp_path / "m.tif")
    code, _, err = colorize(capsys, str(master), "-o", str(tmp_path / "o.tif"), "--render", "oil")
    assert code == 1
    assert len(err.strip().splitlines()) == 1
    assert "--render must be luminance or wash, not 'oil'" in err
    assert not (tmp_path / "o.tif").exists()


def test_an_unreadable_catalog_is_said_not_silently_skipped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """colorize works without a catalog, but when the configured one cannot be read, the check
    that OUTPUT is not a master is said to be skipped (was: skipped without a word)."""
    master = write_gray8(tmp_path / "m.tif", width=40, height=30)
    output = tmp_path / "o.tif"
    unreachable = "postgresql+psycopg://postgres@127.0.0.1:1/archcolor"  # nothing listens on 1
    code = run(["--db", unreachable, "colorize", str(master), "-o", str(output), "--json"])
    err = capsys.readouterr().err
    assert code == 0 and output.is_file()
    assert "warning: OUTPUT was not checked against the masters catalogued in" in err
    # no catalog at all (a SQLite file not made yet) is nothing to check against: no warning
    missing = f"sqlite:///{tmp_path / 'none.sqlite3'}"
    code = run(["--db", missing, "colorize", str(master), "-o", str(output), "--overwrite"])
    assert code == 0 and "warning" not in capsys.readouterr().err
    assert not (tmp_path / "none.sqlite3").exists()


def test_without_a_catalog_no_database_library_is_imported(
    tmp_path: Path, fixture_model: Path
) -> None:
    """A colorize with no catalog file to guard against skips SQLAlchemy and Alembic (start-up
    time of the one-page command)."""
    master = write_gray8(tmp_path / "m.tif", width=40, height=30)
    argv = ["--db", f"sqlite:///{tmp_path / 'none.sqlite3'}", "colorize", str(master)]
    argv += ["-o", str(tmp_path / "o.tif")]
    code = (
        "import sys\n"
        "from archive_colorizer.cli.app import run\n"
        f"status = run({argv!r})\n"
        "heavy = {'sqlalchemy', 'alembic'}\n"
        "print(status, sorted({m.split('.')[0] for m in sys.modules} & heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        env={**os.environ, ENV_MODELS_DIR: str(fixture_model), "ARCHCOLOR_DEVICE": "cpu"},
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.stdout.strip().splitlines()[-1] == "0 []", done.stderr
    assert (tmp_path / "o.tif").is_file() and not (tmp_path / "none.sqlite3").exists()


def test_a_page_failure_while_the_model_loads_leaves_no_loading_thread(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model loads on a background thread while the page is hashed and read; when the page
    fails first, its error is the one reported and the command waits for the loading."""
    import threading

    from archive_colorizer.errors import InputError
    from archive_colorizer.services import colorize_file

    def unreadable(path: Path) -> Any:
        raise InputError(f"{path}: unreadable for this test")

    monkeypatch.setattr(colorize_file, "snapshot", unreadable)
    master = write_gray8(tmp_path / "m.tif")
    code, _, err = colorize(capsys, str(master), "-o", str(tmp_path / "o.tif"))
    assert code == 1 and "unreadable for this test" in err
    assert not [t for t in threading.enumerate() if t.name == "archcolor-model-loading"]
    assert not (tmp_path / "o.tif").exists()


def test_the_console_entry_point_flushes_its_output_and_keeps_the_exit_status(
    tmp_path: Path, fixture_model: Path
) -> None:
    """`main` ends a run that loaded torch without the interpreter's module teardown: the JSON
    summary, the error line and the exit status must still come out whole."""
    master = write_gray8(tmp_path / "m.tif", width=70, height=50)
    env = {**os.environ, ENV_MODELS_DIR: str(fixture_model), "ARCHCOLOR_DEVICE": "cpu"}
    entry = [sys.executable, "-c", "from archive_colorizer.cli.app import main; main()"]
    output = tmp_path / "o.tif"
    done = subprocess.run(
        [*entry, "colorize", str(master), "-o", str(output), "--json"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["sha256"] == sha256_file(output)[0]
    failed = subprocess.run(
        [*entry, "colorize", str(master), "-o", str(tmp_path / "p.tif"), "--tile-size", "100"],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert failed.returncode == 1 and failed.stdout == ""
    assert failed.stderr.startswith("error: ") and "at least 216" in failed.stderr
