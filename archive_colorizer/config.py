"""Settings, built once by the CLI from options and environment variables (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///archcolor.sqlite3"
DEFAULT_STORE = "archcolor-store"
#: decompression-bomb guard: pages declaring more pixels than this are rejected at ingest
DEFAULT_PIXEL_LIMIT = 2_000_000_000
#: files with more image pages than this are rejected at ingest (each page is one scan row)
DEFAULT_PAGE_LIMIT = 10_000
#: hard cap on the memory of one worker process (RLIMIT_DATA), in MiB: a decompression bomb that
#: slips past the pre-decode checks ends as a dead job, never an out-of-memory machine
DEFAULT_WORKER_MEMORY_MB = 8192

ENV_DATABASE_URL = "ARCHCOLOR_DATABASE_URL"
ENV_STORE = "ARCHCOLOR_STORE"
ENV_PIXEL_LIMIT = "ARCHCOLOR_PIXEL_LIMIT"
ENV_PAGE_LIMIT = "ARCHCOLOR_PAGE_LIMIT"
ENV_WORKER_MEMORY_MB = "ARCHCOLOR_WORKER_MEMORY_MB"
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
