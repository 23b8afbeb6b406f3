"""`archcolor colorize INPUT -o OUTPUT`: one master page into a derivative TIFF, no catalog
needed (a catalog, when there is one, guards OUTPUT).

The master is opened read-only; the derivative is staged beside OUTPUT and renamed into place
only after the master was found unchanged (sha256 and stat identity before and after).
"""

from __future__ import annotations

import functools
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive_colorizer import __version__
from archive_colorizer.config import ENV_SOURCE_DATE_EPOCH, Settings
from archive_colorizer.errors import (
    ConfigurationError,
    FixityError,
    InputError,
    OutputError,
    PathNotFoundError,
)
from archive_colorizer.imaging.atomic import fsync_directory
from archive_colorizer.imaging.hashing import FileSnapshot, changes_since, snapshot
from archive_colorizer.imaging.tiff_facts import PageFacts, read_facts
from archive_colorizer.services.colorize import (
    ColorizeParams,
    ColorizeResult,
    ModelBinding,
    colorize_master_late,
    resolve_reference_prior,
    resolve_rendering,
)

if TYPE_CHECKING:
    from archive_colorizer.imaging.reference import ReferenceImage
    from archive_colorizer.services.hints import PageHintSet

__all__ = ["TIFF_SUFFIXES", "colorize_file", "embedded_provenance"]


def embedded_provenance(
    *,
    source_name: str,
    source_sha256: str,
    model_name: str,
    weights_sha256: str,
    parameters: dict[str, Any],
    when: datetime,
    **more: Any,
) -> dict[str, Any]:
    """What a derivative carries in its XMP: its source, model, parameters, archcolor version
    and time (``more``: the queue's facts, for derivatives made by jobs)."""
    return {
        "source_name": source_name,
        "source_sha256": source_sha256,
        "model_name": model_name,
        "weights_sha256": weights_sha256,
        "parameters": parameters,
        "archcolor_version": __version__,
        "datetime": when,
        **more,
    }


def _creation_time() -> datetime:
    """Now (UTC, seconds), or the time in SOURCE_DATE_EPOCH when set (reproducible files)."""
    epoch = os.environ.get(ENV_SOURCE_DATE_EPOCH, "").strip()
    if epoch:
        try:
            return datetime.fromtimestamp(int(epoch), UTC)
        except (ValueError, OverflowError, OSError):
            raise ConfigurationError(
                f"{ENV_SOURCE_DATE_EPOCH}={epoch!r} is not a Unix time in whole seconds"
            ) from None
    return datetime.now(UTC).replace(microsecond=0)


#: what OUTPUT may be named: colorize writes TIFF derivatives only
TIFF_SUFFIXES = (".tif", ".tiff")


def _check_paths(source: Path, output: Path, overwrite: bool) -> None:
    if output.suffix.lower() not in TIFF_SUFFIXES:
        raise OutputError(
            f"{output}: colorize writes a TIFF derivative, so OUTPUT must end in .tif or .tiff; "
            "for JPEG, PNG or WebP copies of processed pages use "
            "`archcolor export --format jpeg|png|webp`"
        )
    if not source.exists():
        raise PathNotFoundError(f"{source}: no such file; check the path")
    if not source.is_file():
        raise InputError(f"{source}: not a file; give one TIFF master")
    if output.exists() and output.resolve() == source.resolve():
        raise InputError(f"{output}: OUTPUT is the master itself; masters are never overwritten")
    if output.exists() and os.path.samefile(source, output):
        raise InputError(f"{output}: OUTPUT is a link to the master; choose another path")
    if output.is_dir():
        raise OutputError(f"{output}: is a folder; give the derivative's file name")
    if not output.parent.is_dir():
        raise OutputError(f"{output.parent}: folder does not exist; create it first")
    if output.exists() and not overwrite:
        raise OutputError(f"{output}: already exists; pass --overwrite to replace it")


