"""Webhook signatures, Stripe-like:

    Passwire-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<body>">

The timestamp is signed with the body, so a captured request cannot be replayed later than
the receiver's tolerance. Several `v1=` values may appear (e.g. while a secret is rotated);
one matching is enough.
"""

from __future__ import annotations

import hashlib
import hmac
import time

SIGNATURE_HEADER = "Passwire-Signature"
EVENT_ID_HEADER = "Passwire-Event-Id"
EVENT_TYPE_HEADER = "Passwire-Event-Type"
DELIVERY_ID_HEADER = "Passwire-Delivery-Id"
ATTEMPT_HEADER = "Passwire-Delivery-Attempt"
SCHEME = "v1"
DEFAULT_TOLERANCE_S = 300


class InvalidSignature(Exception):
    """The signature header is missing, malformed, too old or matches no secret."""


def _as_bytes(value: str | bytes) -> bytes:
    return value.encode("utf-8") if isinstance(value, str) else value


def compute(secret: str | bytes, timestamp: int, body: str | bytes) -> str:
    """Hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`."""
    message = f"{timestamp}.".encode() + _as_bytes(body)
    return hmac.new(_as_bytes(secret), message, hashlib.sha256).hexdigest()


def sign(secret: str | bytes, body: str | bytes, timestamp: int | None = None) -> str:
    """The value of the Passwire-Signature header for `body`, signed now (or at `timestamp`)."""
    t = int(time.time()) if timestamp is None else timestamp
    return f"t={t},{SCHEME}={compute(secret, t, body)}"


def verify(
    secret: str | bytes,
    header: str | None,
    body: str | bytes,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
    *,
    now: float | None = None,
) -> int:
    """Check a Passwire-Signature header against the raw body; returns its timestamp.

    Raises InvalidSignature. Verify the bytes as received, before parsing the JSON.
    """
    if not header:
        raise InvalidSignature("no signature header")
    timestamp: int | None = None
    candidates: list[str] = []
    for part in header.split(","):
        key, _, value = part.strip().partition("=")
        if key == "t" and value.isdigit():
            timestamp = int(value)
        elif key == SCHEME and value:
            candidates.append(value)
    if timestamp is None or not candidates:
        raise InvalidSignature("malformed signature header")
    current = time.time() if now is None else now
    if abs(current - timestamp) > tolerance_s:
        raise InvalidSignature("timestamp outside the tolerance")
    expected = compute(secret, timestamp, body)
    # Compare with every candidate, without stopping early.
    matched = False
    for candidate in candidates:
        matched |= hmac.compare_digest(expected, candidate)
    if not matched:
        raise InvalidSignature("no signature matches")
    return timestamp
