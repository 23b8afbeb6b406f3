"""Command-line options more than one command takes, defined once.

The colorize parameters (:class:`~archive_colorizer.services.colorize.ColorizeParams`) that
both ``colorize`` (one file) and ``process`` (the queue) expose, and ``--json``.
"""

from __future__ import annotations

from typing import Annotated

import typer

from archive_colorizer.config import RENDER_MODES

__all__ = [
    "ChromaSizeOption",
    "JsonOption",
    "PaperMaskOption",
    "ReferenceGlobalOption",
    "ReferencePaletteOption",
    "ReferencePriorOption",
    "RenderOption",
]

#: ColorizeParams.chroma_size (default: config.DEFAULT_CHROMA_SIZE)
ChromaSizeOption = Annotated[
    int,
    typer.Option(
        "--chroma-size", min=0, help="Long side of the chroma working image in px; 0 = full."
    ),
]
#: ColorizeParams.paper_mask
PaperMaskOption = Annotated[
    bool,
    typer.Option(
        "--paper-mask/--no-paper-mask", help="Keep blank paper and margins neutral (zero chroma)."
    ),
]
#: ColorizeParams.render (None: the model card's)
RenderOption = Annotated[
    str | None,
    typer.Option(
        "--render",
        help=f"{' or '.join(RENDER_MODES)}: how colour meets the master's tones. "
        "[default: the model card's, else luminance]",
        show_default=False,
    ),
]
#: ColorizeParams.reference_palette (None: 0; only with a colour reference)
ReferencePaletteOption = Annotated[
    float | None,
    typer.Option(
        "--reference-palette",
        min=0.0,
        max=1.0,
        help="Move each page's colour towards its colour reference's palette by S (0..1). "
        "[default: 0]",
        show_default=False,
    ),
]
#: ColorizeParams.reference_prior (None: the default for a model with a class head, else 0)
ReferencePriorOption = Annotated[
    float | None,
    typer.Option(
        "--reference-prior",
        min=0.0,
        max=10.0,
        help="Weight B of the colour reference's colours as a prior on the model's colour "
        "classes, relative to the page's own (p' ~ p x (h/m)^B; 0: the reference gives the "
        "global prior only). [default: 0.25 for a model with a class head, else 0]",
        show_default=False,
    ),
]
#: ColorizeParams.reference_global (None: not when the reference's colours weight the classes)
ReferenceGlobalOption = Annotated[
    bool | None,
    typer.Option(
        "--reference-global/--page-global",
        help="The network's global prior from the colour reference (Iizuka et al. §5) or from "
        "the page itself. [default: the page's when --reference-prior > 0, else the "
        "reference's]",
        show_default=False,
    ),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
