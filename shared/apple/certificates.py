"""Apple pass signing material: load once, validate, keep in a frozen `SigningIdentity`.

Parsing a PEM/PKCS#12 private key costs milliseconds (OpenSSL checks RSA key consistency on
load), so callers load an identity at start-up and share it between passes and threads.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

# The only key types cryptography's PKCS#7 signer accepts.
SigningKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class SigningMaterialError(Exception):
    """Signing material is unreadable or unusable; `source` names the file(s) involved."""

    def __init__(self, source: str, reason: str) -> None:
        super().__init__(f"{source}: {reason}")
        self.source = source
        self.reason = reason


@dataclass(frozen=True, slots=True)
class MaterialSources:
    """Where each part came from (file paths or labels), so problems can name the file."""

    certificate: str = "<certificate>"
    private_key: str = "<private key>"
    wwdr: str = "<WWDR certificate>"


@dataclass(frozen=True, slots=True, eq=False)
class SigningIdentity:
    """Pass Type ID certificate + key + Apple WWDR intermediate, loaded once and shared."""

    certificate: x509.Certificate
    private_key: SigningKey
    wwdr_certificate: x509.Certificate
    pass_type_identifier: str  # certificate subject UID, must equal pass.json passTypeIdentifier
    team_identifier: str  # certificate subject OU, must equal pass.json teamIdentifier
    sources: MaterialSources = field(default_factory=MaterialSources)


def _subject_attribute(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    values = cert.subject.get_attributes_for_oid(oid)
    if not values:
        return None
    value = values[0].value
    return value if isinstance(value, str) else value.decode()


def make_identity(
    certificate: x509.Certificate,
    private_key: object,
    wwdr_certificate: x509.Certificate,
    *,
    sources: MaterialSources | None = None,
) -> SigningIdentity:
    """Build an identity from already parsed objects; reads the identifiers from the subject."""
    src = sources or MaterialSources()
    if not isinstance(private_key, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SigningMaterialError(
            src.private_key, f"unsupported key type {type(private_key).__name__} (need RSA or EC)"
        )
    pass_type_identifier = _subject_attribute(certificate, NameOID.USER_ID)
    if not pass_type_identifier:
        raise SigningMaterialError(
            src.certificate,
            "certificate subject has no UID (passTypeIdentifier); not a Pass Type ID certificate?",
        )
    team_identifier = _subject_attribute(certificate, NameOID.ORGANIZATIONAL_UNIT_NAME)
    if not team_identifier:
        raise SigningMaterialError(
            src.certificate, "certificate subject has no OU (teamIdentifier)"
        )
    return SigningIdentity(
        certificate=certificate,
        private_key=private_key,
        wwdr_certificate=wwdr_certificate,
        pass_type_identifier=pass_type_identifier,
        team_identifier=team_identifier,
        sources=src,
    )


def _load_certificate(data: bytes, source: str) -> x509.Certificate:
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_certificate(data)
        # Apple hands out the WWDR certificate as DER (.cer); accept both.
        return x509.load_der_x509_certificate(data)
    except ValueError as exc:
        raise SigningMaterialError(source, f"not a PEM or DER X.509 certificate ({exc})") from exc


def _load_private_key(data: bytes, password: bytes | None, source: str) -> object:
    try:
        return serialization.load_pem_private_key(data, password)
    except TypeError as exc:
        # Raised for "password given but key is not encrypted" and the reverse.
        raise SigningMaterialError(source, f"private key password problem: {exc}") from exc
    except (ValueError, UnsupportedAlgorithm) as exc:
        reason = "cannot read PEM private key (wrong password or not a key)"
        raise SigningMaterialError(source, reason) from exc


def load_identity_from_pem(
    certificate_pem: bytes,
    key_pem: bytes,
    wwdr_certificate: bytes,
    *,
    key_password: bytes | None = None,
    sources: MaterialSources | None = None,
) -> SigningIdentity:
    """Load from PEM certificate + PEM key (optionally encrypted) + WWDR (PEM or DER)."""
    src = sources or MaterialSources()
    return make_identity(
        _load_certificate(certificate_pem, src.certificate),
        _load_private_key(key_pem, key_password, src.private_key),
        _load_certificate(wwdr_certificate, src.wwdr),
        sources=src,
    )


def load_identity_from_pkcs12(
    p12: bytes,
    password: bytes | None,
    *,
    wwdr_certificate: bytes | None = None,
    sources: MaterialSources | None = None,
) -> SigningIdentity:
    """Load from a PKCS#12 (Keychain export). Without `wwdr_certificate`, the WWDR is taken
    from the bundle's extra certificates if one of them issued the pass certificate."""
    src = sources or MaterialSources()
    try:
        key, cert, extra = pkcs12.load_key_and_certificates(p12, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise SigningMaterialError(
            src.certificate, f"cannot read PKCS#12 (wrong password or corrupt file): {exc}"
        ) from exc
    if key is None or cert is None:
        raise SigningMaterialError(src.certificate, "PKCS#12 lacks a private key or certificate")
    if wwdr_certificate is not None:
        wwdr = _load_certificate(wwdr_certificate, src.wwdr)
    else:
        issuers = [c for c in extra if c.subject == cert.issuer]
        if not issuers:
            raise SigningMaterialError(
                src.certificate,
                "PKCS#12 does not contain the WWDR certificate; pass wwdr_certificate explicitly",
            )
        wwdr = issuers[0]
    return make_identity(cert, key, wwdr, sources=src)


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise SigningMaterialError(str(path), f"cannot read file: {exc.strerror}") from exc


def load_identity_from_pem_files(
    certificate_path: str | Path,
    key_path: str | Path,
    wwdr_path: str | Path,
    *,
    key_password: bytes | None = None,
) -> SigningIdentity:
    cert_p, key_p, wwdr_p = Path(certificate_path), Path(key_path), Path(wwdr_path)
    return load_identity_from_pem(
        _read(cert_p),
        _read(key_p),
        _read(wwdr_p),
        key_password=key_password,
        sources=MaterialSources(str(cert_p), str(key_p), str(wwdr_p)),
    )


def load_identity_from_pkcs12_file(
    p12_path: str | Path,
    password: bytes | None,
    *,
    wwdr_path: str | Path | None = None,
) -> SigningIdentity:
    p12_p = Path(p12_path)
    wwdr_p = Path(wwdr_path) if wwdr_path is not None else None
    return load_identity_from_pkcs12(
        _read(p12_p),
        password,
        wwdr_certificate=_read(wwdr_p) if wwdr_p is not None else None,
        sources=MaterialSources(str(p12_p), str(p12_p), str(wwdr_p or p12_p)),
    )


def _public_key_der(key: object) -> bytes | None:
    if isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey):
        return key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    return None


