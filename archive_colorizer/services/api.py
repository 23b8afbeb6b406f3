"""The use cases as a front end calls them: the command line's one door into the services.

Each function takes the :class:`~archive_colorizer.config.Settings` (and plain options), opens
the catalog when it needs one, calls the service that does the work and returns plain data or
the service's result object; progress reaches the caller through callbacks. The classes a
front end builds or compares with (``ExportOptions``, ``ProcessOptions``, …) are named here
too.

Nothing heavy is imported with this module: SQLAlchemy, Alembic, numpy, the codecs and torch
are imported when a use case runs (each function imports its service; the classes are
resolved on first use through the module's ``__getattr__``). So `archcolor --help` and a
usage error cost only the command line's own imports (a test says so).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from archive_colorizer.config import Settings
from archive_colorizer.errors import ArchcolorError

if TYPE_CHECKING:
    from sqlalchemy import Engine

    from archive_colorizer.catalog.migrations import SchemaStatus
    from archive_colorizer.services.export import ExportOptions, ExportRecord, ExportSummary
    from archive_colorizer.services.health import HealthCheck
    from archive_colorizer.services.ingest import (
        FileOutcome,
        IngestPlan,
        IngestSummary,
    )
    from archive_colorizer.services.process import ProcessOptions, ProcessRun, RunObserver
    from archive_colorizer.services.verify import DecodeLimits, VerifyOutcome, VerifySummary

__all__ = [
    "DecodeLimits",
    "ExportOptions",
    "ProcessOptions",
    "as_error",
    "catalog_status",
    "clear_hints",
    "clear_reference",
    "colorize_file",
    "database_name",
    "db_status",
    "db_upgrade",
    "evaluate",
    "export",
    "export_hints",
    "health",
    "import_hints",
    "ingest",
    "list_hints",
    "list_jobs",
    "list_models",
    "list_references",
    "list_scans",
    "make_test_credentials",
    "plan_ingest",
    "retry_jobs",
    "run_process",
    "set_reference",
    "show_scan",
    "signing_credentials",
    "simulate_file",
    "train",
    "train_options",
    "verify",
    "verify_credentials",
    "write_demo_volume",
    "write_report",
]

#: classes named here, imported from their module on first use
_LAZY = {
    "ExportOptions": "archive_colorizer.services.export",
    "DecodeLimits": "archive_colorizer.services.verify",
    "ProcessOptions": "archive_colorizer.services.process",
}


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name]), name)
    globals()[name] = value
    return value


@contextmanager
def _catalog(settings: Settings, **how: bool) -> Iterator[Engine]:
    from archive_colorizer.catalog.open import open_catalog

    with open_catalog(settings.database_url, **how) as engine:
        yield engine


def as_error(error: BaseException) -> ArchcolorError | None:
    """An exception that escaped a use case as the ArchcolorError the user should read: a
    database error (SQLAlchemy's or the driver's) becomes a one-line CatalogError; None for
    anything else."""
    if isinstance(error, ArchcolorError):
        return error
    if "sqlalchemy" not in sys.modules and "sqlite3" not in sys.modules:
        return None  # no database was touched
    from archive_colorizer.catalog.engine import as_catalog_error

    return as_catalog_error(error)


def database_name(settings: Settings) -> str:
    """The catalog's URL as it may be shown (no password)."""
    from archive_colorizer.catalog.engine import display_url

    return display_url(settings.database_url)


# --- db, status, scans, show -----------------------------------------------------------------


def db_upgrade(settings: Settings) -> tuple[str | None, str]:
    """Migrate the catalog to the newest schema; (revision before, revision after)."""
    from archive_colorizer.catalog.migrations import upgrade

    with _catalog(settings, migrate=False) as engine:
        return upgrade(engine)


def db_status(settings: Settings) -> SchemaStatus:
    """The catalog's schema revision, the head, and whether they agree."""
    from archive_colorizer.catalog.migrations import schema_status

    with _catalog(settings, migrate=False) as engine:
        return schema_status(engine)


def catalog_status(settings: Settings) -> dict[str, int]:
    """Catalog totals (scans, files, jobs by state, …)."""
    from archive_colorizer.services.catalog_queries import status_counts

    with _catalog(settings, read_only=True) as engine:
        return status_counts(engine)


def list_scans(
    settings: Settings, *, volume: str | None, state: str, limit: int | None
) -> list[dict[str, Any]]:
    """Scans by volume and path, with every catalogued fact."""
    from archive_colorizer.services import catalog_queries

    with _catalog(settings, read_only=True) as engine:
        return catalog_queries.list_scans(engine, volume=volume, state=state, limit=limit)


