"""Google Wallet issuers configured per tenant, their service-account keys loaded once per
process.

A tenant's `tenant.toml` names each issuer's service-account key by reference, never by value:

    [[google_issuers]]
    issuer_id = "3388000000022222222"          # quoted: Google's issuer ids are long numbers
    service_account_key = "$PASSWIRE_DEV_CERTS_DIR/google-service-account.json"
    origins = ["https://www.example.com"]      # pages that may show Save to Google Wallet
    requests_per_second = 20                   # our pace towards Google for this issuer

Paths may use `$VARS` and are relative to the tenant folder, like Apple certificates. Loading
a tenant does not read the key: a missing or bad key shows in `problems()` (readiness), and
`get` raises GoogleCredentialError, never a crash deep in a worker.
"""

from __future__ import annotations

import json
import os
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

ISSUER_ID_PATTERN = re.compile(r"[0-9]{1,25}")  # use with fullmatch
DEFAULT_REQUESTS_PER_SECOND = 20
# What google-auth needs to sign as the service account, and what passwire reads itself.
REQUIRED_KEY_FIELDS = ("client_email", "private_key", "private_key_id", "token_uri")
_LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1")


class GoogleCredentialError(Exception):
    """A service-account key is unusable; the message names the file and the problem, never
    the key's content."""


def origin_problem(origin: str) -> str | None:
    """Why `origin` cannot be a Save-to-Wallet origin, or None: an https origin, or an http
    one on this machine (local development)."""
    try:
        parts = urlsplit(origin)
        host = parts.hostname
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return "is not a URL origin"
    local = parts.scheme == "http" and host in _LOCAL_HOSTS
    if not host or not port_ok or (parts.scheme != "https" and not local):
        return "must be an https:// origin (http:// only for localhost and 127.0.0.1)"
    if parts.path or parts.query or parts.fragment or parts.username or parts.password:
        return "must be an origin only (scheme, host and port; no path, not even a final /)"
    return None


@dataclass(frozen=True)
class GoogleIssuerRef:
    """An issuer as tenant.toml configures it: the key by reference, not loaded."""

    issuer_id: str
    base_dir: Path
    service_account_key: str
    origins: tuple[str, ...] = ()
    requests_per_second: int = DEFAULT_REQUESTS_PER_SECOND

    def key_path(self) -> Path:
        expanded = os.path.expandvars(self.service_account_key)
        if "$" in expanded:
            raise GoogleCredentialError(
                f"service account key {self.service_account_key}: names an environment "
                "variable that is not set"
            )
        path = Path(expanded)
        return path if path.is_absolute() else self.base_dir / path


@dataclass(frozen=True)
class ServiceAccount:
    """A parsed service-account key. `info` is the file's content, ready for google-auth's
    `service_account.Credentials.from_service_account_info`; secrets stay out of repr."""

    client_email: str
    private_key_id: str
    token_uri: str
    private_key: rsa.RSAPrivateKey = field(repr=False)
    private_key_pem: str = field(repr=False)
    info: Mapping[str, Any] = field(repr=False)


@dataclass(frozen=True)
class GoogleIssuer:
    ref: GoogleIssuerRef
    service_account: ServiceAccount

    @property
    def issuer_id(self) -> str:
        return self.ref.issuer_id


def _read_info(path: Path) -> dict[str, Any]:
    label = f"service account key {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise GoogleCredentialError(f"{label}: file is missing") from None
    except UnicodeDecodeError:
        raise GoogleCredentialError(f"{label}: is not UTF-8 text") from None
    except OSError as exc:
        raise GoogleCredentialError(f"{label}: cannot be read ({type(exc).__name__})") from None
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:  # position only: the message never quotes the text
        raise GoogleCredentialError(
            f"{label}: is not JSON (line {exc.lineno}, column {exc.colno})"
        ) from None
    if not isinstance(info, dict):
        raise GoogleCredentialError(f"{label}: is not a JSON object")
    return info


def load_service_account(path: Path) -> ServiceAccount:
    """Read and check a Google service-account JSON key file. Raises GoogleCredentialError."""
    label = f"service account key {path}"
    info = _read_info(path)
    if info.get("type") != "service_account":
        raise GoogleCredentialError(
            f'{label}: "type" is not "service_account" (is this a service-account key file?)'
        )
    missing = [
        name for name in REQUIRED_KEY_FIELDS if not (isinstance(info.get(name), str) and info[name])
    ]
    if missing:
        raise GoogleCredentialError(f"{label}: missing fields (or not text): {', '.join(missing)}")
    pem = info["private_key"]
    try:
        key = serialization.load_pem_private_key(pem.encode("utf-8"), password=None)
    except Exception:  # any parse failure; its text is not worth the risk of echoing key data
        raise GoogleCredentialError(
            f"{label}: private_key is not a readable, unencrypted PEM private key"
        ) from None
    if not isinstance(key, rsa.RSAPrivateKey):
        raise GoogleCredentialError(
            f"{label}: private_key is not an RSA key (Google service accounts sign with RSA)"
        )
    return ServiceAccount(
        client_email=info["client_email"],
        private_key_id=info["private_key_id"],
        token_uri=info["token_uri"],
        private_key=key,
        private_key_pem=pem,
        info=MappingProxyType(info),
    )


class GoogleIssuerStore:
    """Issuers by issuer id, each key loaded (and parsed) once per process, on first use."""

    def __init__(self, refs: Mapping[str, GoogleIssuerRef]) -> None:
        self._refs = dict(refs)
        self._loaded: dict[str, GoogleIssuer] = {}
        self._lock = threading.Lock()

    def __contains__(self, issuer_id: object) -> bool:
        return issuer_id in self._refs

    def issuer_ids(self) -> tuple[str, ...]:
        return tuple(sorted(self._refs))

    def ref(self, issuer_id: str) -> GoogleIssuerRef:
        """The configuration of an issuer (origins, pace), without loading its key."""
        ref = self._refs.get(issuer_id)
        if ref is None:
            raise GoogleCredentialError(f"Google issuer {issuer_id} is not configured")
        return ref

    def get(self, issuer_id: str) -> GoogleIssuer:
        with self._lock:
            issuer = self._loaded.get(issuer_id)
            if issuer is None:
                ref = self.ref(issuer_id)
                # A failure is not kept: the next call reads the file again, once it is fixed.
                issuer = GoogleIssuer(ref, load_service_account(ref.key_path()))
                self._loaded[issuer_id] = issuer
            return issuer

    def problems(self) -> list[str]:
        """Every unusable key, each naming its issuer, for start-up and /readyz."""
        found: list[str] = []
        for issuer_id in sorted(self._refs):
            try:
                self.get(issuer_id)
            except GoogleCredentialError as exc:
                found.append(f"Google issuer {issuer_id}: {exc}")
        return found