def _check_output(
    settings: Settings, source: Path, output: Path, overwrite: bool, on_warning: Any
) -> None:
    """OUTPUT may be written (see :func:`_check_paths`) and, when a catalog exists, lies outside
    its ingested folders (``on_warning`` hears when the catalog could not be asked)."""
    _check_paths(source, output, overwrite)
    if _no_sqlite_catalog(settings.database_url):
        return  # nothing catalogued to check against (and SQLAlchemy stays unimported)
    from archive_colorizer.services.guard import check_output_path_if_catalogued

    unchecked = check_output_path_if_catalogued(settings.database_url, output, what="OUTPUT")
    if unchecked and on_warning is not None:
        on_warning(unchecked)


#: a plain SQLite URL: its database part is the file's path as written (no escapes, no query)
_PLAIN_SQLITE_URL = re.compile(r"sqlite(?:\+pysqlite)?:///([^?#%]*)")


def _no_sqlite_catalog(database_url: str) -> bool:
    """Whether ``database_url`` is a plain SQLite URL naming no file or a file that does not
    exist: what :func:`~archive_colorizer.services.guard.check_output_path_if_catalogued` finds
    nothing to check against, told without importing SQLAlchemy (most `colorize` runs have no
    catalog). Any other URL: False (the guard decides)."""
    plain = _PLAIN_SQLITE_URL.fullmatch(database_url.strip())
    if plain is None:
        return False
    path = plain.group(1)
    return not path or path == ":memory:" or not os.path.isfile(path)


def _publish(staging: Path, before: FileSnapshot, output: Path) -> None:
    """Rename the finished ``staging`` file to ``output`` once the master is found unchanged."""
    _verify_source_unchanged(before, output)  # before OUTPUT is replaced
    os.replace(staging, output)
    fsync_directory(output.parent)


def _verify_source_unchanged(before: FileSnapshot, output: Path) -> None:
    """The master still holds the bytes whose sha256 the derivative's XMP names (see
    :func:`archive_colorizer.imaging.hashing.changes_since`)."""
    try:
        digest, changed = changes_since(before)
    except FileNotFoundError:
        raise PathNotFoundError(
            f"{before.path}: disappeared while it was being colorized; {output} was not written"
        ) from None
    if digest != before.sha256 or changed:
        what = f"sha256 {digest}, {before.sha256} before" if digest != before.sha256 else ""
        what = what or f"{', '.join(changed)} changed, same sha256"
        raise FixityError(
            f"{before.path}: changed while it was being colorized ({what}); {output} was not "
            "written — run again once the file no longer changes"
        )


def _page_facts(source: Path, page: int, pixel_limit: int, page_limit: int) -> PageFacts:
    facts = read_facts(source, pixel_limit=pixel_limit, page_limit=page_limit)
    if not 0 <= page < len(facts.pages):
        raise InputError(
            f"{source}: has {len(facts.pages)} image page(s) (0..{len(facts.pages) - 1}); "
            f"--page {page} does not exist"
        )
    return facts.pages[page]


