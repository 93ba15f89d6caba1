"""`PUT /api/<tenantId>/passes/<passId>/notification` and
`PUT /api/<tenantId>/passes/notification?id.<system>.<key>=value`: a campaign of one pass.

The pass is found here (404 none, 409 several, before anything is written); the message and
the patch then travel the push-update path (api/push_updates/launch.py), so one code path
delivers every message and counts it (`apple.notified`, `google.notified`,
`google.notificationSuppressed`).
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint as FlaskBlueprint
from flask import Response, request
from flask.views import MethodView

from api import services
from api.auth import current_tenant, protect, requires_scope
from api.bodies import Blueprint
from api.errors import JSON_BODY_ERRORS, TENANT_API_ERRORS, error_responses
from api.lookup import find_tenant_pass, one_pass_id
from api.notifications.consent import record_consent
from api.notifications.schemas import ConsentViewSchema, PassNotificationSchema
from api.passes.schemas import (
    ACCEPTED_HEADERS,
    LOOKUP_PARAMETER,
    AcceptedSchema,
    ConsentSchema,
    load_pass_lookup,
)
from api.push_updates.launch import operation_location, start_campaign
from shared.campaigns.segments import Segment
from shared.credentials.scopes import NOTIFICATION_SEND, PASS_READ, PASS_WRITE
from shared.notifications import consent
from shared.passes.search import PassFilter
from shared.repositories import consent_changes

blp = Blueprint(
    "pass_notifications",
    __name__,
    url_prefix="/api/<tenantId>/passes",
    description="A message to one pass's holder",
)
protect(blp)


@blp.route("/<passId>/notification")
class PassNotification(MethodView):
    @error_responses(
        *TENANT_API_ERRORS, *JSON_BODY_ERRORS, descriptions={404: "Unknown tenant or pass."}
    )
    @requires_scope(NOTIFICATION_SEND)
    @blp.arguments(PassNotificationSchema)
    @blp.response(202, AcceptedSchema, headers=ACCEPTED_HEADERS)
    def put(self, body: dict[str, Any], tenantId: str, passId: str) -> Any:
        """Send the pass's holder a message, optionally with a JSON Merge Patch of its data:
        a campaign whose segment is this one pass (operation kind `pushUpdate`).

        On iPhones the message is a lock-screen notification (the pass is re-rendered with
        it and its devices pushed) and stays readable on the back of the pass with the few
        before it. It is added to the pass's Google Wallet object, with a notification while
        the pass has some left (3 a day), silently beyond. The patch re-renders the pass like
        `POST /push-updates`. Each request sends the message again; a retry with the same
        `Idempotency-Key` gets the first answer instead."""
        return _send(find_tenant_pass(passId)["_id"], body)


@blp.route("/notification")
class PassNotificationByIdentifier(MethodView):
    # `/passes/notification` also matches `/passes/<passId>`: Flask's own OPTIONS answer
    # would list that route's methods too, so this path answers OPTIONS itself (below).
    provide_automatic_options = False

    @error_responses(
        *TENANT_API_ERRORS,
        *JSON_BODY_ERRORS,
        descriptions={
            404: "Unknown tenant, or no pass matches.",
            409: "Several passes match (or a request with this Idempotency-Key is still "
            "being processed).",
        },
    )
    @requires_scope(NOTIFICATION_SEND)
    @blp.arguments(PassNotificationSchema)
    @blp.doc(parameters=[LOOKUP_PARAMETER])
    @blp.response(202, AcceptedSchema, headers=ACCEPTED_HEADERS)
    def put(self, body: dict[str, Any], tenantId: str) -> Any:
        """Send a message to the one pass an external identifier names
        (`id.<system>.<key>=value`, or `id=<passId>`), as `PUT …/passes/{passId}/notification`
        does: 404 when none matches, 409 when several do; nothing is queued then."""
        pass_id = one_pass_id(load_pass_lookup(request.args))
        return _send(pass_id, body)


@blp.route("/<passId>/consent")
class PassConsent(MethodView):
    @error_responses(*TENANT_API_ERRORS, descriptions={404: "Unknown tenant or pass."})
    @requires_scope(PASS_READ)
    @blp.response(200, ConsentViewSchema)
    def get(self, tenantId: str, passId: str) -> Any:
        """The holder's consent and its audit trail (who changed it, when, via what)."""
        return _consent_view(find_tenant_pass(passId))

    @error_responses(
        *TENANT_API_ERRORS, *JSON_BODY_ERRORS, descriptions={404: "Unknown tenant or pass."}
    )
    @requires_scope(PASS_WRITE)
    @blp.arguments(ConsentSchema)
    @blp.response(200, ConsentViewSchema)
    def put(self, body: dict[str, Any], tenantId: str, passId: str) -> Any:
        """Record the holder's marketing consent (granted or refused, when, where): marketing
        messages alert only holders who granted it. Each change joins the audit trail."""
        document = find_tenant_pass(passId)
        stored = record_consent(document["_id"], body, via=consent.VIA_ENDPOINT)
        return _consent_view(
            {**document, consent.FIELD: {**(document.get(consent.FIELD) or {}), **stored}}
        )


def _consent_view(document: dict[str, Any]) -> dict[str, Any]:
    history = consent_changes.for_pass(services.database(), document["tenant"], document["_id"])
    return {
        "passId": document["_id"],
        "consent": document.get(consent.FIELD) or {},
        "history": history,
    }


def _send(pass_id: str, body: dict[str, Any]) -> Any:
    """The campaign of one pass: 202 with its correlationId and where to follow it."""
    tenant_id = current_tenant().id
    correlation_id = start_campaign(
        tenant_id,
        Segment(filters=PassFilter(), ids=(pass_id,)),
        patch=body["data"],
        message=body["message"],
        quiet_hours=body.get("quietHours", False),
    )
    accepted = {"correlationId": correlation_id, "passId": pass_id}
    return accepted, 202, operation_location(tenant_id, correlation_id)


def _options(**_: str) -> Response:
    response = Response(status=200)
    response.headers["Allow"] = "OPTIONS, PUT"
    return response


# Registered with Flask's own add_url_rule: an OPTIONS route is not part of the API's spec.
FlaskBlueprint.add_url_rule(
    blp, "/notification", "notification_options", _options, methods=["OPTIONS"]
)
