"""PREMIS-like provenance vocabulary: event types, outcomes and the agent string.

Plain data, no database: the catalog stores these values in ``events.type``/``events.outcome``
(strings, so later features can add types without a schema migration).
"""

from __future__ import annotations

from enum import StrEnum

from archive_colorizer import __version__


class EventType(StrEnum):
    """What happened (after the PREMIS eventType vocabulary)."""

    INGESTION = "ingestion"
    MESSAGE_DIGEST_CALCULATION = "message-digest-calculation"
    FORMAT_IDENTIFICATION = "format-identification"
    REJECTION = "rejection"
    REPLACEMENT = "replacement"
    DUPLICATE_DETECTION = "duplicate-detection"
    FIXITY_CHECK = "fixity-check"
    VALIDATION = "validation"  # the pixels of a page were decoded successfully (or not)


class Outcome(StrEnum):
    """How it went."""

    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


def agent() -> str:
    """The agent recorded on every event: this software and its version."""
    return f"archcolor {__version__}"
