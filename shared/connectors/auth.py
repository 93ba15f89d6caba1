"""Checking who calls a connector, before its body is read as JSON. Pure functions.

- `shared-secret`: the secret in a header (tools that only let you add static headers to a
  webhook: Klaviyo flow webhooks, Braze webhooks). Compared in constant time. No timestamp,
  so no replay window: use it over HTTPS only, and prefer a signed scheme when the tool has one.
- `hubspot-v3`: HubSpot's v3 request signature: base64 HMAC-SHA256, under the app's client
  secret, of method + URI + body + timestamp (`X-HubSpot-Signature-v3`), the timestamp in
  milliseconds in `X-HubSpot-Request-Timestamp`, refused outside the tolerance (5 minutes).
- `passwire-v1`: our own webhook signature (shared/webhooks/signing.py), for a tool or a
  relay that can compute it: `Passwire-Signature: t=<unix s>,v1=<hex HMAC of "<t>.<body>">`.

A signed request also yields a replay key: the route refuses a key seen within the window.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from typing import Protocol

from shared.connectors.config import HUBSPOT_V3, PASSWIRE_V1, SHARED_SECRET, ConnectorAuth
from shared.webhooks import signing

HUBSPOT_SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
HUBSPOT_TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"


class Headers(Protocol):
    """Case-insensitive header lookups (Flask's request.headers)."""

    def get(self, key: str) -> str | None: ...


class Unauthenticated(Exception):
    """The request does not prove it comes from the connector's caller; says why."""


@dataclass(frozen=True)
class Request:
    method: str
    uri: str  # as the caller addressed it: the public URL, query string included
    headers: Headers
    body: bytes


def verify(auth: ConnectorAuth, secret: str, request: Request, *, now: float) -> str | None:
    """Raise Unauthenticated, or return the request's replay key (None: the scheme has no
    timestamp, so no replay window)."""
    if auth.scheme == SHARED_SECRET:
        presented = request.headers.get(auth.header) or ""
        if not hmac.compare_digest(presented.encode(), secret.encode()):
            raise Unauthenticated(f"{auth.header}: missing or wrong")
        return None
    if auth.scheme == HUBSPOT_V3:
        return _verify_hubspot_v3(auth, secret, request, now)
    if auth.scheme == PASSWIRE_V1:
        header = request.headers.get(signing.SIGNATURE_HEADER)
        try:
            signing.verify(secret, header, request.body, auth.tolerance_s, now=now)
        except signing.InvalidSignature as exc:
            raise Unauthenticated(f"{signing.SIGNATURE_HEADER}: {exc}") from None
        return _replay_key(header or "")
    raise Unauthenticated(f"unknown scheme {auth.scheme}")


def hubspot_v3_signature(secret: str, method: str, uri: str, body: bytes, timestamp: str) -> str:
    """base64(HMAC-SHA256(secret, method + uri + body + timestamp))."""
    message = f"{method}{uri}".encode() + body + timestamp.encode()
    digest = hmac.new(secret.encode(), message, hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def _verify_hubspot_v3(auth: ConnectorAuth, secret: str, request: Request, now: float) -> str:
    signature = request.headers.get(HUBSPOT_SIGNATURE_HEADER) or ""
    timestamp = request.headers.get(HUBSPOT_TIMESTAMP_HEADER) or ""
    if not signature or not timestamp.isdigit():
        raise Unauthenticated(f"{HUBSPOT_SIGNATURE_HEADER}/{HUBSPOT_TIMESTAMP_HEADER}: missing")
    if abs(now * 1000 - int(timestamp)) > auth.tolerance_s * 1000:
        raise Unauthenticated(f"{HUBSPOT_TIMESTAMP_HEADER}: outside the tolerance")
    expected = hubspot_v3_signature(secret, request.method, request.uri, request.body, timestamp)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise Unauthenticated(f"{HUBSPOT_SIGNATURE_HEADER}: does not match")
    return _replay_key(signature)


def _replay_key(signature: str) -> str:
    return hashlib.sha256(signature.encode()).hexdigest()
