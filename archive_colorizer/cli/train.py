"""`archcolor train` and `archcolor evaluate`: train a colorization model, measure one."""

from __future__ import annotations

import functools
import inspect
import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)

from archive_colorizer.cli.context import emit_json, stderr_console, stdout_console
from archive_colorizer.services import api

DATA_HELP = (
    "Images: a data root holding index.csv (path,split,source,...; rows of --split are used) "
    "or any folder of .jpg/.png/.tif images (source = first sub-folder name)."
)


class RichReporter:
    """Training progress on stderr: a bar per epoch with loss and images/s, a line per epoch."""

    def __init__(self, log_every: int = 20) -> None:
        self.console = stderr_console()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("loss {task.fields[loss]:.4f}  {task.fields[rate]:.1f} img/s"),
            TimeElapsedColumn(),
            console=self.console,
            transient=False,
        )
        self.task: TaskID | None = None
        self.log_every = log_every
        self.interactive = self.console.is_terminal

    def stage(self, name: str, epoch: int, steps: int) -> None:
        if self.interactive:
            if self.task is None:
                self.progress.start()
            else:
                self.progress.remove_task(self.task)
            self.task = self.progress.add_task(
                f"epoch {epoch} ({name})", total=steps, loss=float("nan"), rate=0.0
            )
        else:
            self.console.log(f"epoch {epoch} ({name}): {steps} steps")

    def step(self, info: Any) -> None:
        if self.interactive and self.task is not None:
            self.progress.update(
                self.task, completed=info.step, loss=info.loss, rate=info.images_per_s
            )
        elif info.step % self.log_every == 0 or info.step == info.steps:
            self.console.log(
                f"epoch {info.epoch} step {info.step}/{info.steps} loss {info.loss:.4f} "
                f"{info.images_per_s:.1f} img/s elapsed {info.elapsed_s / 60:.1f} min"
            )

    def epoch(self, summary: dict[str, Any]) -> None:
        self.console.log("epoch done: " + json.dumps(summary, sort_keys=True, default=str))

    def close(self) -> None:
        if self.interactive and self.task is not None:
            self.progress.stop()


def register(app: typer.Typer) -> None:
    """Add this module's commands (`train`, `evaluate`) to `app`."""
    register_train(app)
    register_evaluate(app)


def _train_options() -> list[inspect.Parameter]:
    """One keyword parameter per trainer option (defined once, in inference.train_options)."""
    parameters = []
    for name, kind, default, spec in api.train_options():
        option = typer.Option(spec.flag, help=spec.help or None, min=spec.min, max=spec.max)
        parameters.append(
            inspect.Parameter(
                name, inspect.Parameter.KEYWORD_ONLY, default=default,
                annotation=Annotated[kind, option],
            )
        )  # fmt: skip
    return parameters


#: the options of the run itself (where the images are and go), beside the trainer's options
_RUN_OPTIONS: list[tuple[str, Any, Any, Any]] = [
    ("data", Path, inspect.Parameter.empty, typer.Option("--data", help=DATA_HELP)),
    ("out", Path, inspect.Parameter.empty,
     typer.Option("--out", help="Model folder to write, models/<arch>.<tag>.")),
    ("val", Path | None, None,
     typer.Option("--val", help="Validation images (same forms as --data).")),
    ("resume", Path | None, None,
     typer.Option("--resume", help="Checkpoint to continue exactly.")),
    ("skip_sources", str | None, None,
     typer.Option("--skip-sources", help="Comma list of sources left out of training.")),
    ("train_split", str, "train", typer.Option("--split", help="index.csv split of --data.")),
    ("val_split", str, "val", typer.Option("--val-split")),
    ("json_output", bool, False, typer.Option("--json", help="Print the result as JSON.")),
]  # fmt: skip


def train_command(**values: Any) -> None:
    """Train a colorization model (checkpoint every epoch; weights + card at the end)."""
    json_output = values.pop("json_output")
    run = {name: values.pop(name) for name, *_ in _RUN_OPTIONS if name in values}
    reporter = RichReporter()
    try:
        result = api.train(values, reporter=reporter, **run)
    finally:
        reporter.close()
    if json_output:
        emit_json(
            {
                "model_dir": str(result.model_dir),
                "samples_seen": result.samples_seen,
                "elapsed_s": round(result.elapsed_s, 1),
                "stopped_by_budget": result.stopped_by_budget,
                "checkpoint": str(result.checkpoint),
                "weights_sha256": result.card.weights_sha256 if result.card else None,
                "history": result.history,
            }
        )
    else:
        stdout_console().print(
            f"trained {result.model_dir} — {result.samples_seen} samples in "
            f"{result.elapsed_s / 60:.1f} min; checkpoint {result.checkpoint}"
        )


