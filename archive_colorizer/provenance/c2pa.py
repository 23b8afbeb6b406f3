"""C2PA Content Credentials: a signed manifest on each exported file, and reading it back.

The XMP packet of a derivative says *what* it is (AI-coloured, from which master), but XMP is
unsigned and not bound to the pixels. A C2PA manifest (https://c2pa.org) is: its claim is
signed with the archive's certificate and carries a hard binding (``c2pa.hash.data``, a sha256
over the file's bytes outside the manifest), so changing one pixel byte or the claim makes it
invalid. Each manifest archcolor writes holds

* the master as the ``parentOf`` ingredient: its file name as title, ``urn:sha256:<hex>`` as
  instance id and ``metadata["archcolor:sha256"]`` = the sha256 of its bytes;
* ``c2pa.actions.v2``: ``c2pa.opened`` (the master) → ``c2pa.color_adjustments`` (the
  specification has no colorize action; this is its action for colour changes) with
  ``digitalSourceType`` = IPTC ``trainedAlgorithmicMedia``, ``softwareAgent`` archcolor and its
  version, and ``parameters`` = model name, weights sha256 and the colorize parameters → for
  access copies ``c2pa.transcoded`` (format, quality) and ``c2pa.resized`` when smaller;
* ``org.archcolor.colorization``: the whole record (master, derivative, model, parameters).

No thumbnail is embedded (it would decode a 150 MP page again). The library used is the
official ``c2pa-python`` (optional extra ``archive-colorizer[c2pa]``), imported only when
signing or reading, so the rest of archcolor works without it. Nothing is fetched from the
network, except a time-stamp from the authority the user names (``tsa_url``).

Keys and certificates are the archive's; :func:`make_test_chain` makes an *untrusted* test chain
for trying the feature out.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from archive_colorizer import __version__
from archive_colorizer.errors import (
    C2paFormatError,
    C2paUnavailableError,
    ContentCredentialsError,
    OutputError,
    SigningCredentialsError,
)

__all__ = [
    "ACTION_COLORIZED",
    "COLORIZATION_ASSERTION",
    "DIGITAL_SOURCE_TYPE",
    "SIDECAR_SUFFIX",
    "CredentialsReport",
    "SigningCredentials",
    "TestChain",
    "can_embed",
    "load_signing_credentials",
    "make_test_chain",
    "manifest_definition",
    "media_type_of",
    "read_credentials",
    "sidecar_path",
    "sign_file",
]

DIGITAL_SOURCE_TYPE = "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia"
ACTION_COLORIZED = "c2pa.color_adjustments"
COLORIZATION_ASSERTION = "org.archcolor.colorization"
#: a manifest store beside the file it describes: ``page.webp`` → ``page.webp.c2pa``
SIDECAR_SUFFIX = ".c2pa"
#: extended key usages C2PA accepts on a signing certificate (C2PA 2.x, 14.5.1)
_ALLOWED_EKUS = {
    "1.3.6.1.5.5.7.3.4": "emailProtection",
    "1.3.6.1.5.5.7.3.36": "documentSigning",
    "1.3.6.1.5.5.7.3.8": "timeStamping",
    "1.3.6.1.5.5.7.3.9": "OCSPSigning",
    "1.3.6.1.4.1.62558.2.1": "c2pa-kp-claimSigning",
}
_MEDIA_TYPES = {
    ".tif": "image/tiff",
    ".tiff": "image/tiff",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".png": "image/png",
    ".webp": "image/webp",
}
_TEST_LABEL = "archcolor TEST credentials - NOT TRUSTED"


def _library() -> Any:
    try:
        import c2pa
    except ImportError as error:
        raise C2paUnavailableError() from error
    return c2pa


def media_type_of(path: Path) -> str | None:
    """The image media type archcolor exports with ``path``'s suffix (None if another)."""
    return _MEDIA_TYPES.get(path.suffix.lower())


def can_embed(media_type: str) -> bool:
    """Whether the installed library signs ``media_type`` in place (embedded manifest)."""
    return media_type in _library().Builder.get_supported_mime_types()


def sidecar_path(path: Path) -> Path:
    """Where the sidecar manifest store of ``path`` goes: ``<name>.c2pa`` beside it."""
    return path.with_name(path.name + SIDECAR_SUFFIX)


# -- signing credentials ----------------------------------------------------------------------


