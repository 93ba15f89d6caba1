"""Answering with a pass's Save to Google Wallet link (302), and picking a wallet for a device.

This is where a Google object is born: passwire calls Google for a pass only once someone
goes to save it. When Google lacks the pass's current object (never sent, or changed by a
campaign since nobody held it) it is inserted or PATCHed here, before the redirect, so nobody
saves a stale object; the link is then a skinny JWT naming it (a whole object in a JWT does
not update one Google already holds: docs/google.md#save-links).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from flask import Response

from api import services
from api.errors import ApiError
from shared.clients.google_wallet import GoogleApiError
from shared.google import delivery
from shared.google.issuers import GoogleCredentialError
from shared.google.save_link import SigningAccount, save_url, skinny_save_jwt
from shared.infra.clock import utcnow
from shared.infra.ratelimit import RateLimitTimeout
from shared.passes.google_versions import google_pending
from shared.repositories import passes as passes_repo
from shared.tenancy.tenants import Tenant

log = logging.getLogger(__name__)

NO_GOOGLE = {"field": "device", "reason": "the pass type has no Google Wallet template"}


def save_link_response(tenant: Tenant, document: Mapping[str, Any]) -> Response:
    google = document.get("google")
    if not google:
        raise ApiError(404, "This pass has no Google Wallet version.", errors=[NO_GOOGLE])
    try:
        issuer = tenant.google_issuers.get(google["issuerId"])
    except GoogleCredentialError as exc:
        log.error("tenant %s: Google service account unusable: %s", tenant.id, exc)
        raise ApiError(503, "Google Wallet is not available for this tenant right now.") from exc
    account = issuer.service_account
    if google_pending(document):
        send_object_now(tenant, document)
    token = skinny_save_jwt(
        SigningAccount(account.client_email, account.private_key_id, account.private_key_pem),
        kind=google["kind"],
        object_id=google["objectId"],
        class_id=google["classId"],
        origins=issuer.ref.origins,
        now=utcnow(),
    )
    return save_redirect(token)


def save_redirect(token: str) -> Response:
    """A 302 to Google's Save page for a signed Save JWT (a bearer link: never cached)."""
    response = Response(status=302)
    response.headers["Location"] = save_url(services.settings().google_save_url, token)
    response.headers["Cache-Control"] = "private, no-store"
    return response


def send_object_now(tenant: Tenant, document: Mapping[str, Any]) -> None:
    """Bring Google's object of the pass to its current content before a Save link names it
    (503 when Google or the credentials fail), and record that Google holds it."""
    google = document["google"]
    pass_type = tenant.pass_types.get(document["passType"])
    settings = services.settings()
    try:
        if pass_type is None or pass_type.google is None:
            raise delivery.GoogleDeliveryFailed("the pass type has no Google template")
        client = delivery.google_client(tenant, google["issuerId"], settings)
        callback_url = settings.google_callback_url(tenant.id)
        delivery.sync_object(client, pass_type.google, google, callback_url)
    except (GoogleApiError, delivery.GoogleDeliveryFailed, RateLimitTimeout) as exc:
        log.warning("pass %s: object not sent to Google for a Save link: %s", document["_id"], exc)
        raise ApiError(503, "Google Wallet did not accept the pass; try again shortly.") from exc
    passes_repo.mark_google_synced(
        services.database(), tenant.id, [(document["_id"], google["contentHash"])]
    )


def wallet_for_user_agent(user_agent: str, *, has_apple: bool, has_google: bool) -> str | None:
    """`apple` or `google` for a device, from its User-Agent; the other wallet when the pass
    has only that one; None when it has neither. Android → Google; anything else (iOS,
    macOS, desktops) → Apple when the pass has it, as Apple Wallet opens .pkpass files there."""
    android = "android" in user_agent.lower()
    preferred, other = ("google", "apple") if android else ("apple", "google")
    available = {"apple": has_apple, "google": has_google}
    if available[preferred]:
        return preferred
    return other if available[other] else None