def register_train(app: typer.Typer) -> None:
    """Add `archcolor train` to `app`: the run's options, then the trainer's."""
    parameters = [
        inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default,
                          annotation=Annotated[kind, option])
        for name, kind, default, option in _RUN_OPTIONS
    ] + _train_options()  # fmt: skip

    @functools.wraps(train_command)
    def command(**values: Any) -> None:
        train_command(**values)

    command.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    command.__annotations__ = {p.name: p.annotation for p in parameters}
    app.command("train")(command)


def _format(value: float) -> str:
    return f"{value:.2f}" if value == value else "nan"


EVAL_COLUMNS = ("psnr", "ssim", "cf_pred", "cf_true", "abs_dcf", "cast_a", "cast_b", "ciede2000")


def markdown_table(means: dict[str, dict[str, float]]) -> str:
    """Mean metrics per method as a Markdown table (the first method, the model, in bold)."""
    header = ["method", "images", "PSNR dB", "SSIM", "CF pred", "CF true", "abs dCF"]
    header += ["cast a", "cast b", "CIEDE2000"]
    lines = ["| " + " | ".join(header) + " |", "|---|" + "---:|" * (len(header) - 1)]
    for method, metrics in means.items():
        name = "**ours**" if method == "model" else method
        cells = [f"{metrics[c]:.3f}" if c == "ssim" else _format(metrics[c]) for c in EVAL_COLUMNS]
        lines.append("| " + " | ".join([name, str(int(metrics["images"])), *cells]) + " |")
    return "\n".join(lines)


def _print_table(title: str, means: dict[str, dict[str, float]]) -> None:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("method")
    table.add_column("images", justify="right")
    for column in EVAL_COLUMNS:
        table.add_column(column, justify="right")
    for method, metrics in means.items():
        table.add_row(
            method,
            str(int(metrics["images"])),
            *(f"{metrics[c]:.3f}" if c == "ssim" else _format(metrics[c]) for c in EVAL_COLUMNS),
        )
    console = stdout_console()
    if not console.is_terminal:
        console.width = max(console.width, 140)
    console.print(table)


