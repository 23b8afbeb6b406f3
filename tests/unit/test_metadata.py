"""ICC profile and provenance XMP: well-formed, complete, deterministic, readable back."""

from __future__ import annotations

import io
import struct
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import ImageCms

from archive_colorizer.imaging import metadata


def _packet(**overrides: object) -> bytes:
    arguments: dict[str, object] = {
        "source_file_name": "vol-01/page <7> & co.tif",
        "source_sha256": "a" * 64,
        "model_name": "iizuka.compact",
        "weights_sha256": "b" * 64,
        "archcolor_version": "0.1.0",
        "parameters": {"chroma_size": 1024, "lowpass": 0.5},
        "provenance": {"source_name": "page.tif", "job": 17, "note": "ünïcode"},
        "create_date": "2026-11-25T12:00:00Z",
    }
    arguments.update(overrides)
    return metadata.build_xmp(**arguments)  # type: ignore[arg-type]


def test_icc_profile_is_srgb_and_stable() -> None:
    profile = metadata.srgb_icc_profile()
    assert profile[36:40] == b"acsp"  # ICC signature
    assert profile[16:20] == b"RGB "
    parsed = ImageCms.ImageCmsProfile(io.BytesIO(profile))
    assert "sRGB" in ImageCms.getProfileDescription(parsed)
    assert metadata.srgb_icc_profile() == profile


def test_icc_profile_has_a_fixed_creation_date() -> None:
    # LittleCMS stamps the clock into the header; derivatives must not depend on it
    profile = metadata.srgb_icc_profile()
    assert (
        struct.unpack(">6H", profile[24:36]) == metadata.ICC_CREATION_DATE == (2024, 1, 1, 0, 0, 0)
    )


def test_packet_is_well_formed_xmp() -> None:
    packet = _packet()
    text = packet.decode("utf-8")
    assert text.startswith('<?xpacket begin="\ufeff"')
    assert text.endswith('<?xpacket end="w"?>')
    body = text[text.index("<x:xmpmeta") : text.index("<?xpacket end")]
    root = ET.fromstring(body)
    assert root.tag == "{adobe:ns:meta/}xmpmeta"


def test_packet_round_trips_provenance() -> None:
    found = metadata.parse_xmp(_packet())
    assert found.source_file_name == "vol-01/page <7> & co.tif"
    assert found.derived_from_sha256 == "a" * 64
    assert found.digital_source_type == metadata.DIGITAL_SOURCE_TYPE
    assert found.digital_source_type.endswith("/trainedAlgorithmicMedia")
    assert found.model_name == "iizuka.compact"
    assert found.weights_sha256 == "b" * 64
    assert found.archcolor_version == "0.1.0"
    assert found.creator_tool == "archcolor 0.1.0"
    assert found.create_date == "2026-11-25T12:00:00Z"
    assert found.parameters == {"chroma_size": 1024, "lowpass": 0.5}
    assert found.provenance == {"source_name": "page.tif", "job": 17, "note": "ünïcode"}


def test_optional_fields_are_left_out() -> None:
    packet = _packet(model_name=None, weights_sha256=None, create_date=None)
    found = metadata.parse_xmp(packet)
    assert found.model_name is None
    assert found.weights_sha256 is None
    assert found.create_date is None
    assert b"CreateDate" not in packet


def test_packet_is_deterministic_and_sensitive_to_inputs() -> None:
    assert _packet() == _packet()
    assert _packet(parameters={"lowpass": 0.5, "chroma_size": 1024}) == _packet()
    assert _packet(source_sha256="c" * 64) != _packet()


def test_parse_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="malformed"):
        metadata.parse_xmp(b"<x:xmpmeta><unclosed>")
    with pytest.raises(ValueError, match="rdf:Description"):
        metadata.parse_xmp('<x:xmpmeta xmlns:x="adobe:ns:meta/"/>')


def test_parse_tolerates_foreign_packets() -> None:
    foreign = (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF '
        'xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:xmp="http://ns.adobe.com/xap/1.0/" '
        'xmp:CreatorTool="Photoshop"/></rdf:RDF></x:xmpmeta>'
    )
    found = metadata.parse_xmp(foreign)
    assert found.creator_tool == "Photoshop"
    assert found.derived_from_sha256 is None
    assert found.parameters == {}


@pytest.mark.parametrize("bigtiff", [False, True])
@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_archcolor_xmp_is_recognised_in_tiffs(
    tmp_path: Path, bigtiff: bool, byteorder: str
) -> None:
    pixels = np.zeros((8, 8), np.uint8)
    ours, foreign, bare = tmp_path / "ours.tif", tmp_path / "foreign.tif", tmp_path / "bare.tif"
    tifffile.imwrite(ours, pixels, bigtiff=bigtiff, byteorder=byteorder,
                     extratags=[(700, "B", len(_packet()), _packet(), True)])  # fmt: skip
    other = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF/></x:xmpmeta>'
    tifffile.imwrite(foreign, pixels, bigtiff=bigtiff, byteorder=byteorder,
                     extratags=[(700, "B", len(other), other, True)])  # fmt: skip
    tifffile.imwrite(bare, pixels, bigtiff=bigtiff, byteorder=byteorder)
    assert metadata.has_archcolor_xmp(ours)
    assert not metadata.has_archcolor_xmp(foreign)
    assert not metadata.has_archcolor_xmp(bare)


def test_archcolor_xmp_check_never_raises(tmp_path: Path) -> None:
    files = {
        "empty": b"",
        "magic": b"II*\x00",
        "bad-ifd": b"II*\x00\xff\xff\xff\x7f",
        "text": b"hello",
        "xmp-text": b"x" * 10 + _packet(),
    }
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    assert not metadata.has_archcolor_xmp(tmp_path / "missing")
    names = ("empty", "magic", "bad-ifd", "text")
    assert [metadata.has_archcolor_xmp(tmp_path / n) for n in names] == [False] * 4
    assert metadata.has_archcolor_xmp(tmp_path / "xmp-text")  # e.g. a PNG access copy's iTXt
