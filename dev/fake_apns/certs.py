"""Throw-away TLS material for the fake APNs server and its tests.

Two independent test CAs, like the real setup: a "server" CA that the client trusts for
the fake APNs host, and a "WWDR" CA that signs pass type client certificates (subject
``UID=<passTypeIdentifier>``) and that the fake server requires. EC P-256 keys keep
generation in the low milliseconds; real pass type certificates are RSA, which TLS does
not care about.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DEFAULT_TOPIC = "pass.com.example.demo"
DEFAULT_TEAM_ID = "TEAMID1234"


@dataclass(frozen=True)
class Issuer:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class TestPki:
    """Paths of the PEM files written by :func:`generate_test_pki`."""

    __test__ = False  # not a pytest test class despite the name

    directory: Path
    server_ca: Path  # trust anchor the APNs client is pointed at
    server_cert: Path
    server_key: Path
    client_ca: Path  # the test "WWDR" CA the fake server requires
    client_cert: Path
    client_key: Path
    topic: str
    wwdr: Issuer

    def issue_client_cert(self, topic: str, name: str) -> tuple[Path, Path]:
        """Write another pass type client certificate signed by the test WWDR CA."""
        return _write_client_cert(self.directory, name, self.wwdr, topic)


def _name(*attrs: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attrs])


def _key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _builder(
    subject: x509.Name, issuer: x509.Name, public_key: ec.EllipticCurvePublicKey
) -> x509.CertificateBuilder:
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=2))
    )


def make_ca(common_name: str) -> Issuer:
    key = _key()
    name = _name((NameOID.COMMON_NAME, common_name), (NameOID.ORGANIZATION_NAME, "passwire test"))
    cert = (
        _builder(name, name, key.public_key())
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
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
        .sign(key, hashes.SHA256())
    )
    return Issuer(cert, key)


def _leaf(
    issuer: Issuer,
    subject: x509.Name,
    usage: x509.ObjectIdentifier,
    san: x509.SubjectAlternativeName | None = None,
) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey]:
    key = _key()
    builder = (
        _builder(subject, issuer.cert.subject, key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    )
    if san is not None:
        builder = builder.add_extension(san, critical=False)
    return builder.sign(issuer.key, hashes.SHA256()), key


def _write(path: Path, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey | None) -> None:
    data = cert.public_bytes(serialization.Encoding.PEM)
    path.write_bytes(data)
    if key is not None:
        key_path = path.with_suffix(".key")
        key_path.touch(mode=0o600)
        key_path.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )


def _write_client_cert(directory: Path, name: str, wwdr: Issuer, topic: str) -> tuple[Path, Path]:
    subject = _name(
        (NameOID.USER_ID, topic),
        (NameOID.COMMON_NAME, f"Pass Type ID: {topic}"),
        (NameOID.ORGANIZATIONAL_UNIT_NAME, DEFAULT_TEAM_ID),
        (NameOID.ORGANIZATION_NAME, "passwire test"),
        (NameOID.COUNTRY_NAME, "US"),
    )
    cert, key = _leaf(wwdr, subject, ExtendedKeyUsageOID.CLIENT_AUTH)
    path = directory / f"{name}.pem"
    _write(path, cert, key)
    return path, path.with_suffix(".key")


def generate_test_pki(directory: Path | str, topic: str = DEFAULT_TOPIC) -> TestPki:
    """Write a server CA, a server cert for localhost/127.0.0.1/::1, a WWDR CA and a client
    cert for ``topic`` into ``directory`` (created if needed)."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    server_ca = make_ca("passwire test APNs server CA")
    wwdr = make_ca("passwire test WWDR CA")
    _write(directory / "server-ca.pem", server_ca.cert, None)
    _write(directory / "client-ca.pem", wwdr.cert, None)

    san = x509.SubjectAlternativeName(
        [
            x509.DNSName("localhost"),
            x509.IPAddress(ipaddress.ip_address("127.0.0.1")),
            x509.IPAddress(ipaddress.ip_address("::1")),
        ]
    )
    server, server_key = _leaf(
        server_ca,
        _name((NameOID.COMMON_NAME, "localhost")),
        ExtendedKeyUsageOID.SERVER_AUTH,
        san,
    )
    _write(directory / "server.pem", server, server_key)
    client_cert, client_key = _write_client_cert(directory, "client", wwdr, topic)
    return TestPki(
        directory=directory,
        server_ca=directory / "server-ca.pem",
        server_cert=directory / "server.pem",
        server_key=directory / "server.key",
        client_ca=directory / "client-ca.pem",
        client_cert=client_cert,
        client_key=client_key,
        topic=topic,
        wwdr=wwdr,
    )