@dataclass(frozen=True)
class SigningCredentials:
    """A checked certificate chain and private key, ready for the C2PA signer."""

    chain_pem: bytes = field(repr=False)
    key_pem: bytes = field(repr=False)  # unencrypted PKCS#8, in memory only
    algorithm: str  # es256 | es384 | es512 | ps256 | ed25519
    subject: str
    issuer: str
    not_after: str
    fingerprint: str  # sha256 of the signing certificate (DER)
    tsa_url: str | None = None

    def recipe(self) -> dict[str, Any]:
        """What the signed bytes depend on (recorded to skip unchanged files)."""
        return {"signer": self.fingerprint, "alg": self.algorithm, "tsa": self.tsa_url}


def _read(path: Path, what: str, option: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except FileNotFoundError as error:
        raise SigningCredentialsError(f"{what} {path} does not exist; check {option}") from error
    except OSError as error:
        raise SigningCredentialsError(
            f"{what} {path} cannot be read ({error.strerror or error}); check {option}"
        ) from error


def load_signing_credentials(
    cert: Path | None,
    key: Path | None,
    *,
    password: str | None = None,
    tsa_url: str | None = None,
    now: datetime | None = None,
) -> SigningCredentials:
    """Read and check the PEM chain (signer first, then its issuers) and the private key.

    Raises SigningCredentialsError naming the file and what to do: missing or unreadable
    files, no certificate, a CA or self-signed certificate first, no digitalSignature key usage,
    no extended key usage C2PA accepts, outside its validity, an encrypted key without (or with
    the wrong) password, a key that is not the certificate's, an unsupported key type.
    """
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    test_hint = "(`archcolor c2pa test-cert DIR` makes an untrusted chain to try it out)"
    if cert is None:
        raise SigningCredentialsError(
            "--c2pa needs the signing certificate chain: --c2pa-cert CHAIN.pem or "
            f"ARCHCOLOR_C2PA_CERT {test_hint}"
        )
    if key is None:
        raise SigningCredentialsError(
            f"--c2pa needs the private key: --c2pa-key KEY.pem or ARCHCOLOR_C2PA_KEY {test_hint}"
        )
    if tsa_url is not None and not tsa_url.startswith(("http://", "https://")):
        raise SigningCredentialsError(
            f"--c2pa-tsa must be the http(s) URL of an RFC 3161 time-stamp authority, not "
            f"{tsa_url!r}"
        )
    chain_pem = _read(cert, "the certificate chain", "--c2pa-cert / ARCHCOLOR_C2PA_CERT")
    try:
        chain = x509.load_pem_x509_certificates(chain_pem)
    except ValueError as error:
        raise SigningCredentialsError(
            f"{cert} holds no PEM certificate (-----BEGIN CERTIFICATE-----); give the signing "
            "certificate followed by its issuing CA certificates"
        ) from error
    leaf = chain[0]
    _check_signer(leaf, cert, now or datetime.now(UTC))
    private = _private_key(key, password)
    spki = serialization.PublicFormat.SubjectPublicKeyInfo
    der = serialization.Encoding.DER
    if private.public_key().public_bytes(der, spki) != leaf.public_key().public_bytes(der, spki):
        raise SigningCredentialsError(
            f"{key} is not the private key of the signing certificate in {cert}; give the "
            "matching pair"
        )
    algorithm = _algorithm(private, key)
    key_pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return SigningCredentials(
        chain_pem=b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain),
        key_pem=key_pem,
        algorithm=algorithm,
        subject=leaf.subject.rfc4514_string(),
        issuer=leaf.issuer.rfc4514_string(),
        not_after=leaf.not_valid_after_utc.isoformat(),
        fingerprint=leaf.fingerprint(hashes.SHA256()).hex(),
        tsa_url=tsa_url,
    )