def _validity_problems(cert: x509.Certificate, source: str, what: str, now: datetime) -> list[str]:
    if now < cert.not_valid_before_utc:
        return [f"{source}: {what} not valid before {cert.not_valid_before_utc.isoformat()}"]
    if now > cert.not_valid_after_utc:
        return [f"{source}: {what} expired on {cert.not_valid_after_utc.isoformat()}"]
    return []


def validate_identity(
    identity: SigningIdentity,
    *,
    expected_pass_type_identifier: str | None = None,
    now: datetime | None = None,
) -> list[str]:
    """Return human-readable problems (empty list = usable). Never raises for bad material."""
    at = now or datetime.now(UTC)
    src = identity.sources
    cert, wwdr = identity.certificate, identity.wwdr_certificate
    problems = _validity_problems(cert, src.certificate, "certificate", at)
    # An expired WWDR makes Wallet reject passes too (the 2023 G1 -> G4 rollover bit many).
    problems += _validity_problems(wwdr, src.wwdr, "WWDR certificate", at)

    if _public_key_der(identity.private_key.public_key()) != _public_key_der(cert.public_key()):
        problems.append(
            f"{src.private_key}: private key does not match the certificate in {src.certificate}"
        )

    try:
        cert.verify_directly_issued_by(wwdr)
    except (ValueError, InvalidSignature, TypeError):
        problems.append(
            f"{src.wwdr}: WWDR certificate ({wwdr.subject.rfc4514_string()}) did not issue the "
            f"certificate in {src.certificate} (issuer {cert.issuer.rfc4514_string()})"
        )

    expected = expected_pass_type_identifier
    if expected is not None and expected != identity.pass_type_identifier:
        problems.append(
            f"{src.certificate}: certificate is for passTypeIdentifier "
            f"{identity.pass_type_identifier!r}, expected {expected!r}"
        )
    return problems


def require_valid(
    identity: SigningIdentity,
    *,
    expected_pass_type_identifier: str | None = None,
    now: datetime | None = None,
) -> SigningIdentity:
    """Start-up guard: raise `SigningMaterialError` listing every problem, else return identity."""
    problems = validate_identity(
        identity, expected_pass_type_identifier=expected_pass_type_identifier, now=now
    )
    if problems:
        reason = "unusable signing identity: " + "; ".join(problems)
        raise SigningMaterialError(identity.sources.certificate, reason)
    return identity
