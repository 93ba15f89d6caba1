"""Throwaway Google service account material: a key file in Google's JSON format and the
self-signed X.509 certificate of its key, as Google publishes it at
``https://www.googleapis.com/robot/v1/metadata/x509/<client_email>`` (what verifies the
JWTs the account signs, e.g. Save to Google Wallet links).
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

CERTIFICATE_LIFETIME = dt.timedelta(days=3650)


@dataclass(frozen=True)
class ServiceAccountFiles:
    key_file: Path  # the JSON key file, as downloaded from the Google Cloud console
    certificate: Path  # PEM certificate of the key's public half
    client_email: str
    private_key_id: str  # the ``kid`` of JWTs signed with the key


def _certificate(key: rsa.RSAPrivateKey, client_email: str) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, client_email)])
    now = dt.datetime.now(dt.UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + CERTIFICATE_LIFETIME)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )


def write_service_account(
    directory: Path | str, *, client_email: str, token_uri: str, project_id: str = "passwire-dev"
) -> ServiceAccountFiles:
    """Write ``<name>.json`` (the key file) and ``<name>-cert.pem`` into ``directory``,
    ``<name>`` being the part of ``client_email`` before the ``@``."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_key_id = secrets.token_hex(20)
    document = {
        "type": "service_account",
        "project_id": project_id,
        "private_key_id": private_key_id,
        "private_key": key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode(),
        "client_email": client_email,
        "client_id": str(secrets.randbelow(9 * 10**20) + 10**20),  # 21 digits, like Google's
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": token_uri,
        "auth_provider_x509_cert_url": "https://www.googleapis.com/oauth2/v1/certs",
        "client_x509_cert_url": (
            f"https://www.googleapis.com/robot/v1/metadata/x509/{quote(client_email)}"
        ),
        "universe_domain": "googleapis.com",
    }
    name = client_email.split("@", 1)[0]
    key_file = directory / f"{name}.json"
    key_file.touch(mode=0o600)
    key_file.chmod(0o600)  # an existing file keeps its mode otherwise
    key_file.write_text(json.dumps(document, indent=2) + "\n")
    certificate = directory / f"{name}-cert.pem"
    certificate.write_bytes(
        _certificate(key, client_email).public_bytes(serialization.Encoding.PEM)
    )
    return ServiceAccountFiles(key_file, certificate, client_email, private_key_id)
