"""Minting a pass's links: the signed download page and the direct wallet links, each
carrying the medium and tags its clicks are recorded with."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from flask import url_for

from api import services
from api.pages.routes import link_signing_secret
from shared.attribution import TAG_SEPARATOR
from shared.infra.clock import utcnow
from shared.links import sign_link


def mint_links(tenant_id: str, pass_id: str, wanted: dict[str, Any]) -> dict[str, Any]:
    """`{url, apple, google, expiresAt}` for `pass_id` (or `id1,id2,…`): absolute URLs on the
    public base URL, opened by one token that expires after `expiresInDays`."""
    expires = (utcnow() + timedelta(days=wanted["expiresInDays"])).replace(microsecond=0)
    expires_s = int(expires.timestamp())
    token = sign_link(link_signing_secret(tenant_id), tenant_id, pass_id, expires_s)
    tags = wanted.get("tags") or []
    params: dict[str, Any] = {
        "tenantId": tenant_id,
        "passId": pass_id,
        "t": token,
        "medium": wanted.get("medium"),
        "tags": TAG_SEPARATOR.join(dict.fromkeys(tags)) or None,
    }
    base = services.settings().public_base_url
    return {
        "url": base + url_for("pages.view", **params),
        "apple": base + url_for("pages.download_apple", **params),
        "google": base + url_for("pages.download_google", **params),
        "expiresAt": datetime.fromtimestamp(expires_s, UTC),
    }
