"""Settings, built once by the CLI from options and environment variables (never at import)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_DATABASE_URL = "sqlite:///archcolor.sqlite3"
DEFAULT_STORE = "archcolor-store"
#: decompression-bomb guard: pages declaring more pixels than this are rejected at ingest
DEFAULT_PIXEL_LIMIT = 2_000_000_000

ENV_DATABASE_URL = "ARCHCOLOR_DATABASE_URL"
ENV_STORE = "ARCHCOLOR_STORE"
ENV_PIXEL_LIMIT = "ARCHCOLOR_PIXEL_LIMIT"


@dataclass(frozen=True)
class Settings:
    """Everything a command needs to know about where things live."""

    database_url: str = DEFAULT_DATABASE_URL
    store: Path = field(default_factory=lambda: Path(DEFAULT_STORE))
    pixel_limit: int = DEFAULT_PIXEL_LIMIT
    debug: bool = False

    @classmethod
    def from_environment(cls, environ: dict[str, str] | None = None) -> Settings:
        """Settings from ``ARCHCOLOR_*`` variables alone (used by tests and tools, not the CLI)."""
        env = os.environ if environ is None else environ
        return cls(
            database_url=env.get(ENV_DATABASE_URL, DEFAULT_DATABASE_URL),
            store=Path(env.get(ENV_STORE, DEFAULT_STORE)),
            pixel_limit=int(env.get(ENV_PIXEL_LIMIT, DEFAULT_PIXEL_LIMIT)),
        )