def colorize_file(
    settings: Settings,
    source: Path,
    output: Path,
    *,
    model: str | None = None,
    page: int = 0,
    chroma_size: int | None = None,
    lowpass: float | None = None,
    bilevel_lowpass: float | None = None,
    tile_size: int | None = None,
    device: str = "auto",
    compression: str | None = None,
    paper_mask: bool = True,
    render: str | None = None,
    overwrite: bool = False,
    on_warning: Any = None,
    reference: Path | None = None,
    reference_palette: float | None = None,
    hints: Path | None = None,
    reference_prior: float | None = None,
    reference_global: bool | None = None,
) -> dict[str, Any]:
    """Colorize page ``page`` of ``source`` into ``output``; the summary `--json` prints
    (input, output, page, width, height, bits, bytes, sha256, seconds, …; ``reference``: its
    sha256 and file name when one was given; ``hints``: their sha256 and count, when a hints
    file was given)."""
    choice = _reference_choice(reference, reference_palette, reference_prior, reference_global)
    _check_output(settings, source, output, overwrite, on_warning)
    facts = _page_facts(source, page, settings.pixel_limit, settings.page_limit)
    options: dict[str, Any] = {
        "chroma_size": chroma_size,
        "lowpass": lowpass,
        "bilevel_lowpass": bilevel_lowpass,
        "compression": compression,
        "paper_mask": paper_mask,
        "render": render,  # checked here, before the model loads
        "reference_palette": reference_palette,
    }
    params, colour_reference = _requested_params(options, reference)
    page_hints = _hints_of(hints, source, page, facts)
    if page_hints is not None:
        params = replace(params, hints_sha256=page_hints.sha256)
    recorded = functools.partial(_provenance, source, _creation_time(), colour_reference)
    loading = ModelLoading(lambda: _load_model(model, device, tile_size, params, render, choice))
    try:  # the model loads (import torch, weights) while the page is hashed, read and reduced
        before = snapshot(source)
        late = _LateModel(loading, functools.partial(recorded, page_hints, before))
        result, seconds = _colorize_published(
            source,
            output,
            before,
            params,
            late,
            page_index=page,
            ifd_offset=facts.ifd_offset,
            pixel_limit=settings.pixel_limit,
            reference=colour_reference,
            hints=page_hints,
        )
    finally:
        loading.join()  # no loading thread outlives the command, whatever failed
    predictor: Any = late.binding.predictor  # a NetworkPredictor (registry.load_predictor)
    provenance = late.binding.provenance
    return {
        "input": str(source),
        "output": str(output),
        "page": page,
        **_written(result),
        "seconds": round(seconds, 4),
        "megapixels_per_second": round(facts.width * facts.height / 1e6 / seconds, 4),
        "model": predictor.model_name,
        "weights_sha256": predictor.weights_sha256,
        "device": str(predictor.device),
        "parameters": provenance["parameters"],
        **_reference_facts(colour_reference),
        **_hint_facts(page_hints),
    }


def _provenance(
    source: Path,
    when: datetime,
    colour_reference: ReferenceImage | None,
    page_hints: PageHintSet | None,
    before: FileSnapshot,
    predictor: Any,
    params: ColorizeParams,
) -> dict[str, Any]:
    """What the derivative of ``source`` records, once the model is known."""
    return embedded_provenance(
        source_name=source.name,
        source_sha256=before.sha256,
        model_name=predictor.model_name,
        weights_sha256=predictor.weights_sha256,
        parameters={**params.as_dict(), **predictor.describe()},
        when=when,
        **_reference_facts(colour_reference),
        **_hint_facts(page_hints),
    )


class ModelLoading:
    """``load()`` running on a background thread from construction: ``import torch`` and reading
    the weights take about a second, and a page's first read and reduction need no model.

    :meth:`result` waits and returns its value or raises its exception (the same exception
    object, so the same one-line error as when loading in the foreground); :meth:`join` only
    waits. The thread is a daemon so that an interrupted command can still exit.
    """

    def __init__(self, load: Callable[[], Any]) -> None:
        self._value: Any = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, args=(load,), name="archcolor-model-loading", daemon=True
        )
        self._thread.start()

    def _run(self, load: Callable[[], Any]) -> None:
        try:
            self._value = load()
        except BaseException as error:  # handed to the waiting thread by result()
            self._error = error

    def join(self) -> None:
        self._thread.join()

    def result(self) -> Any:
        self._thread.join()
        if self._error is not None:
            raise self._error
        return self._value


class _LateModel:
    """:func:`colorize_master_late`'s ``model``: waits for the loading (predictor, parameters)
    and adds the provenance; ``waited`` is the seconds the page waited for it."""

    def __init__(
        self, loading: ModelLoading, provenance_of: Callable[[Any, ColorizeParams], dict[str, Any]]
    ) -> None:
        self.loading, self.provenance_of = loading, provenance_of
        self.waited = 0.0
        self._binding: ModelBinding | None = None

    def __call__(self) -> ModelBinding:
        started = time.perf_counter()
        predictor, params = self.loading.result()
        self.waited = time.perf_counter() - started
        self._binding = ModelBinding(predictor, params, self.provenance_of(predictor, params))
        return self._binding

    @property
    def binding(self) -> ModelBinding:
        if self._binding is None:
            raise RuntimeError("the model was not bound")
        return self._binding


