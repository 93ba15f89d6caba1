"""Where and how the APNs engine connects: hosts, certificate, timeouts, TLS context."""

from __future__ import annotations

import ssl
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

PRODUCTION_HOST = "api.push.apple.com"
SANDBOX_HOST = "api.sandbox.push.apple.com"


@dataclass(frozen=True)
class ApnsConfig:
    """Where and how to connect. Certificate and key come from PEM files or memory."""

    host: str = PRODUCTION_HOST
    port: int = 443
    cert_file: str | Path | None = None
    key_file: str | Path | None = None  # None: the key is inside cert_file / cert_pem
    cert_pem: bytes | None = field(default=None, repr=False)
    key_pem: bytes | None = field(default=None, repr=False)
    key_password: bytes | None = field(default=None, repr=False)
    ca_file: str | Path | None = None  # None: the system trust store
    max_attempts: int = 3
    backoff_base: float = 0.25  # seconds; doubles per attempt, jittered within [1/2, 1]
    backoff_max: float = 8.0
    connect_timeout: float = 10.0
    request_timeout: float = 10.0
    max_streams: int = 1000  # our cap on concurrent streams; a lower server limit wins
    payload: bytes = b"{}"


def build_ssl_context(config: ApnsConfig) -> ssl.SSLContext:
    """TLS 1.2+ with ALPN ``h2``, the pass type certificate as the client certificate."""
    context = ssl.create_default_context(
        cafile=None if config.ca_file is None else str(config.ca_file)
    )
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.set_alpn_protocols(["h2"])
    password = config.key_password
    if config.cert_file is not None:
        key = None if config.key_file is None else str(config.key_file)
        context.load_cert_chain(str(config.cert_file), key, password)
    elif config.cert_pem is not None:
        # ssl only loads key material from files: write it to a private temporary
        # directory for the duration of the call.
        with tempfile.TemporaryDirectory(prefix="apns-") as tmp:
            cert_path = Path(tmp, "cert.pem")
            cert_path.touch(mode=0o600)
            cert_path.write_bytes(config.cert_pem + b"\n" + (config.key_pem or b""))
            context.load_cert_chain(str(cert_path), None, password)
    return context
