"""Whether a WebSocket handshake opens a pass's live channel (no I/O: the server asks, then
answers with the HTTP status decided here, before any upgrade).

The request is `GET /live/<tenantId>/<passId>?token=<token>`. Refused:
- 404: not that path, or an unknown tenant;
- 401: no token, or one that is malformed, forged, or made for another pass or tenant;
- 403: an expired token, or a browser page from an origin the tenant does not allow.

Allowed origins: the origin of PASSWIRE_PUBLIC_URL (where the download page is served) and
the tenant's own sites (`origins` of its `[[google_issuers]]`, the pages that show its Save to
Google Wallet button). A request without `Origin` comes from no browser page and is judged by
its token alone: Origin only stops another site's page from riding on a visitor's token.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

from shared.infra.ids import PASS_ID_PATTERN
from shared.live.channels import channel
from shared.live.tokens import TokenCheck, check
from shared.tenancy.tenants import TENANT_ID_PATTERN, Tenant

PATH_PREFIX = "/live/"
_PATH = re.compile(r"/live/([^/]+)/([^/]+)")  # use with fullmatch


@dataclass(frozen=True)
class Accepted:
    tenant_id: str
    pass_id: str
    channel: str


@dataclass(frozen=True)
class Refused:
    status: int
    reason: str


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def allowed_origins(public_base_url: str, tenant: Tenant) -> frozenset[str]:
    origins = {origin_of(public_base_url)}
    for issuer_id in tenant.google_issuers.issuer_ids():
        origins.update(o.lower() for o in tenant.google_issuers.ref(issuer_id).origins)
    return frozenset(origins)


def path_for(tenant_id: str, pass_id: str) -> str:
    return f"{PATH_PREFIX}{tenant_id}/{pass_id}"


def decide(
    target: str,
    origin: str | None,
    *,
    find_tenant: Callable[[str], Tenant | None],
    key_for: Callable[[str], bytes | None],
    public_base_url: str,
    now: int,
) -> Accepted | Refused:
    """Judge the request `target` (path and query) sent with header `origin` at `now`.
    `key_for(tenant_id)` is the channel key (None: links are not configured, 503)."""
    parts = urlsplit(target)
    match = _PATH.fullmatch(parts.path)
    if match is None:
        return Refused(404, "not a live channel path")
    tenant_id, pass_id = match.group(1), match.group(2)
    if not TENANT_ID_PATTERN.fullmatch(tenant_id) or not PASS_ID_PATTERN.fullmatch(pass_id):
        return Refused(404, "not a live channel path")
    tenant = find_tenant(tenant_id)
    if tenant is None:
        return Refused(404, "unknown tenant")
    key = key_for(tenant_id)
    if key is None:
        return Refused(503, "live channel tokens cannot be checked: no link secret")
    tokens = parse_qs(parts.query).get("token", [])
    if len(tokens) != 1:
        return Refused(401, "token missing")
    verdict = check(key, tenant_id, pass_id, tokens[0], now=now)
    if verdict is TokenCheck.INVALID:
        return Refused(401, "token invalid")
    if verdict is TokenCheck.EXPIRED:
        return Refused(403, "token expired")
    if origin is not None and origin.lower() not in allowed_origins(public_base_url, tenant):
        return Refused(403, "origin not allowed")
    return Accepted(tenant_id, pass_id, channel(tenant_id, pass_id))
