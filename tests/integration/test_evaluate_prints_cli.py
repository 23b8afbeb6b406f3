"""`archcolor evaluate --mode prints` and `--render` on tiny synthetic prints and photos."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from archive_colorizer.cli.app import run
from archive_colorizer.imaging.color import linear_to_codes
from archive_colorizer.imaging.wash import wash_linear
from tests.integration.test_evaluate import evaluate_json

SOURCE = "gitenberg-print"


def write_print(path: Path, a: float, b: float, size: int = 80) -> None:
    ink = np.ones((size, size), np.float32)
    ink[1::5, :] = 0.03
    a_plane = np.zeros((size, size), np.float32)
    b_plane = np.zeros((size, size), np.float32)
    a_plane[12:-12, 12:-12], b_plane[12:-12, 12:-12] = a, b
    linear = ink[..., None] * wash_linear(a_plane, b_plane)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.asarray(linear_to_codes(linear, 8), dtype=np.uint8)).save(path)


@pytest.fixture
def mixed(tmp_path: Path) -> Path:
    """A folder with two prints (source gitenberg-print) and two photos (source people)."""
    root = tmp_path / "val"
    write_print(root / SOURCE / "p0.png", 30.0, 15.0)
    write_print(root / SOURCE / "p1.png", -20.0, 25.0, 88)
    for index, colour in enumerate([(200, 80, 60), (60, 120, 200)]):
        (root / "people").mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((24, 32, 3), colour, np.uint8)).save(
            root / "people" / f"v{index}.png"
        )
    return root


def test_prints_mode_measures_only_prints_beside_three_baselines(
    mixed: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    result = evaluate_json(
        ["evaluate", "--mode", "prints", "--data", str(mixed), "--baselines-only", "--json"],
        capsys,
    )
    assert result["mode"] == "prints" and result["render"] == "wash"
    assert sorted(row["image"] for row in result["per_image"]) == ["p0.png", "p1.png"]
    means = result["mean"]
    assert set(means) == {"grey", "best-flat-tint", "flat-wash"}
    assert means["grey"]["cf_pred"] == 0.0 and means["grey"]["chromatic_pred"] == 0.0
    assert means["grey"]["chromatic_true"] > 0.3
    # the oracle flat colours lie between the two prints' washes (a* 30 and -20, b* 15 and 25)
    tint_a, tint_b = result["best_flat_tint_ab"]
    assert -20 < tint_a < 30 and 5 < tint_b < 25
    red, green, blue = result["flat_wash_linear"]
    assert blue < red < 1.0 and blue < green < 1.0  # a yellowish wash, darker than paper
    for method in means.values():
        assert method["images"] == 2


def test_photos_mode_leaves_the_prints_out(mixed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    result = evaluate_json(
        ["evaluate", "--data", str(mixed), "--train-mean", "0,0", "--baselines-only", "--json"],
        capsys,
    )
    assert sorted(row["image"] for row in result["per_image"]) == ["v0.png", "v1.png"]
    assert result["mode"] == "photos" and result["render"] == "luminance"


def test_prints_mode_with_a_model_and_both_renderings(
    mixed: Path, fixture_models: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["evaluate", "--mode", "prints", "--data", str(mixed), "--model", "iizuka.fixture"]
    sheet = tmp_path / "sheet.png"
    wash = evaluate_json(
        [*base, "--contact-sheet", str(sheet), "--darkening", "0.8", "--json"], capsys
    )
    luminance = evaluate_json([*base, "--render", "luminance", "--json"], capsys)
    assert wash["darkening"] == 0.8 and luminance["darkening"] == 0.53
    assert wash["model"] == "iizuka.fixture"
    for result in (wash, luminance):
        assert np.isfinite(result["mean"]["model"]["ciede2000"])
    # the baselines do not depend on the rendering of the model
    assert wash["mean"]["grey"] == luminance["mean"]["grey"]
    with Image.open(sheet) as image:
        assert image.size == (3 * 192, 2 * 192)
    assert run([*base, "--markdown"]) == 0
    assert capsys.readouterr().out.startswith("| method | images | CIEDE2000 1/4 |")


def test_photos_mode_renders_the_model_as_a_wash(
    mixed: Path, fixture_models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["evaluate", "--data", str(mixed), "--model", "iizuka.fixture", "--train-mean", "0,0"]
    luminance = evaluate_json([*base, "--json"], capsys)
    wash = evaluate_json([*base, "--render", "wash", "--json"], capsys)
    assert wash["render"] == "wash"
    assert wash["mean"]["grey"] == luminance["mean"]["grey"]
    assert wash["mean"]["model"]["psnr"] != luminance["mean"]["model"]["psnr"]


@pytest.mark.parametrize(
    ("extra", "message"),
    [(["--mode", "pages"], "--mode"), (["--render", "multiply"], "--render")],
)
def test_bad_mode_or_render_is_one_line(
    mixed: Path, extra: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evaluate", "--data", str(mixed), "--baselines-only", "--train-mean", "0,0", *extra]
    assert run(argv) == 1
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_prints_mode_on_a_set_without_prints(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "people").mkdir()
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "people" / "a.png")
    assert run(["evaluate", "--mode", "prints", "--data", str(tmp_path), "--baselines-only"]) == 1
    assert "no prints" in capsys.readouterr().err


def test_prints_mode_with_a_same_book_reference(
    mixed: Path, fixture_models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (mixed / "prints-sources.csv").write_text(
        "path,pg_id\ngitenberg-print/p0.png,11\ngitenberg-print/p1.png,11\n", encoding="utf-8"
    )
    base = ["evaluate", "--mode", "prints", "--data", str(mixed), "--model", "iizuka.fixture"]
    plain = evaluate_json([*base, "--json"], capsys)
    referenced = evaluate_json([*base, "--reference", "same-book", "--json"], capsys)
    assert referenced["references"] == 2
    # the fixture model has no class head: the reference gives the global prior only
    assert (referenced["reference_prior"], referenced["reference_global"]) == (0.0, True)
    assert {row["image"]: row["reference"] for row in referenced["per_image"]} == {
        "p0.png": "p1.png",
        "p1.png": "p0.png",
    }
    # the baselines stay, the model's colour comes from another global prior
    assert referenced["mean"]["grey"] == plain["mean"]["grey"]
    assert referenced["mean"]["model"] != plain["mean"]["model"]
    assert run([*base, "--reference", str(mixed / "nowhere.png")]) == 1
    assert "no such image" in capsys.readouterr().err
    photos = ["evaluate", "--data", str(mixed), "--baselines-only", "--train-mean", "0,0"]
    assert run([*photos, "--reference", "same-book"]) == 1
    assert "--mode prints only" in capsys.readouterr().err


@pytest.fixture
def hint_model(fixture_models: Path) -> str:
    """An untrained iizuka-effl0 with hint inputs whose hint weights are not zero."""
    from archive_colorizer.inference.fixture import write_hint_fixture

    return write_hint_fixture(fixture_models)


def test_hints_sampled_from_the_truth_reach_a_hint_model(
    mixed: Path, hint_model: str, capsys: pytest.CaptureFixture[str]
) -> None:
    base = ["evaluate", "--mode", "prints", "--data", str(mixed), "--model", hint_model]
    none = evaluate_json([*base, "--json"], capsys)
    twenty = evaluate_json([*base, "--hints", "20", "--json"], capsys)
    again = evaluate_json([*base, "--hints", "20", "--json"], capsys)
    assert none["hints"] == 0 and twenty["hints"] == 20
    assert twenty["mean"]["model"] != none["mean"]["model"]
    assert twenty["mean"] == again["mean"]  # a fixed seed: reruns compare
    photos = ["evaluate", "--data", str(mixed), "--model", hint_model, "--train-mean", "0,0"]
    plain = evaluate_json([*photos, "--json"], capsys)
    hinted = evaluate_json([*photos, "--hints", "5", "--json"], capsys)
    assert hinted["mean"]["model"]["ab_rmse"] != plain["mean"]["model"]["ab_rmse"]


def test_hints_help_a_model_without_hint_inputs(
    mixed: Path, fixture_models: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["evaluate", "--mode", "prints", "--data", str(mixed), "--model", "iizuka.fixture"]
    none = evaluate_json([*argv, "--json"], capsys)
    twenty = evaluate_json([*argv, "--hints", "20", "--json"], capsys)
    assert twenty["hints"] == 20
    assert twenty["mean"]["model"]["ab_rmse"] < none["mean"]["model"]["ab_rmse"]
