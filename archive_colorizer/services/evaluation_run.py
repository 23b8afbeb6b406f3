"""`archcolor evaluate`: load the model (or none, for the baselines alone), measure it on a
split of a data set against the baselines, and return what the CLI prints (photos:
:mod:`~archive_colorizer.services.evaluate`; prints:
:mod:`~archive_colorizer.services.evaluate_prints`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from archive_colorizer.errors import ConfigurationError
from archive_colorizer.imaging.datasets import (
    ImageItem,
    list_images,
    print_books,
    same_book_references,
    spread,
)
from archive_colorizer.imaging.simulate import STYLES
from archive_colorizer.imaging.wash import WASH_DARKENING
from archive_colorizer.services import evaluate as evaluation
from archive_colorizer.services import evaluate_prints as prints
from archive_colorizer.services.colorize import ColorizeParams, resolve_reference_prior
from archive_colorizer.services.training import parse_network_config

__all__ = ["EvaluationRun", "run_evaluation"]


@dataclass
class EvaluationRun:
    """The ``--json`` payload and the result object the tables are printed from."""

    payload: dict[str, Any]
    result: Any
    items: Any
    sheet: Path | None = None
    extras: dict[str, Any] = field(default_factory=dict)


def _load(model: str | None, device: str, threads: int | None, **how: Any) -> Any:
    from archive_colorizer.inference.device import set_threads
    from archive_colorizer.inference.registry import load_predictor

    set_threads(threads)
    return load_predictor(model, device=device, half=False, **how)


def run_evaluation(
    data: Path,
    *,
    model: str | None,
    split: str,
    simulate: str | None,
    seed: int,
    limit: int | None,
    half: Any,
    mode: str,
    render: str | None,
    darkening: float | None,
    network_config: str | None,
    contact_sheet: Path | None,
    device: str,
    threads: int | None,
    baselines_only: bool,
    train_mean: str | None,
    train_data: Path | None,
    train_split: str,
    margins: bool,
    tiling: int | None,
    reference: str | None = None,
    hints: int = 0,
    reference_prior: tuple[float | None, bool | None] = (None, None),
) -> EvaluationRun:
    """Measure ``model`` (or only the baselines) on ``data``'s ``split``."""
    rendering = _rendering(simulate, mode, render)
    items = evaluation.resolve_items(data, split, limit, half, mode)
    if reference is not None and mode != "prints":
        raise ConfigurationError("--reference is measured in --mode prints only")
    if mode == "prints":
        return _evaluate_prints(
            items,
            _references(data, split, items, reference),
            hints,
            model,
            baselines_only,
            rendering,
            darkening,
            network_config,
            contact_sheet,
            device,
            threads,
            reference_prior,
        )
    overrides = parse_network_config(network_config)
    mean_a, mean_b = _train_mean(train_mean, data, train_data, train_split)
    predictor = (
        None if baselines_only else _load(model, device, threads, config_overrides=overrides)
    )
    model_name = None if predictor is None else predictor.model_name
    wash_darkening = _darkening(predictor, darkening)
    result = evaluation.evaluate(
        predictor,
        items,
        (mean_a, mean_b),
        simulate,
        seed,
        rendering=rendering,
        darkening=wash_darkening,
        hints=hints,
    )
    sheet, neutrality = _figures(predictor, items, contact_sheet, margins, simulate, seed)
    seams = None
    if tiling is not None and predictor is not None:
        seams = _seams(model, device, overrides, tiling, items, predictor)
    return EvaluationRun(
        payload={
            **result.to_dict(),
            **{"mode": mode, "render": rendering, "darkening": wash_darkening, "tiling": seams},
            **{"model": model_name, "contact_sheet": str(sheet) if sheet else None},
            "margins": neutrality,
            "hints": hints,
        },
        result=result,
        items=items,
        sheet=sheet,
        extras={"mean_ab": (mean_a, mean_b), "seams": seams, "neutrality": neutrality},
    )


def _rendering(simulate: str | None, mode: str, render: str | None) -> str:
    """The rendering to measure (``render``, else the mode's), the choices checked."""
    if simulate is not None and simulate not in STYLES:
        raise ConfigurationError(f"--simulate {simulate!r}: choose one of {', '.join(STYLES)}")
    if mode not in ("photos", "prints"):
        raise ConfigurationError(f"--mode {mode!r}: choose photos or prints")
    rendering = render or ("wash" if mode == "prints" else "luminance")
    if rendering not in ("wash", "luminance"):
        raise ConfigurationError(f"--render {render!r}: choose wash or luminance")
    return rendering


def _train_mean(
    given: str | None, data: Path, train_data: Path | None, split: str
) -> tuple[float, float]:
    """The mean training chroma: ``--train-mean A,B``, else measured on ``train_data`` (or
    ``data``'s index.csv) ``split``."""
    if given is not None:
        try:
            mean_a, mean_b = (float(part) for part in given.split(","))
        except ValueError:
            raise ConfigurationError(
                f"--train-mean {given!r}: expected two numbers 'A,B'"
            ) from None
        return mean_a, mean_b
    if train_data is None and not (data / "index.csv").is_file():
        raise ConfigurationError(
            "--data has no index.csv: pass --train-data DIR or --train-mean A,B for the "
            "mean-chroma baseline"
        )
    return evaluation.mean_chroma(list_images(train_data or data, split))