_ModelOption = Annotated[
    str | None, typer.Option("--model", help="Installed model name (default: DEFAULT).")
]
_SplitOption = Annotated[
    str, typer.Option("--split", help="index.csv split of --data to evaluate.")
]
_SimulateOption = Annotated[
    str | None,
    typer.Option(
        "--simulate",
        help="Feed the network a simulated engraving (gravure, color-gravure, hatching, "
        "halftone) of each photo instead of its plain L*.",
    ),
]
_LimitOption = Annotated[
    int | None, typer.Option("--limit", min=1, help="Evaluate N evenly spread images.")
]
_HalfOption = Annotated[
    str | None,
    typer.Option(
        "--half",
        help="Only half of the images: A = even, B = odd positions within each source "
        "(select on one half, report the other untouched).",
    ),
]
_NetworkConfigOption = Annotated[
    str | None,
    typer.Option(
        "--network-config",
        help="Override decoding options of the model's config as JSON, e.g. "
        "'{\"mix\": 0.5}' (the weights must still fit).",
    ),
]
_TrainDataOption = Annotated[
    Path | None,
    typer.Option(
        "--train-data",
        help="Training images for the mean-chroma baseline (default: --data's "
        "index.csv split --train-split).",
    ),
]
_TrainMeanOption = Annotated[
    str | None,
    typer.Option("--train-mean", help="Mean training chroma 'A,B' (skips computing it)."),
]
_BaselinesOnlyOption = Annotated[
    bool, typer.Option("--baselines-only", help="Measure only the baselines (no model).")
]
_ContactSheetOption = Annotated[
    Path | None,
    typer.Option(
        "--contact-sheet",
        help="Also write a PNG: grey | ours | truth for 16 images, then 4 simulated "
        "engravings (--simulate style, default hatching).",
    ),
]
_MarginsOption = Annotated[
    bool,
    typer.Option(
        "--margins",
        help="Also measure page-margin neutrality: each image as a simulated engraving "
        "(--simulate style, default hatching) on a page with blank paper margins; mean "
        "margin/plate chroma without and with the paper mask (imaging.paper).",
    ),
]
_TilingOption = Annotated[
    int | None,
    typer.Option(
        "--tiling",
        min=16,
        help="Also measure the seam error: a 1536 px mosaic of the images colorized "
        "whole vs in windows of this size (max/p99 |dab|), and the network time on a "
        "1024 px working image.",
    ),
]
_ModeOption = Annotated[
    str,
    typer.Option(
        "--mode",
        help="photos: photos and paintings (real coloured prints left out), the truth's "
        "L* kept; prints: the real coloured prints, each split into ink layer (input, "
        "the master) and its colouring (truth), against grey, best flat tint and flat "
        "multiply wash.",
    ),
]
_RenderOption = Annotated[
    str | None,
    typer.Option(
        "--render",
        help="How the model's a*, b* become the derivative: luminance (the master's L* "
        "kept) or wash (master x transparent wash). Default: wash in prints mode, "
        "luminance in photos mode.",
    ),
]
_DarkeningOption = Annotated[
    float | None,
    typer.Option(
        "--darkening",
        min=0.0,
        help="Wash L* lost per unit chroma (default: the model card's "
        "wash_darkening, else the built-in 0.53).",
    ),
]
_MarkdownOption = Annotated[
    bool,
    typer.Option("--markdown", help="Print the mean tables as Markdown (model cards)."),
]
_ReferenceOption = Annotated[
    str | None,
    typer.Option(
        "--reference",
        help="Prints mode: the network's global prior from a colour reference instead "
        "of the page: same-book (another print of the same book in the split) or an "
        "image file used for every print.",
    ),
]
_ReferencePriorOption = Annotated[
    float | None,
    typer.Option(
        "--reference-prior",
        min=0.0,
        max=10.0,
        help="Prints mode with --reference: weight of the reference's colours as a prior on "
        "the model's colour classes (0: global prior only). [default: as colorize]",
        show_default=False,
    ),
]
_ReferenceGlobalOption = Annotated[
    bool | None,
    typer.Option(
        "--reference-global/--page-global",
        help="Prints mode with --reference: the global prior from the reference or the page. "
        "[default: as colorize]",
        show_default=False,
    ),
]
_HintsOption = Annotated[
    int,
    typer.Option(
        "--hints",
        min=0,
        help="Give the model K point hints per image, sampled from its true colour "
        "(prints: the wash) with a fixed seed, as a curator would; spread over the "
        "prediction as a page's hints are (docs/hints.md).",
    ),
]


def evaluate_command(
    data: Annotated[Path, typer.Option("--data", help=DATA_HELP)],
    model: _ModelOption = None,
    split: _SplitOption = "val",
    simulate: _SimulateOption = None,
    seed: Annotated[int, typer.Option("--seed", help="Simulator seed (plus image index).")] = 0,
    limit: _LimitOption = None,
    half: _HalfOption = None,
    network_config: _NetworkConfigOption = None,
    train_data: _TrainDataOption = None,
    train_split: Annotated[str, typer.Option("--train-split")] = "train",
    train_mean: _TrainMeanOption = None,
    baselines_only: _BaselinesOnlyOption = False,
    contact_sheet: _ContactSheetOption = None,
    margins: _MarginsOption = False,
    tiling: _TilingOption = None,
    mode: _ModeOption = "photos",
    render: _RenderOption = None,
    darkening: _DarkeningOption = None,
    reference: _ReferenceOption = None,
    reference_prior: _ReferencePriorOption = None,
    reference_global: _ReferenceGlobalOption = None,
    hints: _HintsOption = 0,
    device: Annotated[str, typer.Option("--device")] = "cpu",
    threads: Annotated[int | None, typer.Option("--threads", min=1)] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
    markdown: _MarkdownOption = False,
) -> None:
    """Measure a model against grey, train-mean and best-flat-tint baselines.

    Every candidate is rendered with the truth's own L* (chroma is what is measured);
    results per image (--json) and means, overall and per content type.
    """
    run = api.evaluate(
        data,
        model=model,
        split=split,
        simulate=simulate,
        seed=seed,
        limit=limit,
        half=half,
        mode=mode,
        render=render,
        darkening=darkening,
        network_config=network_config,
        contact_sheet=contact_sheet,
        device=device,
        threads=threads,
        baselines_only=baselines_only,
        train_mean=train_mean,
        train_data=train_data,
        train_split=train_split,
        margins=margins,
        tiling=tiling,
        reference=reference,
        reference_prior=(reference_prior, reference_global),
        hints=hints,
    )
    if mode == "prints":
        _print_prints(run, json_output, markdown)
    else:
        _print_photos(run, f"{data} ({split})", simulate, json_output, markdown)


