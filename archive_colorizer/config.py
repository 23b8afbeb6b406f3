"""Settings, built once by the CLI from options and environment variables (never at import),
and the option choices and defaults every layer shares.

Config-level: imports nothing from archive_colorizer, so that any room may import it and
`archcolor --help` can show these values without importing the rooms that use them."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

__all__ = [
    "DEFAULT_CHROMA_SIZE",
    "DEFAULT_DATABASE_URL",
    "DEFAULT_DECODE_MEMORY_LIMIT_BYTES",
    "DEFAULT_DECODE_TIMEOUT_S",
    "DEFAULT_MAX_ATTEMPTS",
    "DEFAULT_PAGE_LIMIT",
    "DEFAULT_PIXEL_LIMIT",
    "DEFAULT_STORE",
    "DEFAULT_THUMBNAIL",
    "DEFAULT_WORKER_MEMORY_MB",
    "ENV_C2PA_CERT",
    "ENV_C2PA_KEY",
    "ENV_C2PA_KEY_PASSWORD",
    "ENV_C2PA_TRUST",
    "ENV_C2PA_TSA",
    "ENV_CACHE_DIR",
    "ENV_DATABASE_URL",
    "ENV_MODELS_DIR",
    "ENV_PAGE_LIMIT",
    "ENV_PIXEL_LIMIT",
    "ENV_SOURCE_DATE_EPOCH",
    "ENV_STORE",
    "ENV_WORKER_MEMORY_MB",
    "EXPORT_FORMATS",
    "JOB_STATES",
    "RENDER_MODES",
    "SCAN_STATE_CHOICES",
    "Settings",
]

DEFAULT_DATABASE_URL = "sqlite:///archcolor.sqlite3"
DEFAULT_STORE = "archcolor-store"
#: decompression-bomb guard: pages declaring more pixels than this are rejected at ingest
DEFAULT_PIXEL_LIMIT = 2_000_000_000
#: files with more image pages than this are rejected at ingest (each page is one scan row)
DEFAULT_PAGE_LIMIT = 10_000
#: hard cap on the memory of one worker process (RLIMIT_DATA), in MiB: a decompression bomb that
#: slips past the pre-decode checks ends as a dead job, never an out-of-memory machine
DEFAULT_WORKER_MEMORY_MB = 8192

#: --chroma-size: long side of the chroma working image in px (0 = full resolution)
DEFAULT_CHROMA_SIZE = 1024
#: --render: how colour meets the master's tones (the first is the default without a card)
RENDER_MODES = ("luminance", "wash")
#: --max-attempts: attempts before a job is dead
DEFAULT_MAX_ATTEMPTS = 3
#: the states of a colorization job (catalog.schema.JobState's values)
JOB_STATES = ("pending", "running", "done", "failed", "dead")
#: `archcolor scans --state`: current = ingested and rejected
SCAN_STATE_CHOICES = ("current", "ingested", "rejected", "superseded", "all")
#: `archcolor export --format`
EXPORT_FORMATS = ("tiff", "jpeg", "png", "webp")
#: `archcolor report --thumbnail`: thumbnail long side in px
DEFAULT_THUMBNAIL = 640
#: `archcolor verify --decode`: seconds allowed to decode one page in the child process
DEFAULT_DECODE_TIMEOUT_S = 120.0
#: ... and the child's address-space limit (interpreter, numpy and codecs take ~0.5 GiB of it)
DEFAULT_DECODE_MEMORY_LIMIT_BYTES = 2 * 1024**3

ENV_DATABASE_URL = "ARCHCOLOR_DATABASE_URL"
ENV_STORE = "ARCHCOLOR_STORE"
ENV_PIXEL_LIMIT = "ARCHCOLOR_PIXEL_LIMIT"
ENV_PAGE_LIMIT = "ARCHCOLOR_PAGE_LIMIT"
ENV_WORKER_MEMORY_MB = "ARCHCOLOR_WORKER_MEMORY_MB"
#: folders holding installed models (separated like PATH)
ENV_MODELS_DIR = "ARCHCOLOR_MODELS_DIR"
#: where per-user caches live (the verified weights sha256); default $XDG_CACHE_HOME/archcolor
ENV_CACHE_DIR = "ARCHCOLOR_CACHE_DIR"
#: Unix seconds: the time written into derivatives, so that two runs are byte-identical
ENV_SOURCE_DATE_EPOCH = "SOURCE_DATE_EPOCH"
#: C2PA Content Credentials: signing certificate chain, private key (and its password: only in
#: the environment, never an option), time-stamp authority URL, trust anchors for verify
ENV_C2PA_CERT = "ARCHCOLOR_C2PA_CERT"
ENV_C2PA_KEY = "ARCHCOLOR_C2PA_KEY"
ENV_C2PA_KEY_PASSWORD = "ARCHCOLOR_C2PA_KEY_PASSWORD"
ENV_C2PA_TSA = "ARCHCOLOR_C2PA_TSA"
ENV_C2PA_TRUST = "ARCHCOLOR_C2PA_TRUST"


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where things live."""

    database_url: str = DEFAULT_DATABASE_URL
    store: Path = field(default_factory=lambda: Path(DEFAULT_STORE))
    pixel_limit: int = DEFAULT_PIXEL_LIMIT
    debug: bool = False
    page_limit: int = DEFAULT_PAGE_LIMIT

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from ``ARCHCOLOR_*`` variables alone (used by tests and tools, not the CLI)."""
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get(ENV_DATABASE_URL, DEFAULT_DATABASE_URL),
            store=Path(env.get(ENV_STORE, DEFAULT_STORE)),
            pixel_limit=int(env.get(ENV_PIXEL_LIMIT, DEFAULT_PIXEL_LIMIT)),
            page_limit=int(env.get(ENV_PAGE_LIMIT, DEFAULT_PAGE_LIMIT)),
        )
