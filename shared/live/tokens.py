"""Short-lived tokens opening the live channel of one pass (pure functions).

A token is `<expiresAt>.<signature>`: the expiry in Unix seconds and the URL-safe base64
(unpadded) HMAC-SHA256 of `live|tenant|pass|expiresAt`. Tenant and pass travel in the
WebSocket URL's path beside it, so a token opens exactly one pass of one tenant, and only
until it expires. The key is derived from the download links' secret (shared/links.py) with
its own label: a download link's token never opens a channel, nor the reverse.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re

_KEY_LABEL = b"passwire live channel token v1"
_TOKEN = re.compile(r"(0|[1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})")  # use with fullmatch
_SEPARATOR = "|"


class TokenCheck(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"  # malformed, forged, or made for another pass or tenant


def channel_key(link_secret: bytes) -> bytes:
    """The key signing live tokens, from the key signing the tenant's download links."""
    return hmac.new(link_secret, _KEY_LABEL, hashlib.sha256).digest()


def _signature(key: bytes, tenant_id: str, pass_id: str, expires_at: int) -> str:
    message = f"live|{tenant_id}|{pass_id}|{expires_at}".encode()
    digest = hmac.new(key, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def issue(key: bytes, tenant_id: str, pass_id: str, *, expires_at: int) -> str:
    """A token opening the live channel of `pass_id` of `tenant_id` until `expires_at`."""
    if _SEPARATOR in tenant_id or _SEPARATOR in pass_id:
        raise ValueError("tenant and pass ids must not contain '|'")
    if not 0 <= expires_at < 10**12:
        raise ValueError("expires_at must be Unix seconds")
    return f"{expires_at}.{_signature(key, tenant_id, pass_id, expires_at)}"


def check(key: bytes, tenant_id: str, pass_id: str, token: str, *, now: int) -> TokenCheck:
    """Whether `token` opens the channel of `pass_id` of `tenant_id` at `now`. The signature
    is compared in constant time, before the expiry is looked at (an expired forgery is
    INVALID, not EXPIRED)."""
    match = _TOKEN.fullmatch(token)
    if match is None or _SEPARATOR in tenant_id or _SEPARATOR in pass_id:
        return TokenCheck.INVALID
    expires_at = int(match.group(1))
    expected = _signature(key, tenant_id, pass_id, expires_at)
    if not hmac.compare_digest(match.group(2).encode("ascii"), expected.encode("ascii")):
        return TokenCheck.INVALID
    return TokenCheck.VALID if now < expires_at else TokenCheck.EXPIRED