def show_scan(settings: Settings, scan_id: int) -> tuple[tuple[str, ...], dict[str, Any]]:
    """(the scan facts in display order, the scan with events, versions, jobs, derivatives)."""
    from archive_colorizer.services import catalog_queries

    with _catalog(settings, read_only=True) as engine:
        return catalog_queries.SCAN_FACTS, catalog_queries.show_scan(engine, scan_id)


# --- ingest, verify ----------------------------------------------------------------------------


def plan_ingest(
    settings: Settings, paths: Sequence[Path], volume: str | None, *, follow_links: bool
) -> IngestPlan:
    """What ingest would walk (files, bytes); missing paths fail here, before any write."""
    from archive_colorizer.services import ingest as ingesting

    return ingesting.plan(paths, volume, settings=settings, follow_links=follow_links)


def ingest(
    settings: Settings,
    paths: Sequence[Path],
    prepared: IngestPlan,
    on_file: Callable[[FileOutcome], None],
) -> IngestSummary:
    """Catalogue the planned files."""
    from archive_colorizer.services import ingest as ingesting

    with _catalog(settings) as engine:
        return ingesting.ingest(engine, settings, paths, prepared=prepared, on_file=on_file)


def verify(
    settings: Settings,
    *,
    volume: str | None,
    decode: bool,
    limits: DecodeLimits,
    on_file: Callable[[VerifyOutcome], None],
    on_start: Callable[[int, int], None] | None = None,
) -> VerifySummary:
    """Re-hash (and with ``decode`` decode) every catalogued master of ``volume`` or all."""
    from archive_colorizer.services import verify as verifying

    with _catalog(settings) as engine:
        return verifying.verify(
            engine,
            settings,
            volume=volume,
            decode=decode,
            limits=limits,
            on_file=on_file,
            on_start=on_start,
        )


# --- export, report ----------------------------------------------------------------------------


def export(
    settings: Settings,
    options: ExportOptions,
    on_page: Callable[[ExportRecord | None, str | None], None],
) -> ExportSummary:
    """Export the current derivatives of the selection into ``options.out``."""
    from archive_colorizer.services import export as exporting

    with _catalog(settings, read_only=True) as engine:
        return exporting.export(engine, settings.store, options, on_page=on_page)


def write_report(
    settings: Settings, out: Path, *, volume: str | None, thumbnail: int
) -> dict[str, Any]:
    """Write the HTML report of the catalogued pages to ``out``."""
    from archive_colorizer.services import report

    with _catalog(settings, read_only=True) as engine:
        return report.write_report(engine, settings.store, out, volume=volume, thumbnail=thumbnail)


# --- colour hints ---------------------------------------------------------------------------------


def import_hints(settings: Settings, file: Path, *, author: str | None) -> Any:
    """Record the hints of ``file`` (all or nothing; unchanged pages are left alone)."""
    from archive_colorizer.services import hints

    with _catalog(settings) as engine:
        return hints.import_hints(engine, file, author=author)


def list_hints(settings: Settings, *, scan_id: int | None, volume: str | None) -> list[Any]:
    """The current hint sets of one scan, one volume or all."""
    from archive_colorizer.services import hints

    with _catalog(settings, read_only=True) as engine:
        return hints.list_hints(engine, scan_id=scan_id, volume=volume)


def export_hints(settings: Settings, *, volume: str | None) -> dict[str, Any]:
    """The current hints of ``volume`` (or all) as a hints document."""
    from archive_colorizer.services import hints

    with _catalog(settings, read_only=True) as engine:
        return hints.export_hints(engine, volume=volume)


def clear_hints(
    settings: Settings, *, scan_id: int | None, volume: str | None, author: str | None
) -> Any:
    """End the current hint sets of a scan or a volume (kept as history, with an event)."""
    from archive_colorizer.services import hints

    with _catalog(settings) as engine:
        return hints.clear_hints(engine, scan_id=scan_id, volume=volume, author=author)


# --- colour references ---------------------------------------------------------------------------


def set_reference(settings: Settings, volume: str, image: Path) -> Any:
    """Make ``image`` the default colour reference of ``volume`` (its pages are queued again)."""
    from archive_colorizer.services import references

    with _catalog(settings) as engine:
        return references.set_volume_reference(engine, volume, image)


def clear_reference(settings: Settings, volume: str) -> Any:
    """Remove the default colour reference of ``volume``."""
    from archive_colorizer.services import references

    with _catalog(settings) as engine:
        return references.clear_volume_reference(engine, volume)


def list_references(settings: Settings) -> list[dict[str, Any]]:
    """The registered colour references and the volumes they are the default of."""
    from archive_colorizer.services import references

    with _catalog(settings, read_only=True) as engine:
        return references.list_references(engine)