def _seams(
    model: str | None,
    device: str,
    overrides: dict[str, Any],
    tiling: int,
    items: list[Any],
    predictor: Any,
) -> dict[str, float]:
    """The tiler's seam error: the model whole vs in ``tiling`` px windows, at full working
    size (without the card's input cap)."""
    from archive_colorizer.inference.registry import load_predictor as load

    whole, tiled = (
        load(model, device=device, half=False, tile_size=size, config_overrides=overrides,
             input_cap=None)
        for size in (None, tiling)
    )  # fmt: skip
    return evaluation.tiling_report(whole, tiled, items, timed=predictor)


def _darkening(predictor: Any, given: float | None) -> float:
    """``--darkening``, else the model card's ``wash_darkening`` (the value the pipeline uses),
    else the default."""

    if given is not None:
        return given
    value = getattr(getattr(predictor, "card", None), "wash_darkening", None)
    return float(value) if isinstance(value, int | float) else WASH_DARKENING


def _figures(
    predictor: Any,
    items: list[Any],
    contact_sheet: Path | None,
    margins: bool,
    simulate: str | None,
    seed: int,
) -> tuple[Path | None, dict[str, float] | None]:
    """Photos mode, with a model: the contact sheet written (when asked for) and the page-margin
    neutrality (``margins``); None for those not asked for."""
    sheet = None
    if contact_sheet is not None and predictor is not None:
        sheet = evaluation.contact_sheet(
            predictor, items, contact_sheet, style=simulate or "hatching", seed=seed
        )
    neutrality = None
    if margins and predictor is not None:
        neutrality = evaluation.margin_neutrality(
            predictor, items, style=simulate or "hatching", seed=seed
        )
    return sheet, neutrality


def _references(
    data: Path, split: str, items: list[Any], reference: str | None
) -> list[Any] | None:
    """Per print its colour reference: ``same-book`` (another print of its book in the
    split) or one image for all; None without ``reference``."""
    if reference is None:
        return None
    if reference == "same-book":
        books = print_books(data)
        if not books:
            raise ConfigurationError(
                f"--reference same-book needs {data}/prints-sources.csv (the prints' books)"
            )
        pool = evaluation.resolve_items(data, split, None, None, "prints")
        return same_book_references(items, pool, books)
    path = Path(reference)
    if not path.is_file():
        raise ConfigurationError(
            f"--reference {reference}: no such image; give an image file or same-book"
        )
    return [ImageItem(path, "reference")] * len(items)


def _prior_weight(
    predictor: Any, requested: float | None, reference_global: bool | None
) -> tuple[float, bool]:
    """The reference prior's weight and whether the reference gives the global prior, as
    `colorize --reference` resolves them for this model."""
    grid = int(getattr(predictor, "class_grid", 0) or 0) if predictor is not None else 0
    params = resolve_reference_prior(ColorizeParams(), requested, grid, reference_global)
    return params.reference_prior, params.reference_global


def _evaluate_prints(
    items: Any,
    references: list[Any] | None,
    hints: int,
    model: str | None,
    baselines_only: bool,
    rendering: str,
    darkening: float | None,
    network_config: str | None,
    contact_sheet: Path | None,
    device: str,
    threads: int | None,
    reference_prior: tuple[float | None, bool | None] = (None, None),
) -> EvaluationRun:
    """Prints mode (``reference_prior``: the weight of the reference's colours on the class
    head and whether it gives the global prior; None: as `colorize --reference`)."""
    predictor = None
    if not baselines_only:
        predictor = _load(
            model, device, threads, config_overrides=parse_network_config(network_config)
        )
    wash_darkening = _darkening(predictor, darkening)
    weight, use_global = _prior_weight(predictor, *reference_prior)
    if references is None:
        weight, use_global = 0.0, True
    result = prints.evaluate_prints(
        predictor,
        items,
        rendering,
        wash_darkening,
        references=references,
        hints=hints,
        reference_prior=weight,
        reference_global=use_global,
    )
    sheet = None
    if contact_sheet is not None and predictor is not None:
        sheet = prints.print_contact_sheet(
            predictor, spread(list(items), 16), contact_sheet, rendering, wash_darkening
        )
    payload = result.to_dict()
    payload["model"] = predictor.model_name if predictor is not None else None
    payload["contact_sheet"] = str(sheet) if sheet else None
    if references is not None:
        payload["references"] = sum(ref is not None for ref in references)
        payload["reference_prior"] = weight
        payload["reference_global"] = use_global
    payload["hints"] = hints
    return EvaluationRun(
        payload=payload,
        result=result,
        items=items,
        sheet=sheet,
        extras={"rendering": rendering, "darkening": wash_darkening},
    )
