"""IIIF Presentation API 3.0 manifests: one per volume, one canvas per page.

**The base URL is the URL at which the export folder (``--out``) is served**, and every id is
that URL plus a path inside the folder, built exactly once: a file ``OUT/a/b.jpg`` is
``BASE/a/b.jpg`` (in a BagIt bag the payload is under ``data/``, so ``BASE/data/a/b.jpg``); the
manifest of a volume is ``BASE/iiif/<volume>/manifest.json`` (``BASE/data/iiif/…`` in a bag),
its own URL; canvases and annotations get ids under the manifest's folder
(``…/iiif/<volume>/canvas/p1``, ``…/canvas/p1/page``, ``…/canvas/p1/page/image``).

Each canvas has the page's exact width and height (the master's). Its single painting annotation
paints either

* a **static image** (IIIF level 0): a web-sized JPEG in the export, with its own width and
  height (smaller than the canvas when reduced), or
* for pyramidal TIFFs, the full image from an **ImageService3** whose id is
  ``BASE/iiif/3/`` + the TIFF's path under ``OUT`` with ``/`` percent-encoded (the identifier
  convention of Cantaloupe's filesystem source reading the export folder, served at
  ``BASE/iiif/3``).

``rendering`` links the canvas to the exported file itself (the archival or pyramidal TIFF, or
the full-size access copy) when it is not the painted image; the manifest's ``seeAlso`` links
the export's ``manifest.json`` (checksums and provenance). Labels and metadata name the master,
the model and its weights, and a summary says the colour is machine-generated.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

__all__ = ["CONTEXT", "IiifLink", "IiifPage", "image_service_id", "url_of", "volume_manifest"]

CONTEXT = "http://iiif.io/api/presentation/3/context.json"
_SUMMARY = (
    "Colour added by a trained colorization model (archcolor) to greyscale masters; the colours "
    "are machine-generated, not a record of the originals' colours."
)


@dataclass(frozen=True)
class IiifLink:
    """A file of the export linked from a canvas (``rendering``) or painted on it."""

    path: str  # relative to the export folder (POSIX)
    media_type: str
    width: int
    height: int
    label: str = ""


@dataclass(frozen=True)
class IiifPage:
    """One page of a volume as exported."""

    label: str
    width: int  # canvas: the page's full size
    height: int
    image: IiifLink  # painted: a static JPEG, or the pyramidal TIFF behind an image service
    pyramid: bool
    metadata: Mapping[str, str]
    rendering: IiifLink | None = None  # the exported file, when it is not ``image``


def _text(value: str) -> dict[str, list[str]]:
    return {"none": [value]}


def url_of(base_url: str, path: str) -> str:
    """The URL of ``path`` (relative to the export folder) when the folder is at ``base_url``."""
    return f"{base_url.rstrip('/')}/{quote(path)}"


def image_service_id(base_url: str, path: str) -> str:
    """The IIIF Image API 3 id of the pyramidal TIFF at ``path`` (relative to the folder)."""
    return f"{base_url.rstrip('/')}/iiif/3/{quote(path, safe='')}"


def _body(base_url: str, page: IiifPage) -> dict[str, Any]:
    image = page.image
    if not page.pyramid:
        return {
            "id": url_of(base_url, image.path),
            "type": "Image",
            "format": image.media_type,
            "width": image.width,
            "height": image.height,
        }
    service = image_service_id(base_url, image.path)
    return {
        "id": f"{service}/full/max/0/default.jpg",
        "type": "Image",
        "format": "image/jpeg",
        "width": image.width,
        "height": image.height,
        "service": [{"id": service, "type": "ImageService3", "profile": "level1"}],
    }


def volume_manifest(
    base_url: str,
    volume: str,
    manifest_path: str,
    pages: Sequence[IiifPage],
    see_also: str | None = None,
) -> dict[str, Any]:
    """The Presentation 3.0 manifest of ``volume`` (JSON-ready), to be served at
    ``manifest_path`` under ``base_url``; ``see_also``: the export's manifest.json path."""
    manifest_id = url_of(base_url, manifest_path)
    root = manifest_id.rsplit("/", 1)[0]
    items = []
    for number, page in enumerate(pages, 1):
        canvas = f"{root}/canvas/p{number}"
        item: dict[str, Any] = {
            "id": canvas,
            "type": "Canvas",
            "label": _text(page.label),
            "width": page.width,
            "height": page.height,
            "metadata": [
                {"label": _text(key), "value": _text(value)} for key, value in page.metadata.items()
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
                            "body": _body(base_url, page),
                            "target": canvas,
                        }
                    ],
                }
            ],
        }
        if page.rendering is not None:
            link = page.rendering
            item["rendering"] = [
                {
                    "id": url_of(base_url, link.path),
                    "type": "Image",
                    "label": _text(link.label or link.media_type),
                    "format": link.media_type,
                }
            ]
        items.append(item)
    manifest: dict[str, Any] = {
        "@context": CONTEXT,
        "id": manifest_id,
        "type": "Manifest",
        "label": _text(volume),
        "summary": _text(_SUMMARY),
    }
    if see_also is not None:
        manifest["seeAlso"] = [
            {
                "id": url_of(base_url, see_also),
                "type": "Dataset",
                "label": _text("archcolor export manifest: checksums and provenance of each file"),
                "format": "application/json",
            }
        ]
    manifest["items"] = items
    return manifest
