"""Apple signing identities configured per tenant, loaded once per process.

A tenant's `tenant.toml` names its pass type certificates by reference (files and the names
of environment variables holding passwords), never by value:

    [[apple_certificates]]
    pass_type_identifier = "pass.com.example.demo"
    certificate = "$PASSWIRE_DEV_CERTS_DIR/certificate.pem"   # PEM certificate ...
    key = "$PASSWIRE_DEV_CERTS_DIR/key.pem"                   # ... and key
    key_password_env = "DEMO_KEY_PASSWORD"                    # optional
    wwdr = "$PASSWIRE_DEV_CERTS_DIR/wwdr.pem"
    # or: pkcs12 = "...p12", pkcs12_password_env = "...", wwdr optional if inside the .p12

Paths may use `$VARS` and are relative to the tenant folder.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from shared.apple.certificates import (
    SigningIdentity,
    SigningMaterialError,
    load_identity_from_pem_files,
    load_identity_from_pkcs12_file,
    validate_identity,
)


@dataclass(frozen=True)
class CertificateRef:
    pass_type_identifier: str
    base_dir: Path
    certificate: str | None = None
    key: str | None = None
    key_password_env: str | None = None
    wwdr: str | None = None
    pkcs12: str | None = None
    pkcs12_password_env: str | None = None

    def path(self, value: str) -> Path:
        expanded = os.path.expandvars(value)
        if "$" in expanded:
            raise SigningMaterialError(value, "names an environment variable that is not set")
        path = Path(expanded)
        return path if path.is_absolute() else self.base_dir / path

    def password(self, env_name: str | None) -> bytes | None:
        if not env_name:
            return None
        value = os.environ.get(env_name)
        if value is None:
            raise SigningMaterialError(env_name, "password environment variable is not set")
        return value.encode("utf-8")


def load_identity(ref: CertificateRef) -> SigningIdentity:
    if ref.pkcs12:
        return load_identity_from_pkcs12_file(
            ref.path(ref.pkcs12),
            ref.password(ref.pkcs12_password_env),
            wwdr_path=ref.path(ref.wwdr) if ref.wwdr else None,
        )
    if not (ref.certificate and ref.key and ref.wwdr):
        raise SigningMaterialError(
            ref.pass_type_identifier, "needs certificate, key and wwdr, or pkcs12"
        )
    return load_identity_from_pem_files(
        ref.path(ref.certificate),
        ref.path(ref.key),
        ref.path(ref.wwdr),
        key_password=ref.password(ref.key_password_env),
    )


def client_certificate_pem(identity: SigningIdentity) -> tuple[bytes, bytes]:
    """Certificate and unencrypted key as PEM, for the APNs TLS client (kept in memory)."""
    certificate = identity.certificate.public_bytes(serialization.Encoding.PEM)
    key = identity.private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return certificate, key


class IdentityStore:
    """Identities by passTypeIdentifier, each loaded (and its key parsed) once per process."""

    def __init__(self, refs: dict[str, CertificateRef]) -> None:
        self._refs = refs
        self._loaded: dict[str, SigningIdentity] = {}
        self._lock = threading.Lock()

    def get(self, pass_type_identifier: str) -> SigningIdentity:
        with self._lock:
            identity = self._loaded.get(pass_type_identifier)
            if identity is None:
                ref = self._refs.get(pass_type_identifier)
                if ref is None:
                    raise SigningMaterialError(
                        pass_type_identifier, "no certificate is configured for it"
                    )
                identity = load_identity(ref)
                self._loaded[pass_type_identifier] = identity
            return identity

    def problems(self, now: datetime | None = None) -> list[str]:
        """Every unreadable, expired or mismatched certificate, for start-up and /readyz."""
        found: list[str] = []
        for pass_type_identifier in sorted(self._refs):
            try:
                identity = self.get(pass_type_identifier)
            except SigningMaterialError as exc:
                found.append(f"{pass_type_identifier}: {exc}")
                continue
            found.extend(
                f"{pass_type_identifier}: {problem}"
                for problem in validate_identity(
                    identity, expected_pass_type_identifier=pass_type_identifier, now=now
                )
            )
        return found