def _check_signer(leaf: Any, cert: Path, moment: datetime) -> None:
    """The signing certificate may sign C2PA manifests at ``moment``: an end-entity certificate
    issued by a CA, with the digitalSignature key usage and an extended key usage C2PA accepts,
    within its validity."""
    from cryptography import x509

    where = f"{cert}: the signing certificate ({leaf.subject.rfc4514_string()})"
    try:
        basic = leaf.extensions.get_extension_for_class(x509.BasicConstraints).value
        is_ca = basic.ca
    except x509.ExtensionNotFound:
        is_ca = False
    if is_ca:
        raise SigningCredentialsError(
            f"{where} is a CA certificate; put the signer's (end-entity) certificate first in "
            "the file, then its issuers"
        )
    if leaf.issuer == leaf.subject:
        raise SigningCredentialsError(
            f"{where} is self-signed; C2PA needs a certificate issued by a CA: give the signer's "
            "certificate followed by the CA's"
        )
    try:
        usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
        signs = usage.digital_signature
    except x509.ExtensionNotFound:
        signs = False
    if not signs:
        raise SigningCredentialsError(f"{where} lacks the digitalSignature key usage C2PA needs")
    try:
        ekus = {
            oid.dotted_string
            for oid in leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        }
    except x509.ExtensionNotFound:
        ekus = set()
    if not ekus & set(_ALLOWED_EKUS):
        raise SigningCredentialsError(
            f"{where} has no extended key usage C2PA accepts (one of "
            f"{', '.join(_ALLOWED_EKUS.values())})"
        )
    if moment < leaf.not_valid_before_utc:
        raise SigningCredentialsError(
            f"{where} is not valid before {leaf.not_valid_before_utc.isoformat()}"
        )
    if moment > leaf.not_valid_after_utc:
        raise SigningCredentialsError(
            f"{where} expired on {leaf.not_valid_after_utc.isoformat()}; renew it"
        )


def _private_key(key: Path, password: str | None) -> Any:
    """The private key in ``key`` (decrypted with ``password``)."""
    from cryptography.hazmat.primitives import serialization

    key_data = _read(key, "the private key", "--c2pa-key / ARCHCOLOR_C2PA_KEY")
    try:
        private = serialization.load_pem_private_key(
            key_data, password=password.encode("utf-8") if password else None
        )
    except TypeError as error:
        if password:
            raise SigningCredentialsError(
                f"{key}: the private key is not encrypted but a password was given; unset "
                "ARCHCOLOR_C2PA_KEY_PASSWORD"
            ) from error
        raise SigningCredentialsError(
            f"{key}: the private key is encrypted; give its password in ARCHCOLOR_C2PA_KEY_PASSWORD"
        ) from error
    except ValueError as error:
        if password:
            raise SigningCredentialsError(
                f"{key}: the private key cannot be decrypted with the password in "
                "ARCHCOLOR_C2PA_KEY_PASSWORD (wrong password?)"
            ) from error
        raise SigningCredentialsError(
            f"{key} holds no PEM private key (-----BEGIN PRIVATE KEY-----)"
        ) from error
    return private


def _algorithm(private: Any, key: Path) -> str:
    """The C2PA signing algorithm of ``private``; SigningCredentialsError for other keys."""
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

    if isinstance(private, ec.EllipticCurvePrivateKey):
        algorithm = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}.get(
            private.curve.name, ""
        )
    elif isinstance(private, rsa.RSAPrivateKey) and private.key_size >= 2048:
        algorithm = "ps256"
    elif isinstance(private, ed25519.Ed25519PrivateKey):
        algorithm = "ed25519"
    else:
        algorithm = ""
    if not algorithm:
        raise SigningCredentialsError(
            f"{key}: C2PA signs with EC P-256/P-384/P-521, RSA (2048 bits or more) or Ed25519 "
            "keys; this key is none of them"
        )
    return algorithm


# -- test chain -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestChain:
    """The files :func:`make_test_chain` wrote."""

    __test__ = False  # not a pytest test class

    ca: Path
    chain: Path
    key: Path
    readme: Path


