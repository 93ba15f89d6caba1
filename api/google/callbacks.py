"""Google Wallet's save/delete callbacks: `POST /google/<tenantId>/callbacks`.

Google posts a message signed with its ECv2SigningOnly keys to the callback URL of each class
(passwire sets it when it inserts the class). Nothing here trusts the caller: the signature,
made for one of the tenant's issuer ids, is the only credential. A verified message records
the pass's Google install state once (Google may repeat a callback; its nonce tells) and tells
the tenant's webhooks.

The callbacks also say whom passwire calls Google for (`googleHolder`): after `save`, every
change of the pass reaches Google; after `del`, none does until it is saved again. A `save`
for a pass whose object changed since Google got it (a campaign ran between the click and the
save) queues the pass's refresh, which sends the current object.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from flask import current_app, request
from flask.views import MethodView

from api import services
from api.bodies import Blueprint
from api.errors import ApiError, ErrorSchema
from api.links.installs import credit_install
from shared.google.callbacks import (
    REASON_MALFORMED,
    REASON_NOT_JSON,
    REASON_TOO_LARGE,
    CallbackMessage,
    CallbackRejected,
)
from shared.google.root_keys import RootKeyCache, RootKeysUnavailable, verify_with_root_key_cache
from shared.infra.clock import utcnow
from shared.jobs import EnqueueError
from shared.lifecycle import RESEND_KIND
from shared.lifecycle.refresh import REFRESH_TASK, queue_refresh
from shared.live.publish import live_publish
from shared.passes.google_versions import google_pending
from shared.repositories import google_callbacks
from shared.repositories import passes as passes_repo
from shared.tenancy.tenants import Tenant
from shared.webhooks.config import PASS_INSTALLED, PASS_UNINSTALLED
from shared.webhooks.events import emit, enqueue_deliveries

log = logging.getLogger(__name__)

blp = Blueprint(
    "google",
    __name__,
    url_prefix="/google/<tenantId>",
    description="Google Wallet's save/delete callbacks, signed by Google (no API key).",
)

_BAD_REQUEST = frozenset({REASON_NOT_JSON, REASON_MALFORMED, REASON_TOO_LARGE})
_CACHE_KEY = "passwire.google_root_keys"
_cache_lock = threading.Lock()


def _root_keys() -> RootKeyCache:
    with _cache_lock:
        cache: RootKeyCache | None = current_app.extensions.get(_CACHE_KEY)
        if cache is None:
            cache = RootKeyCache(services.settings().google_callback_keys_url)
            current_app.extensions[_CACHE_KEY] = cache
        return cache


def _tenant_with_google(tenant_id: str) -> Tenant:
    tenant = services.tenants().get(tenant_id)
    if tenant is None or not tenant.google_issuers.issuer_ids():
        raise ApiError(404, "Unknown tenant, or it has no Google Wallet issuer.")
    return tenant


def _verified(tenant: Tenant, body: bytes) -> tuple[str, CallbackMessage]:
    """The message and the issuer it was signed for; raises ApiError 400/401/503."""
    rejection: CallbackRejected | None = None
    now_ms = int(utcnow().timestamp() * 1000)
    for issuer_id in tenant.google_issuers.issuer_ids():
        try:
            message = verify_with_root_key_cache(
                body, cache=_root_keys(), recipient_id=issuer_id, now_ms=now_ms
            )
        except CallbackRejected as exc:
            rejection = exc
            continue
        except RootKeysUnavailable as exc:
            log.warning("Google callback for %s not verified: %s", tenant.id, exc)
            raise ApiError(503, "Google's signing keys are unavailable; retry later.") from exc
        if message.class_id.startswith(f"{issuer_id}.") and message.object_id.startswith(
            f"{issuer_id}."
        ):
            return issuer_id, message
        rejection = CallbackRejected("the class or object is not of the signing issuer")
    reason = rejection.reason if rejection else "not verified"
    status = 400 if reason in _BAD_REQUEST else 401
    raise ApiError(
        status,
        "The callback is not a valid signed message from Google.",
        errors=[{"field": "body", "reason": reason}],
    )


@blp.route("/callbacks")
class GoogleCallbacks(MethodView):
    @blp.doc(security=[])
    @blp.response(200, description="Recorded, or a repeat of a callback already recorded.")
    @blp.alt_response(400, schema=ErrorSchema, description="Not a callback message.")
    @blp.alt_response(
        401, schema=ErrorSchema, description="Unsigned, mis-signed or expired; nothing recorded."
    )
    @blp.alt_response(404, schema=ErrorSchema, description="Unknown tenant or no Google issuer.")
    @blp.alt_response(413, schema=ErrorSchema, description="The body is too large.")
    @blp.alt_response(
        503,
        schema=ErrorSchema,
        description="Google's signing keys or the database are unavailable; Google retries.",
    )
    def post(self, tenantId: str) -> Any:
        """Google tells that a user saved (`save`) or deleted (`del`) a pass of this tenant."""
        tenant = _tenant_with_google(tenantId)
        _, message = _verified(tenant, request.get_data(cache=False))
        db = services.database()
        pass_id = message.object_id.split(".", 1)[1]
        if not google_callbacks.claim_nonce(
            db,
            tenant_id=tenant.id,
            nonce=message.nonce,
            event_type=message.event_type,
            object_id=message.object_id,
            now=utcnow(),
        ):
            log.info("Google callback repeated tenant=%s nonce seen", tenant.id)
            return None
        saved = message.event_type == "save"
        try:
            changed = passes_repo.set_install_state(
                db, tenant.id, pass_id, "google", installed=saved, now=utcnow()
            )
            now_held = passes_repo.set_google_holder(db, tenant.id, pass_id, saved=saved)
        except Exception:
            google_callbacks.release_nonce(db, tenant_id=tenant.id, nonce=message.nonce)
            raise
        log.info("Google callback tenant=%s event=%s", tenant.id, message.event_type)
        if saved and now_held is not None and google_pending(now_held):
            _catch_up(tenant, pass_id)
        if saved and changed:  # a repeated save of an installed object is no new install
            credit_install(tenant.id, pass_id, "google")
        if changed:
            _announce(tenant, pass_id, PASS_INSTALLED if saved else PASS_UNINSTALLED)
        return None


def _catch_up(tenant: Tenant, pass_id: str) -> None:
    """The holder saved an object older than the pass: its refresh sends the current one.
    If the job queue is down the pass stays owed to a holder, which the resend sweep finds."""

    def enqueue(tenant_id: str, correlation_id: str, pass_id: str) -> None:
        services.jobs().enqueue(
            REFRESH_TASK, tenant_id=tenant_id, correlation_id=correlation_id, pass_id=pass_id
        )

    try:
        queue_refresh(
            services.database(), enqueue, tenant_id=tenant.id, pass_id=pass_id, kind=RESEND_KIND
        )
    except EnqueueError:
        log.warning("pass %s: Google's object stays owed to the resend sweep", pass_id)


def _announce(tenant: Tenant, pass_id: str, event: str) -> None:
    live_publish(services.settings(), tenant.id, pass_id, event, {"wallet": "google"})
    if not tenant.webhooks:
        return
    db = services.database()
    ids = emit(
        db, tenant.id, tenant.webhooks, event, {"passId": pass_id, "wallet": "google"}, now=utcnow()
    )
    try:
        enqueue_deliveries(services.jobs(), tenant.id, ids)
    except EnqueueError:
        log.warning("webhook deliveries stay in the outbox until re-queued")
