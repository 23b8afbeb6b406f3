"""IIIF Presentation API 3.0 manifests: one per volume, one canvas per page.

Each canvas has the page's exact width and height (the derivative's, which are the master's).
Its single painting annotation points at the exported file under ``base_url`` (the export's
payload folder published at that URL); the image body gives the exported file's own size
(smaller than the canvas for ``--max-size`` access copies), its media type, and — for pyramidal
TIFFs — an ``ImageService3`` whose id is ``base_url`` + ``/iiif/3/`` + the file's path with
``/`` percent-encoded, the identifier convention of Cantaloupe's filesystem source (configure
iipsrv/Cantaloupe to read the payload folder). Labels and metadata name the master, the model
and its weights, and a summary says the colour is machine-generated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

__all__ = ["CONTEXT", "IiifPage", "volume_manifest"]

CONTEXT = "http://iiif.io/api/presentation/3/context.json"
_SUMMARY = (
    "Colour added by a trained colorization model (archcolor) to greyscale masters; the colours "
    "are machine-generated, not a record of the originals' colours."
)


@dataclass(frozen=True)
class IiifPage:
    """One page of a volume as exported."""

    label: str
    width: int  # canvas: the page's full size
    height: int
    file_path: str  # exported file, relative to the payload folder (POSIX)
    file_width: int
    file_height: int
    media_type: str
    pyramid: bool
    metadata: Mapping[str, str]


def _text(value: str) -> dict[str, list[str]]:
    return {"none": [value]}


def volume_manifest(
    base_url: str, volume: str, volume_path: str, pages: Sequence[IiifPage]
) -> dict[str, Any]:
    """The Presentation 3.0 manifest of ``volume`` (JSON-ready); ``volume_path`` is the
    sanitised folder name used in ids."""
    base = base_url.rstrip("/")
    root = f"{base}/iiif/{quote(volume_path)}"
    items = []
    for number, page in enumerate(pages, 1):
        canvas = f"{root}/canvas/p{number}"
        body: dict[str, Any] = {
            "id": f"{base}/{quote(page.file_path)}",
            "type": "Image",
            "format": page.media_type,
            "width": page.file_width,
            "height": page.file_height,
        }
        if page.pyramid:
            body["service"] = [
                {
                    "id": f"{base}/iiif/3/{quote(page.file_path, safe='')}",
                    "type": "ImageService3",
                    "profile": "level1",
                }
            ]
        items.append(
            {
                "id": canvas,
                "type": "Canvas",
                "label": _text(page.label),
                "width": page.width,
                "height": page.height,
                "metadata": [
                    {"label": _text(key), "value": _text(value)}
                    for key, value in page.metadata.items()
                ],
                "items": [
                    {
                        "id": f"{canvas}/page",
                        "type": "AnnotationPage",
                        "items": [
                            {
                                "id": f"{canvas}/page/image",
                                "type": "Annotation",
                                "motivation": "painting",
                                "body": body,
                                "target": canvas,
                            }
                        ],
                    }
                ],
            }
        )
    return {
        "@context": CONTEXT,
        "id": f"{root}/manifest.json",
        "type": "Manifest",
        "label": _text(volume),
        "summary": _text(_SUMMARY),
        "items": items,
    }