def _colorize_published(
    source: Path,
    output: Path,
    before: FileSnapshot,
    params: ColorizeParams,
    late: _LateModel,
    **options: Any,
) -> tuple[ColorizeResult, float]:
    """:func:`colorize_master_late` into a staging file beside ``output``, published when the
    source is unchanged (the staging file never stays); the result and the seconds it took,
    less those it waited for the model to load."""
    started = time.perf_counter()
    staging = output.with_name(f".{output.name}.{os.getpid()}.colorizing")
    try:
        result = colorize_master_late(source, staging, params, late, **options)
        _publish(staging, before, output)
    finally:
        staging.unlink(missing_ok=True)
    return result, time.perf_counter() - started - late.waited


def _reference_choice(
    reference: Path | None, palette: float | None, prior: float | None, use_global: bool | None
) -> tuple[float | None, bool | None]:
    """``(prior, use_global)``; --reference-palette, --reference-prior and --reference-global
    need --reference (ConfigurationError)."""
    if reference is None and (palette, prior, use_global) != (None, None, None):
        raise ConfigurationError(
            "--reference-palette, --reference-prior and --reference-global need --reference IMAGE"
        )
    return prior, use_global


def _load_model(
    model: str | None,
    device: str,
    tile_size: int | None,
    params: ColorizeParams,
    render: str | None,
    reference_choice: tuple[float | None, bool | None] = (None, None),
) -> tuple[Any, ColorizeParams]:
    """The predictor for ``model`` and ``params`` with its card's rendering and the reference
    prior's weight and global prior for it (``reference_choice``: as asked, None: the
    default)."""
    from archive_colorizer.inference.registry import load_predictor

    predictor = load_predictor(model, device=device, tile_size=tile_size)
    params = resolve_rendering(params, render, getattr(predictor, "card", None))
    weight, use_global = reference_choice
    grid = getattr(predictor, "class_grid", 0)
    params = resolve_reference_prior(params, weight, grid, use_global)
    return predictor, params


def _written(result: Any) -> dict[str, Any]:
    """What ``colorize_master`` wrote, as the summary names it."""
    return {
        "width": result.width,
        "height": result.height,
        "bits": result.bits,
        "bytes": result.bytes,
        "sha256": result.sha256,
        "stage_seconds": {k: round(v, 4) for k, v in result.stage_seconds.items()},
    }


def _requested_params(
    options: dict[str, Any], reference: Path | None
) -> tuple[ColorizeParams, ReferenceImage | None]:
    """The parameters asked for (None: the default) and the colour reference, loaded and hashed
    (its sha256 is one of the parameters)."""
    from archive_colorizer.imaging.reference import load_reference

    colour_reference = load_reference(reference) if reference is not None else None
    if colour_reference is not None:
        options = {**options, "reference_sha256": colour_reference.sha256}
    params = ColorizeParams(**{k: v for k, v in options.items() if v is not None})
    return params, colour_reference


def _hints_of(path: Path | None, source: Path, page: int, facts: PageFacts) -> PageHintSet | None:
    """The hints file's hints for this page, checked against its displayed size."""
    if path is None:
        return None
    from archive_colorizer.services.hints import hints_for_master

    swapped = facts.orientation >= 5
    size = (facts.height, facts.width) if swapped else (facts.width, facts.height)
    return hints_for_master(path, source.name, page, size)


def _hint_facts(hints: PageHintSet | None) -> dict[str, Any]:
    """``{"hints": {sha256, count, …}}`` for provenance and summaries, or nothing."""
    return {} if hints is None else {"hints": hints.describe()}


def _reference_facts(reference: ReferenceImage | None) -> dict[str, Any]:
    """``{"reference": {sha256, file_name, …}}`` for provenance and summaries, or nothing."""
    return {} if reference is None else {"reference": reference.describe()}