def _print_photos(
    run: Any, where: str, simulate: str | None, json_output: bool, markdown: bool
) -> None:
    """The photos-mode evaluation: JSON, Markdown tables, or rich tables and figures."""
    payload, result, items, sheet = run.payload, run.result, run.items, run.sheet
    model_name = payload["model"]
    mean_a, mean_b = run.extras["mean_ab"]
    seams, neutrality = run.extras["seams"], run.extras["neutrality"]
    if json_output:
        emit_json(payload)
        return
    if markdown:
        blocks = [markdown_table(result.means())]
        blocks += [
            f"Content type **{content}**:\n\n" + markdown_table(result.means(content))
            for content in result.contents()
        ]
        stdout_console().print("\n\n".join(blocks), markup=False, highlight=False)
        return
    where += f", input simulated as {simulate}" if simulate else ""
    _print_table(f"{model_name or 'baselines'} on {len(items)} images of {where}", result.means())
    for content in result.contents():
        _print_table(f"content: {content}", result.means(content))
    stdout_console().print(
        f"train-mean ab = ({mean_a:.2f}, {mean_b:.2f}); best flat tint ab = "
        f"({result.flat_tint_ab[0]:.2f}, {result.flat_tint_ab[1]:.2f})"
        + (f"; contact sheet {sheet}" if sheet else "")
    )
    if seams is not None:
        stdout_console().print(
            "tiling: " + ", ".join(f"{key} {value:.4g}" for key, value in seams.items())
        )
    if neutrality is not None:
        stdout_console().print(
            "page margins (mean chroma): "
            + ", ".join(f"{key} {value:.2f}" for key, value in neutrality.items())
        )


def register_evaluate(app: typer.Typer) -> None:
    """Add `archcolor evaluate` to `app`."""

    app.command("evaluate")(evaluate_command)


PRINT_COLUMNS = (
    "ciede2000",
    "ab_rmse",
    "cf_pred",
    "cf_true",
    "chromatic_pred",
    "chromatic_true",
    "hue_entropy_pred",
    "hue_entropy_true",
)
PRINT_HEADER = (
    "method",
    "images",
    "CIEDE2000 1/4",
    "ab RMSE 1/8",
    "CF pred",
    "CF true",
    "chromatic pred",
    "chromatic true",
    "hue H pred",
    "hue H true",
)


def print_markdown_table(means: dict[str, dict[str, float]]) -> str:
    """Mean prints metrics per method as a Markdown table (the model in bold)."""
    lines = ["| " + " | ".join(PRINT_HEADER) + " |", "|---|" + "---:|" * (len(PRINT_HEADER) - 1)]
    for method, metrics in means.items():
        name = "**ours**" if method == "model" else method
        cells = [_format(metrics[c]) for c in PRINT_COLUMNS]
        lines.append("| " + " | ".join([name, str(int(metrics["images"])), *cells]) + " |")
    return "\n".join(lines)


def _print_prints(run: Any, json_output: bool, markdown: bool) -> None:
    payload, result, items, sheet = run.payload, run.result, run.items, run.sheet
    rendering, wash_darkening = run.extras["rendering"], run.extras["darkening"]
    if json_output:
        emit_json(payload)
        return
    table = print_markdown_table(result.means())
    if markdown:
        stdout_console().print(table, markup=False, highlight=False)
        return
    console = stdout_console()
    console.print(
        f"{payload['model'] or 'baselines'} on {len(items)} prints, render {rendering}, "
        f"darkening {wash_darkening:.3g}",
        markup=False,
    )
    console.print(table, markup=False, highlight=False)
    console.print(
        f"best flat tint ab = ({result.flat_tint_ab[0]:.2f}, {result.flat_tint_ab[1]:.2f}); "
        f"flat wash (linear RGB) = {tuple(round(v, 3) for v in result.flat_wash_linear)}"
        + (f"; contact sheet {sheet}" if sheet else ""),
        markup=False,
    )