# --- C2PA Content Credentials ------------------------------------------------------------------


def signing_credentials(cert: Path | None, key: Path | None, tsa_url: str | None = None) -> Any:
    """The archive's checked C2PA signing credentials (``export --c2pa``)."""
    from archive_colorizer.services import credentials

    return credentials.signing_credentials(cert, key, tsa_url)


def make_test_credentials(folder: Path) -> Any:
    """An UNTRUSTED C2PA test chain in ``folder``."""
    from archive_colorizer.services import credentials

    return credentials.make_test_credentials(folder)


def verify_credentials(
    settings: Settings,
    paths: Sequence[Path],
    *,
    trust: Path | None,
    on_file: Callable[[dict[str, Any]], None],
) -> Any:
    """Verify the C2PA manifests of ``paths``, against the catalog when it can be opened."""
    from archive_colorizer.services import credentials

    return credentials.verify_against_catalog(
        settings.database_url, paths, trust_anchors=trust, on_file=on_file
    )


# --- colorize, process, jobs, health, models -----------------------------------------------------


def colorize_file(settings: Settings, source: Path, output: Path, **options: Any) -> dict[str, Any]:
    """Colorize one page of a master into a derivative TIFF (see services.colorize_file)."""
    from archive_colorizer.services import colorize_file as colorizing

    return colorizing.colorize_file(settings, source, output, **options)


def run_process(settings: Settings, options: ProcessOptions, observer: RunObserver) -> ProcessRun:
    """Queue the selected pages and work the queue (see services.process)."""
    from archive_colorizer.services import process

    return process.run_process(settings, options, observer)


def list_jobs(
    settings: Settings, *, state: str | None, volume: str | None, limit: int | None
) -> list[dict[str, Any]]:
    """Colorization jobs, by id."""
    from archive_colorizer.services import jobs

    with _catalog(settings, read_only=True) as engine:
        return jobs.list_jobs(engine, state=state, volume=volume, limit=limit)


def retry_jobs(settings: Settings, *, job_id: int | None, dead: bool) -> list[int]:
    """Queue a dead or failed job (or every dead job) again; the ids queued."""
    from archive_colorizer.services import jobs

    with _catalog(settings) as engine:
        return jobs.retry_jobs(engine, job_id=job_id, dead=dead)


def health(settings: Settings, model: str | None, *, load_model: bool) -> list[HealthCheck]:
    """The probes of `archcolor worker health`."""
    from archive_colorizer.services import health as probes

    return probes.health(settings.database_url, settings.store, model, load_model=load_model)


def list_models() -> dict[str, Any]:
    """The installed models, each verified against its card (see services.models)."""
    from archive_colorizer.services import models

    return models.installed_models_report()


# --- train, evaluate ------------------------------------------------------------------------------


def train_options() -> list[tuple[str, Any, Any, Any]]:
    """The trainer's options as the command line shows them: ``(name, type, default, spec)``
    with the spec's ``flag``, ``help``, ``min`` and ``max`` (see inference.train_options)."""
    from archive_colorizer.inference.train_options import command_line_options

    return command_line_options()


def train(options: dict[str, Any], *, skip_sources: str | None, reporter: Any, **run: Any) -> Any:
    """Train a model (see services.training.run_training) with the command line's ``options``
    (by name, as :func:`train_options` lists them; text parsed here)."""
    from archive_colorizer.inference.train_options import TrainOptions, parse_sources
    from archive_colorizer.services import training

    return training.run_training(
        TrainOptions.from_command_line(options),
        skip_sources=parse_sources(skip_sources),
        reporter=reporter,
        **run,
    )


def evaluate(data: Path, **options: Any) -> Any:
    """Measure a model against the baselines (see services.evaluation_run)."""
    from archive_colorizer.services.evaluation_run import run_evaluation

    return run_evaluation(data, **options)


# --- tools: simulate, demo volume --------------------------------------------------------------


def simulate_file(source: Path, target: Path, style: str, seed: int) -> dict[str, Any]:
    """Render a photograph as a simulated print (gravure, hatching, halftone)."""
    from archive_colorizer.services import simulate

    return simulate.simulate_file(source, target, style, seed)


def write_demo_volume(directory: Path, *, pages: int, seed: int) -> list[Path]:
    """Write a small synthetic scanned volume under ``directory``/volume-01/."""
    from archive_colorizer.errors import OutputError
    from archive_colorizer.imaging.synthetic import make_sample_volume

    try:
        return make_sample_volume(directory, pages=pages, seed=seed)
    except OSError as error:
        raise OutputError(
            f"cannot write the demo volume under {directory}: {error.strerror or error}"
        ) from error
