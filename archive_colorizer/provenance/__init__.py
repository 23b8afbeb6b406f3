"""PREMIS-like provenance vocabulary: event types, outcomes and the agent string.

Plain data, no database: the catalog stores these values in ``events.type``/``events.outcome``
(strings, so later features can add types without a schema migration), and
:func:`derivative_provenance` builds the W3C PROV-style record kept with every derivative;
:mod:`.c2pa` writes and reads C2PA Content Credentials. It may import ``config`` and ``errors``
only (the catalog imports its vocabulary, not the other way round).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from enum import StrEnum
from typing import Any

from archive_colorizer import __version__

__all__ = [
    "EventType",
    "Outcome",
    "agent",
    "derivative_provenance",
]


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
    COLORIZATION = "colorization"  # a derivative was made from the scan (or could not be)
    HINT_IMPORT = "hint-import"  # a curator's colour hints for the scan were recorded
    HINT_CLEAR = "hint-clear"  # the scan's current colour hints were withdrawn (kept as history)
    REFERENCE_SET = "reference-set"  # the scan's volume got a (new) default colour reference
    REFERENCE_CLEAR = "reference-clear"  # the scan's volume's default colour reference was removed


class Outcome(StrEnum):
    """How it went."""

    SUCCESS = "success"
    WARNING = "warning"
    FAILURE = "failure"


def agent() -> str:
    """The agent recorded on every event: this software and its version."""
    return f"archcolor {__version__}"


#: the PROV-style record's vocabulary (https://www.w3.org/TR/prov-o/)
PROV_CONTEXT = "http://www.w3.org/ns/prov#"


def derivative_provenance(
    *,
    master: Mapping[str, Any],
    derivative: Mapping[str, Any],
    parameters: Mapping[str, Any],
    model_name: str,
    weights_sha256: str,
    started_at: datetime,
    ended_at: datetime,
    activity: Mapping[str, Any] | None = None,
    model_card: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """A W3C PROV-style record of how a derivative was made (JSON-ready).

    ``entity`` is the master, identified by its sha256 (``master`` must hold ``sha256``; path,
    volume and page help humans). ``generated`` is the derivative (``derivative``: path,
    sha256, width, height, bytes). ``activity`` is the colorization with its parameters and
    times; ``agent`` is this software and the model with its weights' sha256. The relations
    (``wasDerivedFrom``, ``wasGeneratedBy``, ``wasAssociatedWith``) link them by id.
    """
    master_id = f"urn:sha256:{master['sha256']}"
    derivative_id = f"urn:sha256:{derivative['sha256']}" if derivative.get("sha256") else None
    activity_id = f"urn:archcolor:colorize:{master['sha256'][:16]}:{started_at.isoformat()}"
    software = agent()
    model_id = f"urn:archcolor:model:{model_name}:{weights_sha256}"
    record: dict[str, Any] = {
        "@context": PROV_CONTEXT,
        "entity": {"id": master_id, "role": "master", **dict(master)},
        "generated": {"id": derivative_id, "role": "derivative", **dict(derivative)},
        "activity": {
            "id": activity_id,
            "type": str(EventType.COLORIZATION),
            "parameters": dict(parameters),
            "startedAtTime": started_at.isoformat(),
            "endedAtTime": ended_at.isoformat(),
            **dict(activity or {}),
        },
        "agent": {
            "software": {"id": "urn:archcolor:software", "name": software},
            "model": {
                "id": model_id,
                "name": model_name,
                "weights_sha256": weights_sha256,
                **({"card": dict(model_card)} if model_card else {}),
            },
        },
        "wasDerivedFrom": {"generatedEntity": derivative_id, "usedEntity": master_id},
        "wasGeneratedBy": {"entity": derivative_id, "activity": activity_id},
        "wasAssociatedWith": [
            {"activity": activity_id, "agent": "urn:archcolor:software"},
            {"activity": activity_id, "agent": model_id},
        ],
    }
    return record
