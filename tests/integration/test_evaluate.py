"""`archcolor evaluate` on a tiny generated set returns the known baseline values."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archive_colorizer.cli.app import run
from archive_colorizer.imaging.color import lab_to_srgb_codes, srgb_codes_to_lab

TRAIN_COLOURS = [(200, 60, 60), (60, 60, 200)]
VAL_COLOURS = [(220, 180, 40), (40, 160, 90), (120, 120, 120)]


def flat(folder: Path, name: str, colour: tuple[int, int, int], size: tuple[int, int]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full((*size, 3), colour, dtype=np.uint8)).save(folder / name)


def lab_of(colour: tuple[int, int, int]) -> tuple[float, float, float]:
    lightness, a, b = srgb_codes_to_lab(np.array([[colour]], dtype=np.uint8), 8)
    return float(lightness[0, 0]), float(a[0, 0]), float(b[0, 0])


def expected_psnr(colour: tuple[int, int, int], a: float, b: float) -> float:
    lightness = lab_of(colour)[0]
    rendered = lab_to_srgb_codes(
        np.array([[lightness]], np.float32), np.array([[a]], np.float32),
        np.array([[b]], np.float32), 8,
    )[0, 0].astype(float)  # fmt: skip
    mse = float(np.mean((rendered - np.array(colour, float)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255**2 / mse)


@pytest.fixture
def sets(tmp_path: Path) -> tuple[Path, Path]:
    train = tmp_path / "train"
    for index, colour in enumerate(TRAIN_COLOURS):
        flat(train, f"t{index}.png", colour, (16, 16))
    val = tmp_path / "val"
    flat(val / "people", "v0.png", VAL_COLOURS[0], (20, 30))
    flat(val / "people", "v1.png", VAL_COLOURS[1], (20, 30))
    flat(val / "scenes", "v2.png", VAL_COLOURS[2], (10, 30))
    return train, val


def evaluate_json(argv: list[str], capsys: pytest.CaptureFixture[str]) -> dict:
    assert run(argv) == 0
    return json.loads(capsys.readouterr().out)


def test_baselines_have_their_known_values(
    sets: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    train, val = sets
    result = evaluate_json(
        ["evaluate", "--data", str(val), "--train-data", str(train), "--baselines-only", "--json"],
        capsys,
    )
    train_labs = [lab_of(c) for c in TRAIN_COLOURS]
    mean_a = np.mean([lab[1] for lab in train_labs])
    mean_b = np.mean([lab[2] for lab in train_labs])
    assert result["train_mean_ab"] == pytest.approx([mean_a, mean_b], abs=1e-3)

    val_labs = [lab_of(c) for c in VAL_COLOURS]
    pixels = [600, 600, 300]
    tint_a = sum(lab[1] * n for lab, n in zip(val_labs, pixels, strict=True)) / sum(pixels)
    tint_b = sum(lab[2] * n for lab, n in zip(val_labs, pixels, strict=True)) / sum(pixels)
    assert result["best_flat_tint_ab"] == pytest.approx([tint_a, tint_b], abs=1e-3)

    rows = {row["image"]: row for row in result["per_image"]}
    for index, colour in enumerate(VAL_COLOURS):
        row = rows[f"v{index}.png"]
        _, a, b = val_labs[index]
        grey = row["grey"]
        assert grey["cast_a"] == pytest.approx(-a, abs=1e-3)
        assert grey["cast_b"] == pytest.approx(-b, abs=1e-3)
        assert grey["cf_pred"] == pytest.approx(0.0, abs=1e-9)
        assert grey["psnr"] == pytest.approx(expected_psnr(colour, 0.0, 0.0))
        tint = row["best-flat-tint"]
        assert tint["cast_a"] == pytest.approx(tint_a - a, abs=1e-3)
        assert tint["psnr"] == pytest.approx(expected_psnr(colour, tint_a, tint_b))
        assert row["train-mean"]["cast_b"] == pytest.approx(mean_b - b, abs=1e-3)
    # the neutral grey image: grey baseline is exact, so its PSNR is infinite
    assert rows["v2.png"]["grey"]["psnr"] == math.inf
    assert rows["v2.png"]["grey"]["ciede2000"] == pytest.approx(0.0, abs=1e-6)
    assert set(result["by_content"]) == {"people", "scenes"}
    assert result["by_content"]["people"]["grey"]["images"] == 2


@pytest.mark.slow
def test_model_is_measured_beside_the_baselines(
    sets: tuple[Path, Path],
    fixture_models: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, val = sets
    sheet = tmp_path / "sheet.png"
    result = evaluate_json(
        [
            "evaluate", "--data", str(val), "--model", "iizuka.fixture", "--train-mean", "1,2",
            "--simulate", "halftone", "--contact-sheet", str(sheet), "--margins", "--json",
        ],
        capsys,
    )  # fmt: skip
    assert result["model"] == "iizuka.fixture"
    assert result["simulate"] == "halftone"
    assert result["train_mean_ab"] == [1.0, 2.0]
    for row in result["per_image"]:
        assert math.isfinite(row["model"]["ciede2000"])
    margins = result["margins"]
    assert margins["pages"] == 3
    assert margins["margin_chroma_masked"] == pytest.approx(0.0, abs=1e-6)
    assert margins["margin_chroma_raw"] >= margins["margin_chroma_masked"]
    with Image.open(sheet) as image:
        assert image.size[0] == 3 * 192
    assert (
        run(["evaluate", "--data", str(val), "--simulate", "woodcut", "--train-mean", "0,0"]) == 1
    )


def test_halves_split_each_source_by_position(
    sets: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, val = sets
    images = {}
    for half in ("A", "B"):
        result = evaluate_json(
            ["evaluate", "--data", str(val), "--train-mean", "0,0", "--baselines-only",
             "--half", half, "--json"],
            capsys,
        )  # fmt: skip
        images[half] = sorted(row["image"] for row in result["per_image"])
    # people: v0 (position 0) → A, v1 (position 1) → B; scenes: v2 (position 0) → A
    assert images == {"A": ["v0.png", "v2.png"], "B": ["v1.png"]}
    assert run(["evaluate", "--data", str(val), "--train-mean", "0,0", "--half", "C"]) == 1
    assert "--half" in capsys.readouterr().err


def test_network_config_overrides_decoding_but_not_shapes(
    sets: tuple[Path, Path], fixture_models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, val = sets
    base = ["evaluate", "--data", str(val), "--model", "iizuka.fixture", "--train-mean", "0,0"]
    plain = evaluate_json([*base, "--json"], capsys)
    rescaled = evaluate_json([*base, "--network-config", '{"ab_scale": 80.0}', "--json"], capsys)
    assert plain["mean"]["model"]["cf_pred"] != rescaled["mean"]["model"]["cf_pred"]
    assert run([*base, "--network-config", '{"width": 0.5}']) == 1
    assert "weights do not fit" in capsys.readouterr().err


def test_markdown_tables_hold_the_json_means(
    sets: tuple[Path, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    _, val = sets
    base = ["evaluate", "--data", str(val), "--train-mean", "1,2", "--baselines-only"]
    means = evaluate_json([*base, "--json"], capsys)["mean"]
    assert run([*base, "--markdown"]) == 0
    text = capsys.readouterr().out
    assert text.startswith("| method | images | PSNR dB |")
    assert "Content type **people**:" in text and "Content type **scenes**:" in text
    overall = text.split("Content type")[0]
    rows = {
        line.split(" | ")[0][2:]: line for line in overall.splitlines() if line.startswith("| ")
    }
    train_mean = rows["train-mean"].strip("| ").split(" | ")
    assert train_mean[1] == "3"
    assert train_mean[2] == f"{means['train-mean']['psnr']:.2f}"
    assert train_mean[3] == f"{means['train-mean']['ssim']:.3f}"


@pytest.mark.slow
def test_tiling_report_on_a_model_with_an_input_cap(
    sets: tuple[Path, Path], fixture_models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _, val = sets
    card_path = fixture_models / "iizuka.fixture" / "card.json"
    card = json.loads(card_path.read_text())
    card_path.write_text(json.dumps({**card, "network_max_side": 64}))
    result = evaluate_json(
        ["evaluate", "--data", str(val), "--model", "iizuka.fixture", "--train-mean", "0,0",
         "--tiling", "400", "--json"],
        capsys,
    )  # fmt: skip
    tiling = result["tiling"]
    assert tiling["side"] == 1536
    assert tiling["seam_max_abs_dab"] < 1e-3
    assert tiling["network_seconds_at_timing_side"] > 0
