"""FOR TESTS AND LOCAL DEVELOPMENT ONLY: throwaway signing material shaped like Apple's.

A self-signed root CA plays the Apple WWDR certificate and issues a Pass Type ID certificate
(subject UID=passTypeIdentifier, OU=teamIdentifier). Passes signed with it will not install
on a real device; they exercise the packaging and signing code paths.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

DEMO_PASS_TYPE_IDENTIFIER = "pass.com.example.demo"
DEMO_TEAM_IDENTIFIER = "TEAMID1234"


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass(frozen=True, slots=True)
class TestMaterial:
    __test__ = False  # not a pytest test class despite the name

    wwdr_certificate: x509.Certificate
    wwdr_key: rsa.RSAPrivateKey
    certificate: x509.Certificate
    private_key: rsa.RSAPrivateKey


@dataclass(frozen=True, slots=True)
class PemPaths:
    certificate: Path
    private_key: Path
    wwdr: Path


def make_wwdr(
    key: rsa.RSAPrivateKey | None = None,
    *,
    common_name: str = "Test WWDR Certification Authority",
    now: datetime | None = None,
    issuer: tuple[x509.Certificate, rsa.RSAPrivateKey] | None = None,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """CA certificate standing in for Apple WWDR: self-signed, or issued by `issuer` (a
    stand-in "Apple Root CA") to mimic the real intermediate."""
    key = key or new_key()
    start = now or datetime.now(UTC)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, "Test WWDR"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "passwire tests"),
        ]
    )
    issuer_name, signing_key = (issuer[0].subject, issuer[1]) if issuer else (name, key)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(start - timedelta(days=1))
        .not_valid_after(start + timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(signing_key, hashes.SHA256())
    )
    return cert, key


def make_pass_certificate(
    wwdr_certificate: x509.Certificate,
    wwdr_key: rsa.RSAPrivateKey,
    *,
    key: rsa.RSAPrivateKey | None = None,
    pass_type_identifier: str = DEMO_PASS_TYPE_IDENTIFIER,
    team_identifier: str = DEMO_TEAM_IDENTIFIER,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> tuple[x509.Certificate, rsa.RSAPrivateKey]:
    """Pass Type ID certificate issued by `wwdr_certificate` (dates default to valid now)."""
    key = key or new_key()
    now = datetime.now(UTC)
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.USER_ID, pass_type_identifier),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Pass Type ID: {pass_type_identifier}"),
            x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, team_identifier),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Example Demo"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "US"),
        ]
    )
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(wwdr_certificate.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - timedelta(hours=1))
        .not_valid_after(not_after or now + timedelta(days=365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(wwdr_key.public_key()),
            critical=False,
        )
        .sign(wwdr_key, hashes.SHA256())
    )
    return cert, key


def generate_material(
    *,
    pass_type_identifier: str = DEMO_PASS_TYPE_IDENTIFIER,
    team_identifier: str = DEMO_TEAM_IDENTIFIER,
) -> TestMaterial:
    """Fresh WWDR + pass certificate (two RSA-2048 keys, ~0.1-0.5 s: share it per session)."""
    wwdr_cert, wwdr_key = make_wwdr()
    cert, key = make_pass_certificate(
        wwdr_cert,
        wwdr_key,
        pass_type_identifier=pass_type_identifier,
        team_identifier=team_identifier,
    )
    return TestMaterial(wwdr_cert, wwdr_key, cert, key)


def certificate_pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def private_key_pem(key: rsa.RSAPrivateKey, password: bytes | None = None) -> bytes:
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def write_pem_files(
    material: TestMaterial, directory: str | Path, *, key_password: bytes | None = None
) -> PemPaths:
    """Write certificate.pem, key.pem (encrypted if `key_password`) and wwdr.pem."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    paths = PemPaths(out / "certificate.pem", out / "key.pem", out / "wwdr.pem")
    paths.certificate.write_bytes(certificate_pem(material.certificate))
    paths.private_key.write_bytes(private_key_pem(material.private_key, key_password))
    paths.private_key.chmod(0o600)
    paths.wwdr.write_bytes(certificate_pem(material.wwdr_certificate))
    return paths


def to_pkcs12(material: TestMaterial, password: bytes, *, include_wwdr: bool = True) -> bytes:
    """PKCS#12 like a Keychain export (which often lacks the WWDR: `include_wwdr=False`)."""
    return pkcs12.serialize_key_and_certificates(
        name=b"passwire test pass certificate",
        key=material.private_key,
        cert=material.certificate,
        cas=[material.wwdr_certificate] if include_wwdr else None,
        encryption_algorithm=serialization.BestAvailableEncryption(password),
    )