def make_test_chain(folder: Path, *, days: int = 365) -> TestChain:
    """Write an UNTRUSTED test CA and signer (EC P-256, ES256) into ``folder``.

    ``test-ca.pem`` (the CA; give it to ``verify --c2pa-trust`` to see "trusted"),
    ``test-chain.pem`` (signer + CA, for ``--c2pa-cert``), ``test-key.pem`` (the signer's key,
    mode 0600, for ``--c2pa-key``) and ``README.txt``. Every name says "NOT TRUSTED"; no
    validator trusts it. Existing files are never overwritten (OutputError).
    """
    from cryptography.hazmat.primitives import serialization

    folder = Path(folder)
    paths = TestChain(
        ca=folder / "test-ca.pem",
        chain=folder / "test-chain.pem",
        key=folder / "test-key.pem",
        readme=folder / "README.txt",
    )
    existing = [str(p) for p in asdict(paths).values() if Path(p).exists()]
    if existing:
        raise OutputError(
            f"{', '.join(existing)} already exist(s); not overwritten — choose an empty folder"
        )
    folder.mkdir(parents=True, exist_ok=True)
    ca, signer, signer_key = _test_certificates(days)
    pem = serialization.Encoding.PEM
    paths.ca.write_bytes(ca.public_bytes(pem))
    paths.chain.write_bytes(signer.public_bytes(pem) + ca.public_bytes(pem))
    descriptor = os.open(paths.key, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(
            signer_key.private_bytes(
                pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
        )
    paths.readme.write_text(
        f"{_TEST_LABEL}\n\n"
        "These files were made by `archcolor c2pa test-cert` to TRY Content Credentials.\n"
        "No validator trusts them: a manifest signed with them verifies as intact but from an\n"
        "untrusted signer. Sign real deliveries with the archive's own certificate.\n\n"
        "  archcolor export --c2pa --c2pa-cert test-chain.pem --c2pa-key test-key.pem ...\n"
        "  archcolor verify --c2pa --c2pa-trust test-ca.pem FILE...\n",
        "utf-8",
    )
    return paths


def _test_certificates(days: int) -> tuple[Any, Any, Any]:
    """``(CA certificate, signer certificate, signer's key)`` of an untrusted EC P-256 chain
    valid for ``days``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

    now = datetime.now(UTC)

    def name(common: str) -> x509.Name:
        return x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, common),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, _TEST_LABEL),
            ]
        )

    def usage(*, sign: bool, ca: bool) -> x509.KeyUsage:
        return x509.KeyUsage(
            digital_signature=sign,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=ca,
            crl_sign=ca,
            encipher_only=False,
            decipher_only=False,
        )

    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = name("archcolor test CA (NOT TRUSTED)")
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(usage(sign=False, ca=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    signer_key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(name("archcolor test signer (NOT TRUSTED)"))
        .issuer_name(ca_name)
        .public_key(signer_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(usage(sign=True, ca=False), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(signer_key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    return ca, signer, signer_key


# -- the manifest -----------------------------------------------------------------------------


def manifest_definition(
    *,
    title: str,
    media_type: str,
    master: Mapping[str, Any],
    derivative: Mapping[str, Any],
    model_name: str,
    weights_sha256: str,
    parameters: Mapping[str, Any],
    transcoded: Mapping[str, Any] | None = None,
    resized: tuple[int, int] | None = None,
) -> dict[str, Any]:
    """The manifest definition (JSON-ready) for one exported file; see the module docstring.

    ``master`` holds ``sha256`` and ``title`` (its file name), and may hold path, volume, page;
    ``derivative`` the archival derivative's sha256, width, height. ``transcoded``: the access
    copy's format options (None for the archival TIFF); ``resized``: its (width, height) when
    smaller than the derivative.
    """
    master_id = f"urn:sha256:{master['sha256']}"
    software = {"name": "archcolor", "version": __version__}
    actions: list[dict[str, Any]] = [
        {"action": "c2pa.opened", "parameters": {"ingredientIds": [master_id]}},
        {
            "action": ACTION_COLORIZED,
            "digitalSourceType": DIGITAL_SOURCE_TYPE,
            "softwareAgent": software,
            "description": (
                "Colour added by a trained colorization model to a greyscale master; the "
                "luminance is the master's own, the colours are machine-generated."
            ),
            "parameters": {
                "model": model_name,
                "weights_sha256": weights_sha256,
                "colorize": dict(parameters),
            },
        },
    ]
    if transcoded is not None:
        actions.append(
            {"action": "c2pa.transcoded", "softwareAgent": software, "parameters": dict(transcoded)}
        )
    if resized is not None:
        actions.append(
            {
                "action": "c2pa.resized",
                "softwareAgent": software,
                "parameters": {"width": resized[0], "height": resized[1]},
            }
        )
    return {
        "claim_generator_info": [software],
        "title": title,
        "format": media_type,
        "ingredients": [
            {
                "title": str(master["title"]),
                "format": "image/tiff",
                "relationship": "parentOf",
                "instance_id": master_id,
                "metadata": {"archcolor:sha256": str(master["sha256"])},
            }
        ],
        "assertions": [
            {"label": "c2pa.actions.v2", "data": {"actions": actions}},
            {
                "label": COLORIZATION_ASSERTION,
                "data": {
                    "archcolor": __version__,
                    "master": dict(master),
                    "derivative": dict(derivative),
                    "model": {"name": model_name, "weights_sha256": weights_sha256},
                    "parameters": dict(parameters),
                },
            },
        ],
    }


@contextlib.contextmanager
def _c2pa_errors(what: str) -> Iterator[None]:
    """Turn the library's errors into archcolor's (with ``what`` in front)."""
    library = _library()
    try:
        yield
    except library.C2paError as error:
        text = " ".join(str(error).split())
        kind = type(error).__name__.lstrip("_")
        if "NotSupported" in kind:
            raise C2paFormatError(f"{what}: the C2PA library cannot handle it ({text})") from error
        if any(word in kind for word in ("Signature", "Verify")) or "cert" in text.lower():
            raise SigningCredentialsError(f"{what}: {text}") from error
        raise ContentCredentialsError(f"{what}: {text}") from error


def _context(library: Any, trust_anchors: bytes | None = None) -> Any:
    settings: dict[str, Any] = {"builder": {"thumbnail": {"enabled": False}}}
    if trust_anchors is not None:
        settings["trust"] = {"trust_anchors": trust_anchors.decode("ascii", "replace")}
        settings["verify"] = {"verify_trust": True}
    return library.Context(library.Settings.from_dict(settings))


def sign_file(
    source: Path,
    target: Path,
    definition: Mapping[str, Any],
    credentials: SigningCredentials,
    media_type: str,
    *,
    sidecar: bool = False,
) -> bytes:
    """Sign ``source`` into ``target`` (a new file) and return the manifest store's bytes.

    Embedded: ``target`` is ``source`` with the manifest inside. ``sidecar``: ``target`` is a
    byte copy of ``source`` and the caller keeps the returned store as a ``.c2pa`` sidecar
    (its hard binding covers the whole file). C2paFormatError when the library cannot embed
    into ``media_type``.
    """
    library = _library()
    if not sidecar and not can_embed(media_type):
        raise C2paFormatError(
            f"{source}: the installed C2PA library cannot embed a manifest in {media_type}"
        )
    info = library.C2paSignerInfo(
        credentials.algorithm.encode("ascii"),
        credentials.chain_pem,
        credentials.key_pem,
        credentials.tsa_url.encode("utf-8") if credentials.tsa_url else None,
    )
    with _c2pa_errors(f"C2PA signing of {target.name}"):
        signer = library.Signer.from_info(info)
        with (
            signer,
            library.Builder(json.dumps(definition), _context(library)) as builder,
            open(source, "rb") as reader,
            open(target, "w+b") as writer,
        ):
            if sidecar:
                builder.set_no_embed()
            manifest = builder.sign(signer, media_type, reader, writer)
            writer.flush()
            os.fsync(writer.fileno())
    return bytes(manifest)


# -- reading ----------------------------------------------------------------------------------


@dataclass
class CredentialsReport:
    """What :func:`read_credentials` found in one file.

    ``status``: ``trusted`` (intact, signer chains to a given trust anchor), ``valid`` (intact:
    signature and hard binding check out; signer not checked against a trust list), ``invalid``
    (``failures`` says why), ``missing`` (no manifest, embedded or sidecar) or ``unreadable``.
    """

    path: str
    status: str
    detail: str = ""
    failures: list[str] = field(default_factory=list)
    sidecar: str | None = None
    signer: str | None = None
    issuer: str | None = None
    signed_at: str | None = None
    title: str | None = None
    master_title: str | None = None
    master_sha256: str | None = None
    actions: list[str] = field(default_factory=list)
    digital_source_type: str | None = None
    software_agent: str | None = None
    model: str | None = None
    weights_sha256: str | None = None

    @property
    def intact(self) -> bool:
        return self.status in ("trusted", "valid")

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def _failures(document: Mapping[str, Any], trust_checked: bool) -> list[str]:
    results = document.get("validation_results") or {}
    failures = list((results.get("activeManifest") or {}).get("failure") or [])
    for ingredient in results.get("ingredientDeltas") or []:
        failures.extend((ingredient.get("validationDeltas") or {}).get("failure") or [])
    codes = [str(f.get("code", "")) for f in failures if isinstance(f, Mapping)]
    if not codes:
        codes = [
            str(s.get("code", ""))
            for s in document.get("validation_status") or []
            if isinstance(s, Mapping)
        ]
    if not trust_checked:  # intact but not checked against a trust list: not a failure here
        codes = [c for c in codes if c != "signingCredential.untrusted"]
    return codes


def _describe(report: CredentialsReport, manifest: Mapping[str, Any]) -> None:
    signature = manifest.get("signature_info") or {}
    report.signer = signature.get("common_name")
    report.issuer = signature.get("issuer")
    report.signed_at = signature.get("time")
    report.title = manifest.get("title")
    for ingredient in manifest.get("ingredients") or []:
        if ingredient.get("relationship") == "parentOf":
            report.master_title = ingredient.get("title")
            metadata = ingredient.get("metadata") or {}
            sha = metadata.get("archcolor:sha256")
            instance = str(ingredient.get("instance_id") or "")
            if sha is None and instance.startswith("urn:sha256:"):
                sha = instance.removeprefix("urn:sha256:")
            report.master_sha256 = sha
    for assertion in manifest.get("assertions") or []:
        label = str(assertion.get("label", ""))
        data = assertion.get("data") or {}
        if label.startswith("c2pa.actions"):
            for action in data.get("actions") or []:
                report.actions.append(str(action.get("action")))
                if action.get("digitalSourceType"):
                    report.digital_source_type = action["digitalSourceType"]
                agent = action.get("softwareAgent")
                if isinstance(agent, Mapping) and report.software_agent is None:
                    report.software_agent = f"{agent.get('name')} {agent.get('version', '')}"
                parameters = action.get("parameters") or {}
                if action.get("action") == ACTION_COLORIZED:
                    report.model = parameters.get("model", report.model)
                    report.weights_sha256 = parameters.get("weights_sha256", report.weights_sha256)
        elif label == COLORIZATION_ASSERTION:
            model = data.get("model") or {}
            report.model = report.model or model.get("name")
            report.weights_sha256 = report.weights_sha256 or model.get("weights_sha256")


def read_credentials(path: Path, *, trust_anchors: bytes | None = None) -> CredentialsReport:
    """Read and validate the C2PA manifest of ``path`` (embedded, else its ``.c2pa`` sidecar).

    With ``trust_anchors`` (PEM CA certificates) a signer that does not chain to one of them
    makes the file ``invalid``; without, an intact file is ``valid`` whoever signed it.
    """
    library = _library()
    path = Path(path)
    report = CredentialsReport(path=str(path), status="missing")
    sidecar = sidecar_path(path)
    media_type = media_type_of(path)
    if media_type is None:
        report.status, report.detail = "unreadable", "not a TIFF, JPEG, PNG or WebP file name"
        return report
    context = _context(library, trust_anchors)
    try:
        with open(path, "rb") as stream:
            try:
                reader = library.Reader(media_type, stream, None, context)
            except library.C2paError as error:
                if "ManifestNotFound" not in type(error).__name__ or not sidecar.is_file():
                    raise
                report.sidecar = str(sidecar)
                stream.seek(0)
                reader = library.Reader(media_type, stream, sidecar.read_bytes(), context)
            with reader:
                state = str(reader.get_validation_state() or "")
                document = json.loads(reader.json())
    except OSError as error:
        report.status, report.detail = "unreadable", f"{error.strerror or error}"
        return report
    except library.C2paError as error:
        text = " ".join(str(error).split())
        if "ManifestNotFound" in type(error).__name__:
            report.detail = "no C2PA manifest (embedded, or a .c2pa sidecar beside it)"
        else:
            report.status, report.detail = "invalid", text
            report.failures = [text]
        return report
    active = (document.get("manifests") or {}).get(document.get("active_manifest") or "") or {}
    _describe(report, active)
    report.failures = _failures(document, trust_anchors is not None)
    if state == "Trusted" and not report.failures:
        report.status = "trusted"
    elif state in ("Valid", "Trusted") and not report.failures:
        report.status = "valid"
    else:
        report.status = "invalid"
        if trust_anchors is not None and "signingCredential.untrusted" in report.failures:
            report.detail = "the signer does not chain to a --c2pa-trust certificate"
    report.detail = report.detail or (
        f"{report.status}: " + (", ".join(report.failures) or "signature and hard binding intact")
    )
    return report
