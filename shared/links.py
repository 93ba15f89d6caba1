"""Signed, expiring links to one pass's download page, for customers who have no API key.

A token is `<expiresAt>.<signature>`: the expiry in Unix seconds and the URL-safe base64
(unpadded) HMAC-SHA256 of `tenant|pass|expiresAt`. Tenant and pass come from the URL the token
travels in, so a token opens exactly one pass of one tenant until it expires.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import re
from urllib.parse import quote, urlencode

SECRET_ENV = "PASSWIRE_LINK_SECRET"
MIN_SECRET_BYTES = 32
# Local runs and tests only: anyone can forge links with it.
_DEV_SECRET = b"passwire-local-development-link-secret-never-deploy"
_TOKEN = re.compile(r"(0|[1-9][0-9]{0,11})\.([A-Za-z0-9_-]{43})")  # use with fullmatch


class LinkCheck(enum.Enum):
    VALID = "valid"
    EXPIRED = "expired"
    INVALID = "invalid"  # malformed, tampered with, or made for another pass or tenant


def link_secret(tenant_id: str, *, is_local: bool, configured: str) -> bytes | None:
    """The key signing `tenant_id`'s links from the configured secret (the setting
    PASSWIRE_LINK_SECRET); None when it is unset or too short (pages disabled).

    The one place the secret is chosen: process-wide for now, per tenant later."""
    del tenant_id  # every tenant shares the process-wide secret until tenants name their own
    secret = configured.encode("utf-8")
    if len(secret) >= MIN_SECRET_BYTES:
        return secret
    return _DEV_SECRET if is_local and not secret else None


def _signature(secret: bytes, tenant_id: str, pass_id: str, expires_at: int) -> str:
    message = f"{tenant_id}|{pass_id}|{expires_at}".encode()
    digest = hmac.new(secret, message, hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def sign_link(secret: bytes, tenant_id: str, pass_id: str, expires_at: int) -> str:
    """A token opening `pass_id` of `tenant_id` until `expires_at` (Unix seconds)."""
    if "|" in tenant_id or "|" in pass_id:
        raise ValueError("tenant and pass ids must not contain '|'")
    if not 0 <= expires_at < 10**12:
        raise ValueError("expires_at must be Unix seconds")
    return f"{expires_at}.{_signature(secret, tenant_id, pass_id, expires_at)}"


def verify_link(secret: bytes, tenant_id: str, pass_id: str, token: str, now: int) -> LinkCheck:
    """Whether `token` opens `pass_id` of `tenant_id` at `now` (Unix seconds). The signature
    is compared in constant time, and checked before the expiry is looked at."""
    match = _TOKEN.fullmatch(token)
    if match is None or "|" in tenant_id or "|" in pass_id:
        return LinkCheck.INVALID
    expires_at = int(match.group(1))
    expected = _signature(secret, tenant_id, pass_id, expires_at)
    # Encoded forms are compared: each signature has exactly one accepted spelling.
    if not hmac.compare_digest(match.group(2).encode("ascii"), expected.encode("ascii")):
        return LinkCheck.INVALID
    return LinkCheck.VALID if now < expires_at else LinkCheck.EXPIRED


def download_page_url(base_url: str, tenant_id: str, pass_id: str, token: str, medium: str) -> str:
    """The absolute URL of a pass's download page (api/pages/routes.py serves it) opened by
    `token`, with the `medium` the link is published in, for processes without Flask's
    url_for (workers)."""
    path = f"/api/{quote(tenant_id, safe='')}/passes/{quote(pass_id, safe='')}/view"
    return f"{base_url.rstrip('/')}{path}?{urlencode({'t': token, 'medium': medium})}"
