"""C2PA Content Credentials (provenance.c2pa): the test chain, the checks on the archive's
certificate and key, signing every export format and reading it back with the library's own
Reader — intact, tampered, stripped, sidecar, trusted. Offline: no time-stamp authority."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from archive_colorizer.errors import C2paFormatError, OutputError, SigningCredentialsError
from archive_colorizer.imaging.metadata import DIGITAL_SOURCE_TYPE as XMP_SOURCE_TYPE
from archive_colorizer.imaging.metadata import build_xmp, parse_xmp
from archive_colorizer.provenance.c2pa import (
    ACTION_COLORIZED,
    DIGITAL_SOURCE_TYPE,
    SigningCredentials,
    TestChain,
    load_signing_credentials,
    make_test_chain,
    manifest_definition,
    read_credentials,
    sidecar_path,
    sign_file,
)

c2pa = pytest.importorskip("c2pa", reason="the c2pa extra is not installed")
serialization = pytest.importorskip("cryptography.hazmat.primitives.serialization")

MASTER_SHA = "ab" * 32
WEIGHTS_SHA = "ef" * 32
FORMATS = {"tif": "image/tiff", "jpg": "image/jpeg", "png": "image/png", "webp": "image/webp"}


@pytest.fixture(scope="module")
def chain(tmp_path_factory: pytest.TempPathFactory) -> TestChain:
    return make_test_chain(tmp_path_factory.mktemp("chain"))


@pytest.fixture(scope="module")
def credentials(chain: TestChain) -> SigningCredentials:
    return load_signing_credentials(chain.chain, chain.key)


def _pixels() -> np.ndarray:
    return (np.random.default_rng(7).random((120, 160, 3)) * 255).astype(np.uint8)


def _xmp() -> bytes:
    return build_xmp(
        source_file_name="master.tif",
        source_sha256=MASTER_SHA,
        model_name="iizuka.fixture",
        weights_sha256=WEIGHTS_SHA,
        archcolor_version="0.1.0",
        parameters={"mode": "luminance"},
        provenance={},
    )


def _image(folder: Path, suffix: str) -> Path:
    path = folder / f"page.{suffix}"
    if suffix == "tif":
        tifffile.imwrite(path, _pixels(), photometric="rgb", compression="zlib",
                         tile=(64, 64), extratags=[(700, "B", 0, _xmp(), True)])  # fmt: skip
    else:
        Image.fromarray(_pixels()).save(path)
    return path


def _definition(title: str, media_type: str) -> dict:
    return manifest_definition(
        title=title,
        media_type=media_type,
        master={"sha256": MASTER_SHA, "title": "master.tif", "volume": "v", "page": 1},
        derivative={"sha256": "cd" * 32, "width": 160, "height": 120},
        model_name="iizuka.fixture",
        weights_sha256=WEIGHTS_SHA,
        parameters={"mode": "luminance", "chroma_size": 64},
    )


def _sign(tmp_path: Path, credentials: SigningCredentials, suffix: str) -> Path:
    source = _image(tmp_path, suffix)
    target = tmp_path / f"signed.{suffix}"
    manifest = sign_file(source, target, _definition(target.name, FORMATS[suffix]), credentials,
                         FORMATS[suffix])  # fmt: skip
    assert manifest  # the manifest store's bytes
    return target


@pytest.mark.parametrize("suffix", sorted(FORMATS))
def test_every_export_format_is_signed_in_place_and_reads_back_valid(
    tmp_path: Path, credentials: SigningCredentials, suffix: str
) -> None:
    signed = _sign(tmp_path, credentials, suffix)
    with open(signed, "rb") as stream, c2pa.Reader(FORMATS[suffix], stream) as reader:
        assert reader.get_validation_state() == "Valid"  # intact; the test signer is untrusted
        manifest = reader.get_active_manifest()
    ingredient = manifest["ingredients"][0]
    assert (ingredient["relationship"], ingredient["title"]) == ("parentOf", "master.tif")
    assert ingredient["metadata"]["archcolor:sha256"] == MASTER_SHA
    actions = next(a for a in manifest["assertions"] if a["label"] == "c2pa.actions.v2")
    opened, colorized = actions["data"]["actions"]
    assert opened["action"] == "c2pa.opened"
    assert colorized["action"] == ACTION_COLORIZED == "c2pa.color_adjustments"
    assert colorized["digitalSourceType"] == DIGITAL_SOURCE_TYPE == XMP_SOURCE_TYPE
    assert colorized["softwareAgent"]["name"] == "archcolor"
    assert colorized["parameters"]["weights_sha256"] == WEIGHTS_SHA
    assert colorized["parameters"]["colorize"] == {"mode": "luminance", "chroma_size": 64}
    assert "c2pa.hash.data" in json.dumps(reader_json(signed, FORMATS[suffix]))  # hard binding
    report = read_credentials(signed)
    assert report.status == "valid" and report.failures == []
    assert report.signer == "archcolor test signer (NOT TRUSTED)"
    assert (report.master_sha256, report.model) == (MASTER_SHA, "iizuka.fixture")
    assert report.actions == ["c2pa.opened", "c2pa.color_adjustments"]


def reader_json(path: Path, media_type: str) -> dict:
    with open(path, "rb") as stream, c2pa.Reader(media_type, stream) as reader:
        return json.loads(reader.detailed_json())


def test_signing_keeps_the_tiff_pixels_and_xmp(tmp_path: Path, credentials) -> None:
    signed = _sign(tmp_path, credentials, "tif")
    with tifffile.TiffFile(signed) as tiff:
        page = tiff.pages[0]
        assert np.array_equal(page.asarray(), _pixels())
        provenance = parse_xmp(page.tags.valueof(700))
    assert provenance.derived_from_sha256 == MASTER_SHA
    assert provenance.digital_source_type == XMP_SOURCE_TYPE


@pytest.mark.parametrize("suffix", ["tif", "jpg"])
def test_one_changed_pixel_byte_makes_it_invalid(tmp_path: Path, credentials, suffix) -> None:
    signed = _sign(tmp_path, credentials, suffix)
    data = bytearray(signed.read_bytes())
    if suffix == "tif":
        with tifffile.TiffFile(signed) as tiff:
            offset = tiff.pages[0].dataoffsets[0] + 5
    else:
        offset = len(data) - 200  # inside the entropy-coded scan, before EOI
    data[offset] ^= 0x01
    signed.write_bytes(bytes(data))
    with open(signed, "rb") as stream, c2pa.Reader(FORMATS[suffix], stream) as reader:
        assert reader.get_validation_state() == "Invalid"
    report = read_credentials(signed)
    assert report.status == "invalid" and "assertion.dataHash.mismatch" in report.failures


def test_stripped_manifest_is_reported_missing(tmp_path: Path, credentials) -> None:
    signed = _sign(tmp_path, credentials, "jpg")
    stripped = tmp_path / "stripped.jpg"
    with Image.open(signed) as image:  # re-encoding drops the APP11 manifest segments
        image.save(stripped, quality=95)
    report = read_credentials(stripped)
    assert report.status == "missing" and "no C2PA manifest" in report.detail


def test_sidecar_manifest_leaves_the_file_as_it_was(tmp_path: Path, credentials) -> None:
    source = _image(tmp_path, "png")
    target = tmp_path / "copy.png"
    store = sign_file(source, target, _definition(target.name, "image/png"), credentials,
                      "image/png", sidecar=True)  # fmt: skip
    assert target.read_bytes() == source.read_bytes()
    assert read_credentials(target).status == "missing"
    sidecar_path(target).write_bytes(store)
    report = read_credentials(target)
    assert report.status == "valid" and report.sidecar == str(sidecar_path(target))
    target.write_bytes(source.read_bytes()[:-1] + b"\x00")  # the binding covers the file
    assert read_credentials(target).status == "invalid"


def test_trust_anchor_makes_it_trusted_and_another_ca_invalid(
    tmp_path: Path, chain: TestChain, credentials
) -> None:
    signed = _sign(tmp_path, credentials, "png")
    assert read_credentials(signed, trust_anchors=chain.ca.read_bytes()).status == "trusted"
    other = make_test_chain(tmp_path / "other")
    report = read_credentials(signed, trust_anchors=other.ca.read_bytes())
    assert report.status == "invalid" and "signingCredential.untrusted" in report.failures


def test_test_chain_is_labelled_untrusted_and_never_overwritten(chain: TestChain) -> None:
    assert "NOT TRUSTED" in chain.readme.read_text()
    assert chain.key.stat().st_mode & 0o777 == 0o600
    with pytest.raises(OutputError, match="not overwritten"):
        make_test_chain(chain.ca.parent)


def _encrypted_key(chain: TestChain, folder: Path, password: bytes) -> Path:
    key = serialization.load_pem_private_key(chain.key.read_bytes(), password=None)
    path = folder / "encrypted.pem"
    encryption = serialization.BestAvailableEncryption(password)
    pkcs8 = serialization.PrivateFormat.PKCS8
    path.write_bytes(key.private_bytes(serialization.Encoding.PEM, pkcs8, encryption))
    return path


def test_key_and_certificate_problems_are_clear_errors(tmp_path: Path, chain: TestChain) -> None:
    with pytest.raises(SigningCredentialsError, match=r"--c2pa-cert CHAIN\.pem"):
        load_signing_credentials(None, chain.key)
    with pytest.raises(SigningCredentialsError, match=r"--c2pa-key KEY\.pem"):
        load_signing_credentials(chain.chain, None)
    with pytest.raises(SigningCredentialsError, match="does not exist"):
        load_signing_credentials(chain.chain, tmp_path / "absent.pem")
    with pytest.raises(SigningCredentialsError, match="is a CA certificate"):
        load_signing_credentials(chain.ca, chain.key)
    with pytest.raises(SigningCredentialsError, match="holds no PEM certificate"):
        load_signing_credentials(chain.key, chain.key)
    other = make_test_chain(tmp_path / "other")
    with pytest.raises(SigningCredentialsError, match="is not the private key"):
        load_signing_credentials(chain.chain, other.key)
    encrypted = _encrypted_key(chain, tmp_path, b"s3cret")
    with pytest.raises(SigningCredentialsError, match="encrypted; give its password"):
        load_signing_credentials(chain.chain, encrypted)
    with pytest.raises(SigningCredentialsError, match="wrong password"):
        load_signing_credentials(chain.chain, encrypted, password="guess")
    assert load_signing_credentials(chain.chain, encrypted, password="s3cret").algorithm == "es256"
    later = datetime.now(UTC) + timedelta(days=400)
    with pytest.raises(SigningCredentialsError, match="expired"):
        load_signing_credentials(chain.chain, chain.key, now=later)
    with pytest.raises(SigningCredentialsError, match="time-stamp"):
        load_signing_credentials(chain.chain, chain.key, tsa_url="ftp://tsa.example")


def test_a_format_the_library_cannot_embed_is_refused(tmp_path: Path, credentials) -> None:
    source = tmp_path / "page.bmp"
    Image.fromarray(_pixels()).save(source)
    with pytest.raises(C2paFormatError, match="cannot embed"):
        sign_file(source, tmp_path / "out.bmp", _definition("out.bmp", "image/bmp"),
                  credentials, "image/bmp")  # fmt: skip
